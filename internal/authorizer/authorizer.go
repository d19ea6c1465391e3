// Package authorizer is the HTTP API's Lambda authorizer: it turns the Bearer key of a call
// into the caller's tenant and role, which API Gateway (and gdprd) hand to every handler.
package authorizer

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/httpapi"
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
	// Cache, when set, remembers resolved keys for a short time.
	Cache *Cache
}

// Handle always authorizes: a missing or unknown key yields an empty role, and the handlers
// answer 401 as problem+json. Denying here would make API Gateway answer with its own body,
// which is not the contract's.
func (h Handler) Handle(ctx context.Context, ev events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
	allow := events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: map[string]any{"tenant": "", "role": ""}}
	key, ok := httpapi.BearerToken(header(ev.Headers, "authorization"))
	if !ok {
		return allow, nil
	}
	if t, role, ok := h.Cache.get(key); ok {
		allow.Context["tenant"], allow.Context["role"] = t, role
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
	h.Cache.put(key, t, role)
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

// New builds AuthorizerFunction on a function's ports.
func New(p *ports.Ports) Handler {
	return Handler{Keys: tenant.Store{Table: p.Table, Clock: p.Clock}, Log: p.Log, Cache: NewCache(CacheTTL, time.Now)}
}

// CacheTTL is how long a resolved key is remembered: the longest a rotated key keeps working
// on an instance that resolved it just before the rotation.
const CacheTTL = 30 * time.Second

// maxCached bounds the cache; when full it is emptied, which costs only reads.
const maxCached = 10_000

// Cache remembers keys resolved to a tenant, as API Gateway's authorizer cache would —
// template.yaml leaves that off so that unknown keys reach the handlers' problem+json.
// Without it every call would read the table once more. Only keys that resolved are kept, so
// random keys cannot fill it; keys are held as their SHA-256, never in clear.
type Cache struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[[32]byte]cached
}

type cached struct {
	tenant, role string
	until        time.Time
}

// NewCache returns a cache keeping entries for ttl, reading time from now.
func NewCache(ttl time.Duration, now func() time.Time) *Cache {
	return &Cache{ttl: ttl, now: now, m: map[[32]byte]cached{}}
}

func (c *Cache) get(key string) (tenantID, role string, ok bool) {
	if c == nil {
		return "", "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[sha256.Sum256([]byte(key))]
	if !ok || !c.now().Before(e.until) {
		return "", "", false
	}
	return e.tenant, e.role, true
}

func (c *Cache) put(key, tenantID, role string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCached {
		clear(c.m)
	}
	c.m[sha256.Sum256([]byte(key))] = cached{tenant: tenantID, role: role, until: c.now().Add(c.ttl)}
}
