// Package requestsapi is RequestsFunction: data subject requests (intake, verification,
// status, the operator's queue and actions), the audit trail, the tenant's settings (package
// tenantapi), the registry of marketplace sites (package systemsapi) and the policy versions
// (package policyapi), over HTTP.
package requestsapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/export"
	"github.com/example/gdpr/internal/handlers/policyapi"
	"github.com/example/gdpr/internal/handlers/systemsapi"
	"github.com/example/gdpr/internal/handlers/tenantapi"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/policy"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/sites"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/tenant"
)

// New builds the function's API.
func New(p *ports.Ports) (*httpapi.API, error) {
	store := tenant.Store{Table: p.Table, Clock: p.Clock}
	tenants := tenant.NewCache(store, p.Clock)
	// This function never calls a site: its sites service registers them and reads and
	// re-queues deliveries.
	st := sites.New(p.Table, p.Clock, p.Secrets, p.Local, p.Log)
	h := requests{svc: dsr.New(p.Table, tenants, p.Mail, p.Clock, p.Secrets), audit: audit.Log{Table: p.Table}, sites: st, p: p,
		exports: export.Records{Table: p.Table, Clock: p.Clock}}
	routes := []httpapi.Route{
		{Key: "POST /v1/public/{tenant}/requests", Access: httpapi.Public, Handle: h.submitPublic},
		{Key: "POST /v1/public/{tenant}/requests/{id}/verify", Access: httpapi.Public, Handle: h.verify},
		{Key: "GET /v1/public/{tenant}/requests/{id}", Access: httpapi.Public, Handle: h.status},
		{Key: "GET /v1/public/{tenant}/requests/{id}/export", Access: httpapi.Public, Handle: h.download},
		{Key: "POST /v1/requests", Access: httpapi.Site, Handle: h.submitSite},
		{Key: "GET /v1/requests", Access: httpapi.Admin, Handle: h.list},
		{Key: "GET /v1/requests/{id}", Access: httpapi.Admin, Handle: h.get},
		{Key: "POST /v1/requests/{id}/extend", Access: httpapi.Admin, Handle: h.extend},
		{Key: "POST /v1/requests/{id}/reject", Access: httpapi.Admin, Handle: h.reject},
		{Key: "POST /v1/requests/{id}/retry", Access: httpapi.Admin, Handle: h.retry},
		{Key: "POST /v1/requests/{id}/approve", Access: httpapi.Admin, Handle: h.approve},
		{Key: "GET /v1/audit", Access: httpapi.Admin, Handle: h.auditList},
		{Key: "GET /v1/audit/verify", Access: httpapi.Admin, Handle: h.auditVerify},
		tenantapi.Get(store),
		tenantapi.Patch(store),
	}
	policies := policyapi.Routes{
		Policies: policy.Store{Table: p.Table, Clock: p.Clock, Tenants: tenants, Audit: audit.Log{Table: p.Table}},
		Table:    p.Table,
		Clock:    p.Clock,
	}
	routes = append(routes, systemsapi.Routes(st)...)
	return httpapi.FromPorts(p, tenants, append(routes, policies.List()...)...), nil
}

type requests struct {
	svc     *dsr.Service
	audit   audit.Log
	sites   *sites.Service
	p       *ports.Ports
	exports export.Records
}

// receipt answers a submission. It is the same for every submission, whether or not a
// subject matched, so that it tells nothing about who is known.
type receipt struct {
	ID         string     `json:"id"`
	Type       dsr.Type   `json:"type"`
	Status     dsr.Status `json:"status"`
	ReceivedAt time.Time  `json:"received_at"`
	DueAt      time.Time  `json:"due_at"`
}

