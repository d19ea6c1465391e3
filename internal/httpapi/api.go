// Package httpapi is the HTTP layer every API function shares: it takes the API Gateway
// HTTP API event, checks the caller, decodes strictly, replays idempotent POSTs, and answers
// JSON or problem+json (RFC 9457). gdprd feeds it the same events, so both homes behave alike.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/idempotency"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// MaxBody is the largest request body accepted, in bytes.
const MaxBody = 64 << 10

// Role is what a caller's key lets it do.
type Role string

const (
	RoleNone  Role = ""
	RoleSite  Role = tenant.RoleSite
	RoleAdmin Role = tenant.RoleAdmin
)

// Access is who may call a route.
type Access int

const (
	// Public routes take no key. Those under /v1/public/{tenant} name their tenant in the
	// path, which must exist; the web pages' routes (/privacy/{tenant}) read nothing stored and
	// leave the tenant to the API their page calls.
	Public Access = iota
	// Site routes take a site or an admin key.
	Site
	// Admin routes take an admin key.
	Admin
)

// publicTenant starts the routes of a tenant's public API, whose tenant must exist.
const publicTenant = "/v1/public/{tenant}"

// Route is one operation: its API Gateway route key ("POST /v1/consents/{subject_id}"),
// who may call it and what handles it.
type Route struct {
	Key    string
	Access Access
	Handle func(ctx context.Context, r *Request) (Response, error)
	// MediaType is the Content-Type a body must have; application/json when empty.
	MediaType string
}

// Response is a successful answer: Body is marshalled as JSON, unless it is a Raw.
type Response struct {
	Status  int
	Body    any
	Headers map[string]string
}

// Raw is a body sent as it is, with its media type (a web page, a script), not as JSON.
type Raw struct {
	Type string
	Data string
}

// JSON answers status with body.
func JSON(status int, body any) (Response, error) {
	return Response{Status: status, Body: body}, nil
}

// Tenants tells whether a tenant exists, so that a public route naming an unknown tenant is
// refused before it does anything.
type Tenants interface {
	Exists(ctx context.Context, tenant string) (bool, error)
}

// Config holds what the layer needs. An API whose routes are all public and name no tenant,
// take no POST and list nothing (MetaFunction's) needs only the clock and the log.
type Config struct {
	// Table keeps the answers of POSTs with an Idempotency-Key.
	Table table.Table
	// Keys resolves the API keys of the routes that take one.
	Keys KeyResolver
	// Tenants tells the public routes under /v1/public/{tenant} whether their tenant exists.
	Tenants Tenants
	// Secrets seals cursors and stored answers.
	Secrets secrets.Master
	Clock   clock.Clock
	Log     *slog.Logger
}

// API dispatches API Gateway events to routes.
type API struct {
	cfg    Config
	routes map[string]Route
	idem   *idempotency.Store
	cursor cursorSealer
	keys   *keyCache
}

// New builds an API serving routes. A route whose needs cfg lacks (a key resolver, a tenant
// reader, a table for Idempotency-Key) is a programming error: New panics, naming it.
func New(cfg Config, routes ...Route) *API {
	a := &API{
		cfg:    cfg,
		routes: make(map[string]Route, len(routes)),
		idem:   idempotency.New(cfg.Table, cfg.Clock, cfg.Secrets),
	}
	if cfg.Secrets.Ready() {
		a.cursor = newCursorSealer(cfg.Secrets.Key(secrets.ForCursor))
	}
	if cfg.Keys != nil {
		a.keys = newKeyCache(cfg.Keys, cfg.Clock)
	}
	for _, r := range routes {
		if _, dup := a.routes[r.Key]; dup {
			panic("httpapi: route registered twice: " + r.Key)
		}
		switch {
		case r.Access != Public && cfg.Keys == nil:
			panic("httpapi: route " + r.Key + " takes an API key, and the API has no key resolver")
		case strings.Contains(r.Key, publicTenant) && cfg.Tenants == nil:
			panic("httpapi: route " + r.Key + " names a tenant, and the API has no tenant reader")
		case strings.HasPrefix(r.Key, http.MethodPost+" ") && (cfg.Table == nil || !cfg.Secrets.Ready()):
			panic("httpapi: route " + r.Key + " takes an Idempotency-Key, and the API has no table or no secret")
		}
		a.routes[r.Key] = r
	}
	return a
}

