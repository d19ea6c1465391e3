// Package consentapi is ConsentFunction: the consent ledger and state (the login gate), and
// the subject data the site sends in under that consent, over HTTP.
package consentapi

import (
	"context"
	"net/http"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/policy"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/tenant"
)

// New builds the function's API.
func New(p *ports.Ports) (*httpapi.API, error) {
	tenants := tenant.NewCache(tenant.Store{Table: p.Table, Clock: p.Clock}, p.Clock)
	policies := policy.Store{Table: p.Table, Clock: p.Clock, Tenants: tenants, Audit: audit.Log{Table: p.Table}}
	h := consentRoutes{svc: consent.New(consent.Config{
		Table:    p.Table,
		Clock:    p.Clock,
		Secrets:  p.Secrets,
		Tenants:  tenants,
		Policies: policy.NewCache(policies, p.Clock),
	})}
	return httpapi.FromPorts(p, tenants,
		httpapi.Route{Key: "POST /v1/consents", Access: httpapi.Site, Handle: h.record},
		httpapi.Route{Key: "GET /v1/consents/{subject_id}", Access: httpapi.Site, Handle: h.get},
		httpapi.Route{Key: "GET /v1/consents/{subject_id}/history", Access: httpapi.Site, Handle: h.history},
		httpapi.Route{Key: "POST /v1/consents/{subject_id}/withdraw", Access: httpapi.Site, Handle: h.withdraw},
		httpapi.Route{Key: "PUT /v1/subjects/{subject_id}/profile", Access: httpapi.Site, Handle: h.putProfile},
		httpapi.Route{Key: "GET /v1/subjects/{subject_id}/profile", Access: httpapi.Site, Handle: h.getProfile},
		httpapi.Route{Key: "POST /v1/subjects/{subject_id}/devices", Access: httpapi.Site, Handle: h.recordDevice},
	), nil
}

type consentRoutes struct{ svc *consent.Service }

// Bodies as the API takes them (openapi.yaml: ConsentDecision, ConsentWithdrawal,
// ProfileInput, DeviceObservation). httpapi decodes them strictly: unknown fields are refused.
type (
	decisionBody struct {
		SubjectID     string            `json:"subject_id"`
		Email         string            `json:"email"`
		PolicyVersion string            `json:"policy_version"`
		Purposes      map[string]bool   `json:"purposes"`
		Method        string            `json:"method"`
		Evidence      *consent.Evidence `json:"evidence"`
	}
	withdrawalBody struct {
		Purposes []string `json:"purposes"`
	}
	profileBody struct {
		FirstName         string `json:"first_name"`
		LastName          string `json:"last_name"`
		Username          string `json:"username"`
		Email             string `json:"email"`
		Phone             string `json:"phone"`
		Company           string `json:"company"`
		SecurityQuestions []struct {
			Question string `json:"question"`
			Answer   string `json:"answer"`
		} `json:"security_questions"`
	}
	deviceBody struct {
		IP          string `json:"ip"`
		Location    string `json:"location"`
		Browser     string `json:"browser"`
		DeviceType  string `json:"device_type"`
		Language    string `json:"language"`
		UserAgent   string `json:"user_agent"`
		Fingerprint string `json:"fingerprint"`
		// SeenAt is parsed here, not by encoding/json, so a bad time is a field error.
		SeenAt string `json:"seen_at"`
	}
)

// Answers (openapi.yaml: ConsentReceipt, ConsentHistoryEntry, Profile).
type (
	receiptOut struct {
		ReceiptID     string          `json:"receipt_id"`
		SubjectID     string          `json:"subject_id"`
		PolicyVersion string          `json:"policy_version"`
		Purposes      map[string]bool `json:"purposes"`
		RecordedAt    time.Time       `json:"recorded_at"`
		GPC           bool            `json:"gpc"`
		State         consent.View    `json:"state"`
	}
	historyOut struct {
		ReceiptID     string          `json:"receipt_id"`
		RecordedAt    time.Time       `json:"recorded_at"`
		PolicyVersion string          `json:"policy_version"`
		Purposes      map[string]bool `json:"purposes"`
		Method        consent.Method  `json:"method"`
		GPC           bool            `json:"gpc"`
		Hash          string          `json:"hash"`
		PrevHash      string          `json:"prev_hash"`
	}
	questionOut struct {
		Question string `json:"question"`
	}
	// profileOut is the stored profile with its security questions shadowed by their
	// questions alone: the answers' hashes never leave the service.
	profileOut struct {
		subject.Profile
		SecurityQuestions []questionOut `json:"security_questions,omitempty"`
	}
)

// gpc reads Global Privacy Control: "Sec-GPC: 1" is the only value the signal defines.
func gpc(r *httpapi.Request) bool { return r.Header("Sec-GPC") == "1" }

// pathSubject is the subject_id path parameter, checked so that a malformed id answers 400
// rather than 404.
func pathSubject(r *httpapi.Request) (string, error) {
	id := r.Path("subject_id")
	return id, subject.ValidateID(id)
}