// Summary is a request as lists show it (the operator queue, gdprctl requests list).
type Summary struct {
	ID         string     `json:"id"`
	Type       dsr.Type   `json:"type"`
	Status     dsr.Status `json:"status"`
	SubjectID  string     `json:"subject_id,omitempty"`
	ReceivedAt time.Time  `json:"received_at"`
	DueAt      time.Time  `json:"due_at"`
	Extended   bool       `json:"extended"`
	// Overdue: the due date passed with the request unanswered (the retention job flags it).
	Overdue     bool       `json:"overdue"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
}

// record is the full request an operator reads: everything but the subject's address and the
// verification secrets' hashes.
type record struct {
	Summary
	VerifiedAt      *time.Time         `json:"verified_at,omitempty"`
	Note            string             `json:"note,omitempty"`
	Rectification   *dsr.ProfileFields `json:"rectification,omitempty"`
	Lift            bool               `json:"lift,omitempty"`
	ExtensionReason string             `json:"extension_reason,omitempty"`
	Rejection       *dsr.Rejection     `json:"rejection,omitempty"`
	Failure         string             `json:"failure,omitempty"`
	Attempts        int                `json:"attempts,omitempty"`
	Timeline        []dsr.Event        `json:"timeline"`
	// Deliveries are the marketplace sites told of the request (erasure, rectification,
	// restriction), each with its state: [] when none, absent from the answers of extend
	// and reject (which do not read them).
	Deliveries []sites.Delivery `json:"deliveries,omitzero"`
}

// publicStatus is what the subject reads with the request's access token.
type publicStatus struct {
	ID          string     `json:"id"`
	Type        dsr.Type   `json:"type"`
	Status      dsr.Status `json:"status"`
	ReceivedAt  time.Time  `json:"received_at"`
	DueAt       time.Time  `json:"due_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	// DownloadURL and DownloadExpiresAt are shown while a completed export lives.
	DownloadURL       string     `json:"download_url,omitempty"`
	DownloadExpiresAt *time.Time `json:"download_expires_at,omitempty"`
}

// SummaryOf is r as lists show it.
func SummaryOf(r dsr.Request) Summary {
	return Summary{ID: r.ID, Type: r.Type, Status: r.Status, SubjectID: r.SubjectID, ReceivedAt: r.ReceivedAt,
		DueAt: r.DueAt, Extended: r.Extended, Overdue: r.Overdue, CompletedAt: r.CompletedAt}
}

func recordOf(r dsr.Request) record {
	return record{Summary: SummaryOf(r), VerifiedAt: r.VerifiedAt, Note: r.Note, Rectification: r.Rectification,
		Lift: r.Lift, ExtensionReason: r.ExtensionReason, Rejection: r.Rejection, Failure: r.Failure, Attempts: r.Attempts, Timeline: r.Timeline}
}

func (h requests) submitPublic(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	return h.submit(ctx, r, dsr.Caller{Actor: audit.ActorSubject, Source: r.SourceIP()})
}

func (h requests) submitSite(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	return h.submit(ctx, r, dsr.Caller{Actor: actor(r)})
}

func (h requests) submit(ctx context.Context, r *httpapi.Request, c dsr.Caller) (httpapi.Response, error) {
	var in dsr.Input
	if err := r.Decode(&in); err != nil {
		return httpapi.Response{}, err
	}
	req, err := h.svc.Submit(ctx, r.Tenant, in, c)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusAccepted, receipt{ID: req.ID, Type: req.Type, Status: req.Status, ReceivedAt: req.ReceivedAt, DueAt: req.DueAt})
}

// verifyBody is the body of the verify route.
type verifyBody struct {
	Code string `json:"code"`
}

// maxCode bounds the code field: codes are 22 characters.
const maxCode = 32

func (h requests) verify(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	id := r.Path("id")
	if err := dsr.ValidateID(id); err != nil {
		return httpapi.Response{}, err
	}
	var b verifyBody
	if err := r.Decode(&b); err != nil {
		return httpapi.Response{}, err
	}
	if n := utf8.RuneCountInString(b.Code); n == 0 || n > maxCode {
		return httpapi.Response{}, apperr.Validation(apperr.FieldError{Field: "code", Message: "must be 1 to 32 characters"})
	}
	req, token, err := h.svc.Verify(ctx, r.Tenant, id, b.Code)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, map[string]string{"id": req.ID, "status": string(req.Status), "access_token": token})
}

