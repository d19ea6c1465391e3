// Package tenantapi is the operator's view of the tenant's own settings over HTTP: GET and
// PATCH /v1/tenant. RequestsFunction serves these routes (requestsapi.New adds them), so the
// settings need no function, cold start or authorizer route of their own.
package tenantapi

import (
	"context"
	"net/http"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/tenant"
)

// Get is GET /v1/tenant on store. Both routes read and write the store itself, not a
// tenant.Cache: an operator reads back at once what they changed, while other functions and
// instances see the change within tenant.CacheTTL.
func Get(store tenant.Store) httpapi.Route {
	return httpapi.Route{Key: "GET /v1/tenant", Access: httpapi.Admin, Handle: settings{store}.get}
}

// Patch is PATCH /v1/tenant on store.
func Patch(store tenant.Store) httpapi.Route {
	return httpapi.Route{Key: "PATCH /v1/tenant", Access: httpapi.Admin, Handle: settings{store}.patch, MediaType: "application/merge-patch+json"}
}

type settings struct {
	store tenant.Store
}

func (h settings) get(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	t, err := h.store.Get(ctx, r.Tenant)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, t.Settings)
}

// patch takes an RFC 7396 merge patch (an empty body is no JSON: 400, from Settings.Patch,
// as for gdprctl). The HTTP layer has checked it is sent as application/merge-patch+json
// (the route's MediaType).
func (h settings) patch(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	s, err := h.store.PatchSettings(ctx, r.Tenant, audit.ActorOperator, r.Body())
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, s)
}