// RouteKeys lists the route keys served, for the checks that compare them with template.yaml.
func (a *API) RouteKeys() []string {
	keys := make([]string, 0, len(a.routes))
	for k := range a.routes {
		keys = append(keys, k)
	}
	return keys
}

// Access tells who may call the route routeKey, for the check against openapi.yaml's
// security; false when the API does not serve it.
func (a *API) Access(routeKey string) (Access, bool) {
	r, ok := a.routes[routeKey]
	return r.Access, ok
}

// Handle is the Lambda handler. It never returns an error: every failure is an HTTP answer.
func (a *API) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := time.Now()
	reqID := ev.RequestContext.RequestID
	if reqID == "" {
		reqID = secrets.NewID("req-", 12)
	}
	r := &Request{Event: &ev, RequestID: reqID, api: a}
	resp := a.serve(ctx, r)
	if resp.Headers == nil {
		resp.Headers = map[string]string{}
	}
	resp.Headers["X-Request-Id"] = reqID
	// Ids and codes only: bodies, paths with subject ids and addresses stay out of logs.
	a.cfg.Log.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("request_id", reqID),
		slog.String("route", ev.RouteKey),
		slog.String("tenant", r.Tenant),
		slog.Int("status", resp.StatusCode),
		slog.Int64("duration_us", time.Since(start).Microseconds()),
	)
	return resp, nil
}

func (a *API) serve(ctx context.Context, r *Request) events.APIGatewayV2HTTPResponse {
	route, ok := a.routes[r.Event.RouteKey]
	if !ok {
		return a.problem(r, apperr.New(apperr.NotFound, apperr.CodeNotFound, "No such route."))
	}
	if err := a.authorize(ctx, r, route); err != nil {
		return a.problem(r, err)
	}
	body, err := r.body()
	if err != nil {
		return a.problem(r, err)
	}
	r.raw = body
	if err := checkMediaType(r, route); err != nil {
		return a.problem(r, err)
	}

	if r.Event.RequestContext.HTTP.Method == http.MethodPost && r.Header("Idempotency-Key") != "" {
		return a.idempotent(ctx, r, route)
	}
	return a.run(ctx, r, route)
}

// run calls the route's handler and renders what it returns.
func (a *API) run(ctx context.Context, r *Request, route Route) events.APIGatewayV2HTTPResponse {
	resp, err := route.Handle(ctx, r)
	if err != nil {
		return a.problem(r, err)
	}
	return render(resp)
}

func (a *API) authorize(ctx context.Context, r *Request, route Route) error {
	if route.Access == Public {
		t := r.Path("tenant")
		if t == "" || !strings.Contains(route.Key, publicTenant) {
			return nil
		}
		exists, err := a.cfg.Tenants.Exists(ctx, t)
		if err != nil {
			return err
		}
		if !exists {
			return apperr.New(apperr.NotFound, "tenant_not_found", "No such tenant.")
		}
		r.Tenant = t
		return nil
	}
	// The function checks the key itself, so an API call is one invocation: no Lambda
	// authorizer runs before it (DESIGN.md, Keys and secrets).
	unauthenticated := apperr.New(apperr.Unauthenticated, apperr.CodeUnauthenticated, "A valid API key is required.")
	key, ok := r.Bearer()
	if !ok {
		return unauthenticated
	}
	tenantID, role, err := a.keys.resolve(ctx, key)
	switch {
	case errors.Is(err, tenant.ErrUnknownKey):
		return unauthenticated
	case err != nil:
		return fmt.Errorf("httpapi: key lookup: %w", err)
	case Role(role) != RoleSite && Role(role) != RoleAdmin:
		return unauthenticated
	}
	if route.Access == Admin && Role(role) != RoleAdmin {
		return apperr.New(apperr.Forbidden, apperr.CodeForbidden, "This route needs an admin key.")
	}
	r.Tenant, r.Role = tenantID, Role(role)
	return nil
}