// status checks the request's access token itself (the route has no key): a missing, wrong or
// stale token and an unknown request all answer 401 alike.
func (h requests) status(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	token, ok := r.Bearer()
	if !ok {
		return httpapi.Response{}, dsr.ErrUnauthorized
	}
	// An access or portability request stays readable for as long as its export lives.
	var live *export.Record
	alive := func(req dsr.Request) (bool, error) {
		if req.Type != dsr.Access && req.Type != dsr.Portability {
			return false, nil
		}
		rec, err := h.exports.Live(ctx, req.Tenant, req.ID)
		if errors.Is(err, export.ErrExpired) {
			return false, nil
		}
		live = &rec
		return err == nil, err
	}
	req, err := h.svc.StatusKept(ctx, r.Tenant, r.Path("id"), token, alive)
	if err != nil {
		return httpapi.Response{}, err
	}
	out := publicStatus{ID: req.ID, Type: req.Type, Status: req.Status, ReceivedAt: req.ReceivedAt, DueAt: req.DueAt, CompletedAt: req.CompletedAt}
	if req.Status == dsr.Completed && live == nil {
		if _, err := alive(req); err != nil {
			return httpapi.Response{}, err
		}
	}
	if req.Status == dsr.Completed && live != nil {
		links := export.Links{Secrets: h.p.Secrets, Base: h.publicURL(r)}
		out.DownloadURL, out.DownloadExpiresAt = links.URL(req.Tenant, req.ID, live.ExpiresAt), &live.ExpiresAt
	}
	return httpapi.JSON(http.StatusOK, out)
}

// downloadTTL is how long the objects port's URL that the download route redirects to
// works: long enough to start a download, short enough that a copied URL soon dies.
const downloadTTL = 5 * time.Minute

// download checks a download link (its signature, in constant time, then its expiry and
// that the export still exists) and redirects to a short-lived URL of the package.
func (h requests) download(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	id := r.Path("id")
	if dsr.ValidateID(id) != nil {
		return httpapi.Response{}, export.ErrInvalidSignature // no link names such an id
	}
	links := export.Links{Secrets: h.p.Secrets}
	if err := links.Check(r.Tenant, id, r.Query("expires"), r.Query("signature"), h.p.Clock.Now()); err != nil {
		return httpapi.Response{}, err
	}
	rec, err := h.exports.Live(ctx, r.Tenant, id)
	if err != nil {
		return httpapi.Response{}, err
	}
	u, err := h.p.Objects.URL(ctx, rec.ObjectKey, downloadTTL)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.Response{Status: http.StatusFound, Headers: map[string]string{
		"Location": u, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
	}}, nil
}

// publicURL is the base of links the status route shows: the configured public URL, or the
// address the API was called at (API Gateway's domain name; RequestsFunction cannot be given
// its own API's URL in template.yaml without a circular reference).
func (h requests) publicURL(r *httpapi.Request) string {
	if h.p.PublicURL != "" {
		return strings.TrimSuffix(h.p.PublicURL, "/")
	}
	scheme := r.Header("X-Forwarded-Proto")
	if scheme != "http" {
		scheme = "https"
	}
	return scheme + "://" + r.Event.RequestContext.DomainName
}

func (h requests) list(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	f := dsr.Filter{Status: dsr.Status(r.Query("status")), Type: dsr.Type(r.Query("type"))}
	if s := r.Query("due_before"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return httpapi.Response{}, apperr.Validation(apperr.FieldError{Field: "due_before", Message: "must be an RFC 3339 time"})
		}
		f.DueBefore = t
	}
	switch r.Query("overdue") {
	case "", "false":
	case "true":
		f.Overdue = true
	default:
		return httpapi.Response{}, apperr.Validation(apperr.FieldError{Field: "overdue", Message: "must be true or false"})
	}
	var err error
	if f.Limit, err = r.Limit(); err != nil {
		return httpapi.Response{}, err
	}
	// The filters are part of the scope: a cursor continues only the list it came from.
	scope := "requests?" + url.Values{"status": {string(f.Status)}, "type": {string(f.Type)}, "due_before": {r.Query("due_before")}, "overdue": {strconv.FormatBool(f.Overdue)}}.Encode()
	if f.Cursor, err = r.Cursor(scope); err != nil {
		return httpapi.Response{}, err
	}
	reqs, next, err := h.svc.List(ctx, r.Tenant, f)
	if err != nil {
		return httpapi.Response{}, err
	}
	items := make([]Summary, len(reqs))
	for i, req := range reqs {
		items[i] = SummaryOf(req)
	}
	return r.List(items, next, scope)
}

