// Package systemsapi is the operator's registry of marketplace sites over HTTP: POST, GET
// /v1/systems, DELETE /v1/systems/{id}, POST /v1/systems/{id}/rotate-secret. RequestsFunction
// serves these routes (requestsapi.New adds them): registering makes no call to a site.
package systemsapi

import (
	"context"
	"net/http"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/sites"
)

// Routes are the registry's routes on svc.
func Routes(svc *sites.Service) []httpapi.Route {
	h := systems{svc}
	return []httpapi.Route{
		{Key: "POST /v1/systems", Access: httpapi.Admin, Handle: h.register},
		{Key: "GET /v1/systems", Access: httpapi.Admin, Handle: h.list},
		{Key: "DELETE /v1/systems/{id}", Access: httpapi.Admin, Handle: h.remove},
		{Key: "POST /v1/systems/{id}/rotate-secret", Access: httpapi.Admin, Handle: h.rotate},
	}
}

type systems struct{ svc *sites.Service }

// withSecret is a system as registration and rotation answer it: the only answers that
// ever show its secret.
type withSecret struct {
	sites.System
	Secret string `json:"secret"`
}

func (h systems) register(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	var in sites.Registration
	if err := r.Decode(&in); err != nil {
		return httpapi.Response{}, err
	}
	sys, secret, err := h.svc.Register(ctx, r.Tenant, in, audit.ActorOperator)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusCreated, withSecret{sys, secret})
}

// list answers every system on one page: a tenant has at most sites.MaxSystems.
func (h systems) list(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	all, err := h.svc.Systems(ctx, r.Tenant)
	if err != nil {
		return httpapi.Response{}, err
	}
	return r.List(all, "", "systems")
}

func (h systems) remove(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	if err := h.svc.Remove(ctx, r.Tenant, r.Path("id"), audit.ActorOperator); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Status: http.StatusNoContent}, nil
}

func (h systems) rotate(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	sys, secret, err := h.svc.RotateSecret(ctx, r.Tenant, r.Path("id"), audit.ActorOperator)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, withSecret{sys, secret})
}
