// Package authorizer is the HTTP API's Lambda authorizer: it turns the Bearer key of a call
// into the caller's tenant and role, which API Gateway (and gdprd) hand to every handler.
package authorizer

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/tenant"
)

// Resolver finds the tenant and role of a key; tenant.Store is one.
type Resolver interface {
	Resolve(ctx context.Context, key string) (tenantID, role string, err error)
}

// Handler answers authorizer calls.
type Handler struct {
	Keys Resolver
	Log  *slog.Logger
}

// Handle always authorizes: a missing or unknown key yields an empty role, and the handlers
// answer 401 as problem+json. Denying here would make API Gateway answer with its own body,
// which is not the contract's.
func (h Handler) Handle(ctx context.Context, ev events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
	allow := events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: map[string]any{"tenant": "", "role": ""}}
	key, ok := bearer(header(ev.Headers, "authorization"))
	if !ok {
		return allow, nil
	}
	t, role, err := h.Keys.Resolve(ctx, key)
	switch {
	case errors.Is(err, tenant.ErrUnknownKey):
		return allow, nil
	case err != nil:
		// Failing the call makes API Gateway answer 500; an unknown key must not pass.
		h.Log.Error("key lookup failed", "request_id", ev.RequestContext.RequestID, "error", err.Error())
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{}, err
	}
	allow.Context["tenant"], allow.Context["role"] = t, role
	return allow, nil
}

func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(v string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// New builds AuthorizerFunction on a function's ports.
func New(p *ports.Ports) Handler {
	return Handler{Keys: tenant.Store{Table: p.Table, Clock: p.Clock}, Log: p.Log}
}