func (h requests) get(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	id := r.Path("id")
	if err := dsr.ValidateID(id); err != nil {
		return httpapi.Response{}, err
	}
	req, err := h.svc.Get(ctx, r.Tenant, id)
	if err != nil {
		return httpapi.Response{}, err
	}
	return h.answer(ctx, req)
}

// answer is the full record of req with its deliveries.
func (h requests) answer(ctx context.Context, req dsr.Request) (httpapi.Response, error) {
	rec := recordOf(req)
	var err error
	if rec.Deliveries, err = h.sites.Deliveries(ctx, req.Tenant, req.ID); err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, rec)
}

// extendBody is the body of the extend route.
type extendBody struct {
	Reason string `json:"reason"`
}

func (h requests) extend(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	id := r.Path("id")
	if err := dsr.ValidateID(id); err != nil {
		return httpapi.Response{}, err
	}
	var b extendBody
	if err := r.Decode(&b); err != nil {
		return httpapi.Response{}, err
	}
	req, err := h.svc.Extend(ctx, r.Tenant, id, b.Reason, actor(r))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, recordOf(req))
}

func (h requests) reject(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	id := r.Path("id")
	if err := dsr.ValidateID(id); err != nil {
		return httpapi.Response{}, err
	}
	var b dsr.Rejection
	if err := r.Decode(&b); err != nil {
		return httpapi.Response{}, err
	}
	req, err := h.svc.Reject(ctx, r.Tenant, id, b, actor(r))
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, recordOf(req))
}

func (h requests) auditList(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	var f audit.Filter
	var err error
	if id := r.Query("subject_id"); id != "" {
		if err := subject.ValidateID(id); err != nil {
			return httpapi.Response{}, err
		}
		f.Subject = subject.Pseudonym(h.p.Secrets, r.Tenant, id)
	}
	if f.RequestID = r.Query("request_id"); f.RequestID != "" {
		if err := dsr.ValidateID(f.RequestID); err != nil {
			return httpapi.Response{}, apperr.Validation(apperr.FieldError{Field: "request_id", Message: "must be a request id"})
		}
	}
	if f.Limit, err = r.Limit(); err != nil {
		return httpapi.Response{}, err
	}
	scope := "audit?" + url.Values{"subject": {f.Subject}, "request_id": {f.RequestID}}.Encode()
	if f.Cursor, err = r.Cursor(scope); err != nil {
		return httpapi.Response{}, err
	}
	entries, next, err := h.audit.List(ctx, r.Tenant, f)
	if err != nil {
		return httpapi.Response{}, err
	}
	return r.List(entries, next, scope)
}

func (h requests) auditVerify(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	v, err := h.audit.Verify(ctx, r.Tenant)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, v)
}

// actor is who a key's holder is in timelines and the audit trail.
func actor(r *httpapi.Request) string {
	if r.Role == httpapi.RoleAdmin {
		return audit.ActorOperator
	}
	return audit.ActorSite
}

// retry takes a failed request back to processing: its failed deliveries are re-queued
// first (the sites' step then finds them pending, and waits), then fulfilment starts again
// from the first step not done. A request that is not failed: 409 invalid_transition, and
// nothing is re-queued.
func (h requests) retry(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	id := r.Path("id")
	if err := dsr.ValidateID(id); err != nil {
		return httpapi.Response{}, err
	}
	cur, err := h.svc.Get(ctx, r.Tenant, id)
	if err != nil {
		return httpapi.Response{}, err
	}
	if cur.Status == dsr.Failed {
		if _, err := h.sites.Requeue(ctx, r.Tenant, id, actor(r)); err != nil {
			return httpapi.Response{}, err
		}
	}
	req, err := h.svc.Retry(ctx, r.Tenant, id, actor(r))
	if err != nil {
		return httpapi.Response{}, err
	}
	return h.answer(ctx, req)
}

// approve lets a request that awaits an operator's approval go on: it becomes verified, which
// starts its fulfilment. Any other status: 409 invalid_transition. No body.
func (h requests) approve(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	id := r.Path("id")
	if err := dsr.ValidateID(id); err != nil {
		return httpapi.Response{}, err
	}
	req, err := h.svc.Approve(ctx, r.Tenant, id, actor(r))
	if err != nil {
		return httpapi.Response{}, err
	}
	return h.answer(ctx, req)
}