func (h consentRoutes) record(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	var b decisionBody
	if err := r.Decode(&b); err != nil {
		return httpapi.Response{}, err
	}
	d := consent.Decision{
		SubjectID:     b.SubjectID,
		Email:         b.Email,
		PolicyVersion: b.PolicyVersion,
		Purposes:      b.Purposes,
		Method:        consent.Method(b.Method),
		GPC:           gpc(r),
	}
	if b.Evidence != nil {
		d.Evidence = *b.Evidence
	}
	rc, err := h.svc.Record(ctx, r.Tenant, d)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusCreated, receiptOut{
		ReceiptID:     rc.Entry.ReceiptID,
		SubjectID:     rc.State.SubjectID,
		PolicyVersion: rc.Entry.PolicyVersion,
		Purposes:      rc.Entry.Purposes,
		RecordedAt:    rc.Entry.RecordedAt,
		GPC:           rc.Entry.GPC,
		State:         rc.State,
	})
}

func (h consentRoutes) get(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	id, err := pathSubject(r)
	if err != nil {
		return httpapi.Response{}, err
	}
	v, err := h.svc.Get(ctx, r.Tenant, id)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, v)
}

func (h consentRoutes) history(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	id, err := pathSubject(r)
	if err != nil {
		return httpapi.Response{}, err
	}
	limit, err := r.Limit()
	if err != nil {
		return httpapi.Response{}, err
	}
	// The scope binds a cursor to this subject's ledger.
	scope := "consent-history\x00" + id
	cursor, err := r.Cursor(scope)
	if err != nil {
		return httpapi.Response{}, err
	}
	entries, next, err := h.svc.History(ctx, r.Tenant, id, limit, cursor)
	if err != nil {
		return httpapi.Response{}, err
	}
	items := make([]historyOut, len(entries))
	for i, e := range entries {
		items[i] = historyOut{
			ReceiptID:     e.ReceiptID,
			RecordedAt:    e.RecordedAt,
			PolicyVersion: e.PolicyVersion,
			Purposes:      e.Purposes,
			Method:        e.Method,
			GPC:           e.GPC,
			Hash:          e.Hash,
			PrevHash:      e.PrevHash,
		}
	}
	return r.List(items, next, scope)
}

func (h consentRoutes) withdraw(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	id, err := pathSubject(r)
	if err != nil {
		return httpapi.Response{}, err
	}
	var b withdrawalBody
	if err := r.DecodeOptional(&b); err != nil {
		return httpapi.Response{}, err
	}
	v, err := h.svc.Withdraw(ctx, r.Tenant, consent.Withdrawal{SubjectID: id, Purposes: b.Purposes, GPC: gpc(r)})
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, v)
}

func (h consentRoutes) putProfile(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	id, err := pathSubject(r)
	if err != nil {
		return httpapi.Response{}, err
	}
	var b profileBody
	if err := r.Decode(&b); err != nil {
		return httpapi.Response{}, err
	}
	in := consent.ProfileInput{
		FirstName: b.FirstName,
		LastName:  b.LastName,
		Username:  b.Username,
		Email:     b.Email,
		Phone:     b.Phone,
		Company:   b.Company,
	}
	for _, q := range b.SecurityQuestions {
		in.SecurityQuestions = append(in.SecurityQuestions, consent.SecurityAnswer{Question: q.Question, Answer: q.Answer})
	}
	p, err := h.svc.PutProfile(ctx, r.Tenant, id, in)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, profileView(p))
}

func (h consentRoutes) getProfile(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	id, err := pathSubject(r)
	if err != nil {
		return httpapi.Response{}, err
	}
	p, err := h.svc.GetProfile(ctx, r.Tenant, id)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, profileView(p))
}

// profileView is the profile as answered: questions without their answers' hashes.
func profileView(p subject.Profile) profileOut {
	out := profileOut{Profile: p}
	for _, q := range p.SecurityQuestions {
		out.SecurityQuestions = append(out.SecurityQuestions, questionOut{Question: q.Question})
	}
	return out
}

func (h consentRoutes) recordDevice(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	id, err := pathSubject(r)
	if err != nil {
		return httpapi.Response{}, err
	}
	var b deviceBody
	if err := r.Decode(&b); err != nil {
		return httpapi.Response{}, err
	}
	d := consent.Device{
		IP:          b.IP,
		Location:    b.Location,
		Browser:     b.Browser,
		DeviceType:  b.DeviceType,
		Language:    b.Language,
		UserAgent:   b.UserAgent,
		Fingerprint: b.Fingerprint,
	}
	if b.SeenAt != "" {
		if d.SeenAt, err = time.Parse(time.RFC3339, b.SeenAt); err != nil {
			return httpapi.Response{}, apperr.Validation(apperr.FieldError{Field: "seen_at", Message: "must be an RFC 3339 time"})
		}
	}
	rc, err := h.svc.RecordDevice(ctx, r.Tenant, id, d)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusAccepted, rc)
}
