// Package policyapi is the policy routes of RequestsFunction: operators publish policy versions
// and follow their notification runs (which NotifyFunction and NoticesFunction work on);
// anyone reads the version in effect and the next one.
package policyapi

import (
	"context"
	"net/http"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/notify"
	"github.com/example/gdpr/internal/policy"
	"github.com/example/gdpr/internal/table"
)

// Routes are the operations.
type Routes struct {
	Policies policy.Store
	Table    table.Table
	Clock    clock.Clock
}

// List returns the routes for an httpapi.API.
func (h Routes) List() []httpapi.Route {
	return []httpapi.Route{
		{Key: "POST /v1/policies", Access: httpapi.Admin, Handle: h.publish},
		{Key: "GET /v1/policies", Access: httpapi.Admin, Handle: h.list},
		{Key: "GET /v1/policies/{version}", Access: httpapi.Admin, Handle: h.get},
		{Key: "GET /v1/policies/{version}/notifications", Access: httpapi.Admin, Handle: h.notifications},
		{Key: "GET /v1/public/{tenant}/policy", Access: httpapi.Public, Handle: h.public},
	}
}

// publishBody is a version as the API takes it (openapi.yaml: PolicyInput).
type publishBody struct {
	Version string `json:"version"`
	URL     string `json:"url"`
	Summary string `json:"summary"`
	// EffectiveAt is parsed here, not by encoding/json, so a bad time is a field error.
	EffectiveAt string `json:"effective_at"`
	Material    bool   `json:"material"`
}

func (h Routes) publish(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	var b publishBody
	if err := r.Decode(&b); err != nil {
		return httpapi.Response{}, err
	}
	in := policy.Input{Version: b.Version, URL: b.URL, Summary: b.Summary, Material: b.Material}
	if b.EffectiveAt != "" {
		t, err := time.Parse(time.RFC3339, b.EffectiveAt)
		if err != nil {
			e := apperr.New(apperr.Unprocessable, policy.CodeInvalidPolicy, "The policy is not valid; nothing was published.")
			e.Fields = []apperr.FieldError{{Field: "effective_at", Message: "must be an RFC 3339 time"}}
			return httpapi.Response{}, e
		}
		in.EffectiveAt = t
	}
	p, err := notify.Publish(ctx, h.Policies, r.Tenant, in)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusCreated, p)
}

func (h Routes) list(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	limit, err := r.Limit()
	if err != nil {
		return httpapi.Response{}, err
	}
	const scope = "GET /v1/policies"
	cursor, err := r.Cursor(scope)
	if err != nil {
		return httpapi.Response{}, err
	}
	items, next, err := h.Policies.List(ctx, r.Tenant, limit, cursor)
	if err != nil {
		return httpapi.Response{}, err
	}
	return r.List(items, next, scope)
}

// pathVersion is the version path parameter, checked so that a malformed one answers 400
// rather than 404.
func pathVersion(r *httpapi.Request) (string, error) {
	v := r.Path("version")
	if !policy.ValidVersion.MatchString(v) {
		return "", apperr.Validation(apperr.FieldError{Field: "version", Message: "must be 1-64 letters, digits or . _ -"})
	}
	return v, nil
}

func (h Routes) get(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	v, err := pathVersion(r)
	if err != nil {
		return httpapi.Response{}, err
	}
	p, err := h.Policies.Get(ctx, r.Tenant, v)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, p)
}

func (h Routes) notifications(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	v, err := pathVersion(r)
	if err != nil {
		return httpapi.Response{}, err
	}
	st, err := notify.ReadStatus(ctx, h.Table, r.Tenant, v, h.Clock.Now())
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, st)
}

// publicPolicy is what anyone may read of a tenant's policies (openapi.yaml: PublicPolicy).
type publicPolicy struct {
	Current *policy.Policy `json:"current"`
	Next    *policy.Policy `json:"next,omitempty"`
}

func (h Routes) public(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	tl, err := h.Policies.Timeline(ctx, r.Tenant)
	if err != nil {
		return httpapi.Response{}, err
	}
	if !tl.Any() {
		return httpapi.Response{}, policy.ErrNonePublished
	}
	now := h.Clock.Now()
	var out publicPolicy
	if p, ok := tl.InEffect(now); ok {
		out.Current = &p
	}
	if p, ok := tl.Next(now); ok {
		out.Next = &p
	}
	return httpapi.JSON(http.StatusOK, out)
}