func render(resp Response) events.APIGatewayV2HTTPResponse {
	out := events.APIGatewayV2HTTPResponse{StatusCode: resp.Status, Headers: map[string]string{}}
	for k, v := range resp.Headers {
		out.Headers[k] = v
	}
	if raw, ok := resp.Body.(Raw); ok {
		out.Body = raw.Data
		out.Headers["Content-Type"] = raw.Type
		return out
	}
	if resp.Body != nil {
		b, err := json.Marshal(resp.Body)
		if err != nil {
			return problemResponse("", apperr.New(apperr.Internal, apperr.CodeInternal, "The response could not be encoded."))
		}
		out.Body = string(b)
		out.Headers["Content-Type"] = "application/json"
	}
	return out
}

// status maps each kind of application error to its HTTP status: the one place that does.
var status = map[apperr.Kind]int{
	apperr.Internal:         http.StatusInternalServerError,
	apperr.Invalid:          http.StatusBadRequest,
	apperr.Unauthenticated:  http.StatusUnauthorized,
	apperr.Forbidden:        http.StatusForbidden,
	apperr.NotFound:         http.StatusNotFound,
	apperr.Conflict:         http.StatusConflict,
	apperr.Gone:             http.StatusGone,
	apperr.TooLarge:         http.StatusRequestEntityTooLarge,
	apperr.Unprocessable:    http.StatusUnprocessableEntity,
	apperr.Locked:           http.StatusLocked,
	apperr.RateLimited:      http.StatusTooManyRequests,
	apperr.UnsupportedMedia: http.StatusUnsupportedMediaType,
}

// Status is the HTTP status of err.
func Status(err error) int { return status[apperr.KindOf(err)] }

type problemBody struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail"`
	Code   string              `json:"code"`
	Errors []apperr.FieldError `json:"errors,omitempty"`
}

// problem renders err as problem+json. Errors that are not application errors are logged
// (their text names ids, never personal data) and reach the client only as "internal".
func (a *API) problem(r *Request, err error) events.APIGatewayV2HTTPResponse {
	e, ok := apperr.From(err)
	if !ok || e.Kind == apperr.Internal {
		a.cfg.Log.Error("internal error", slog.String("request_id", r.RequestID), slog.String("route", r.Event.RouteKey), slog.String("error", err.Error()))
		e = apperr.New(apperr.Internal, apperr.CodeInternal, "Something went wrong on our side; the request id identifies it.")
	}
	return problemResponse(r.RequestID, e)
}

// Problem is the problem+json answer of e, for a caller that refuses a request before any
// route sees it (gdprd's /_local/* guard), so that it reads like every other error.
func Problem(reqID string, e *apperr.Error) events.APIGatewayV2HTTPResponse {
	resp := problemResponse(reqID, e)
	resp.Headers["X-Request-Id"] = reqID
	return resp
}

func problemResponse(reqID string, e *apperr.Error) events.APIGatewayV2HTTPResponse {
	st := status[e.Kind]
	b, _ := json.Marshal(problemBody{
		Type:   "https://gdpr.example/problems/" + strings.ReplaceAll(e.Code, "_", "-"),
		Title:  http.StatusText(st),
		Status: st,
		Detail: e.Message,
		Code:   e.Code,
		Errors: e.Fields,
	})
	h := map[string]string{"Content-Type": "application/problem+json"}
	if e.RetryAfter > 0 {
		h["Retry-After"] = strconv.Itoa(int((e.RetryAfter + time.Second - 1) / time.Second))
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: st, Headers: h, Body: string(b)}
}
