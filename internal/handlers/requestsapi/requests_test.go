package requestsapi_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

func TestRequestsSQLite(t *testing.T) {
	runRQSuite(t, func(t *testing.T) rqStore { return rqSQLite(t) })
}

func TestRequestsDynamoDB(t *testing.T) {
	runRQSuite(t, rqDynamoDB(t))
}

func runRQSuite(t *testing.T, open func(t *testing.T) rqStore) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, e *rqEnv)
	}{
		{"PublicFlow", testRQPublicFlow},
		{"AntiEnumeration", testRQAntiEnumeration},
		{"BadInput", testRQBadInput},
		{"RateLimited", testRQRateLimited},
		{"VerifyErrors", testRQVerifyErrors},
		{"AccessTokenBoundToRequest", testRQAccessToken},
		{"OperatorRoutes", testRQOperator},
		{"ListPaging", testRQListPaging},
		{"TenantIsolation", testRQTenantIsolation},
		{"Audit", testRQAudit},
		{"Idempotency", testRQIdempotency},
		{"Retention", testRQRetention},
		{"Retry", testRQRetry},
		{"Approve", testRQApprove},
		{"Systems", testRQSystems},
		{"RetryRequeuesDeliveries", testRQRetryDeliveries},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newRQEnv(t, open(t))) })
	}
}

const (
	rqSubmit       = "POST /v1/public/{tenant}/requests"
	rqVerify       = "POST /v1/public/{tenant}/requests/{id}/verify"
	rqStatus       = "GET /v1/public/{tenant}/requests/{id}"
	rqSiteSubmit   = "POST /v1/requests"
	rqList         = "GET /v1/requests"
	rqGet          = "GET /v1/requests/{id}"
	rqExtend       = "POST /v1/requests/{id}/extend"
	rqReject       = "POST /v1/requests/{id}/reject"
	rqRetry        = "POST /v1/requests/{id}/retry"
	rqAuditList    = "GET /v1/audit"
	rqAuditVerify  = "GET /v1/audit/verify"
	rqAnyone       = "198.51.100.7"
	rqAnotherPlace = "192.0.2.44"
)

func (e *rqEnv) anyone() caller { return caller{source: rqAnyone} }
func (e *rqEnv) site() caller   { return caller{tenant: e.tenant, role: "site"} }
func (e *rqEnv) admin() caller  { return caller{tenant: e.tenant, role: "admin"} }

// submit makes a public access request for email and returns its id and emailed code.
func (e *rqEnv) submit(t *testing.T, email string) (id, code string) {
	t.Helper()
	r := e.call(t, e.anyone(), rqSubmit, nil, `{"type":"access","email":"`+email+`"}`, e.tenant).want(t, http.StatusAccepted, "")
	return r.str("id"), rqCode(t, e.mail(t, email))
}

// verified makes a request and verifies it, returning its id and access token.
func (e *rqEnv) verified(t *testing.T, email string) (id, token string) {
	t.Helper()
	id, code := e.submit(t, email)
	r := e.call(t, e.anyone(), rqVerify, nil, `{"code":"`+code+`"}`, e.tenant, id).want(t, http.StatusOK, "")
	return id, r.str("access_token")
}

// addSubject stores a subject's profile and email lookup through the profile's owner, as the
// consent function does.
func (e *rqEnv) addSubject(t *testing.T, id, email string) {
	t.Helper()
	ws, err := subject.NewProfileWrite(e.ports.Secrets, e.tenant, id).Writes(subject.Profile{}, 0, subject.Profile{FirstName: "Ann", Email: email, UpdatedAt: rqStart})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ports.Table.Transact(context.Background(), ws); err != nil {
		t.Fatal(err)
	}
}

func testRQPublicFlow(t *testing.T, e *rqEnv) {
	r := e.call(t, e.anyone(), rqSubmit, nil, `{"type":"rectification","email":"Ann@Example.org","rectification":{"phone":"+44 20 7946 0000"},"note":"New number."}`, e.tenant).
		want(t, http.StatusAccepted, "")
	if got, want := slices.Sorted(maps.Keys(r.body)), []string{"due_at", "id", "received_at", "status", "type"}; !slices.Equal(got, want) {
		t.Fatalf("receipt keys %v, want %v", got, want)
	}
	if r.str("status") != "pending_verification" || r.str("due_at") != "2026-03-02T23:59:59Z" || r.str("received_at") != "2026-01-31T10:00:00Z" {
		t.Fatalf("receipt %s", r.raw)
	}
	if r.headers["X-Request-Id"] == "" {
		t.Fatal("no X-Request-Id")
	}
	id := r.str("id")
	m := e.mail(t, "ann@example.org")
	code := rqCode(t, m)
	if !strings.Contains(m.Subject, "rectification") || !strings.Contains(m.Text, id) {
		t.Fatalf("verification email %q:\n%s", m.Subject, m.Text)
	}
	if len(code) < 22 || url.QueryEscape(code) != code {
		t.Fatalf("code %q: under 128 bits or not URL-safe", code)
	}
	v := e.call(t, e.anyone(), rqVerify, nil, `{"code":"`+code+`"}`, e.tenant, id).want(t, http.StatusOK, "")
	if got, want := slices.Sorted(maps.Keys(v.body)), []string{"access_token", "id", "status"}; !slices.Equal(got, want) || v.str("status") != "verified" {
		t.Fatalf("verification %s", v.raw)
	}
	s := e.call(t, caller{token: v.str("access_token")}, rqStatus, nil, "", e.tenant, id).want(t, http.StatusOK, "")
	if s.str("id") != id || s.str("status") != "verified" || s.str("type") != "rectification" || s.body["completed_at"] != nil {
		t.Fatalf("status %s", s.raw)
	}
	e.call(t, e.anyone(), rqVerify, nil, `{"code":"`+code+`"}`, e.tenant, id).want(t, http.StatusConflict, "invalid_transition")
}

// testRQAntiEnumeration: a known and an unknown email get the same status and body shape,
// on the public and the site route.
func testRQAntiEnumeration(t *testing.T, e *rqEnv) {
	e.addSubject(t, "u-42", "known@example.org")
	shape := func(r rqResponse) string {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.body)) {
			parts = append(parts, fmt.Sprintf("%s:%T", k, r.body[k]))
		}
		return fmt.Sprint(r.status, parts)
	}
	for _, route := range []struct {
		name string
		c    caller
		key  string
	}{{"Public", e.anyone(), rqSubmit}, {"Site", e.site(), rqSiteSubmit}} {
		t.Run(route.name, func(t *testing.T) {
			call := func(email string) rqResponse {
				params := []string{}
				if route.key == rqSubmit {
					params = append(params, e.tenant)
				}
				return e.call(t, route.c, route.key, nil, `{"type":"erasure","email":"`+email+`"}`, params...)
			}
			known, unknown := call("known@example.org"), call("unknown@example.org")
			if shape(known) != shape(unknown) {
				t.Fatalf("known: %s\nunknown: %s", known.raw, unknown.raw)
			}
			for _, k := range []string{"type", "status", "received_at", "due_at"} {
				if known.body[k] != unknown.body[k] {
					t.Fatalf("%s differs: %v and %v", k, known.body[k], unknown.body[k])
				}
			}
			// Both were sent the same email.
			km, um := e.mail(t, "known@example.org"), e.mail(t, "unknown@example.org")
			if km.Subject != um.Subject || len(strings.Split(km.Text, "\n")) != len(strings.Split(um.Text, "\n")) {
				t.Fatalf("emails differ:\n%s\n%s", km.Text, um.Text)
			}
		})
	}
}

func testRQBadInput(t *testing.T, e *rqEnv) {
	for _, c := range []struct {
		name   string
		body   string
		status int
		code   string
		field  string
	}{
		{"UnknownField", `{"type":"access","email":"a@example.org","admin":true}`, 400, "invalid_json", ""},
		{"UnknownFieldIsAnAddress", `{"type":"access","email":"b@example.net","a@example.org":true}`, 400, "invalid_json", ""},
		{"FieldOutOfPlace", `{"type":"access","email":"a@example.org","phone":"+1 555 0100"}`, 400, "invalid_json", "phone"}, // a field of rectification: the schema's name
		{"WrongType", `{"type":"access","email":7}`, 400, "invalid_json", "email"},
		{"NotJSON", `type=access`, 400, "invalid_json", ""},
		{"Empty", ``, 400, "invalid_json", ""},
		{"UnknownRequestType", `{"type":"forget","email":"a@example.org"}`, 400, "validation_failed", "type"},
		{"NoEmail", `{"type":"access","subject_id":"u-1"}`, 400, "validation_failed", "email"},
		{"RectificationOnly", `{"type":"access","email":"a@example.org","rectification":{"phone":"+1 555 0100"}}`, 400, "validation_failed", "rectification"},
		{"RectificationUnknownField", `{"type":"rectification","email":"a@example.org","rectification":{"password":"x"}}`, 400, "invalid_json", ""}, // not a field of the request: not named
		{"LiftOnAccess", `{"type":"access","email":"a@example.org","lift":true}`, 400, "validation_failed", "lift"},
		{"TooLarge", `{"type":"access","email":"a@example.org","note":"` + strings.Repeat("x", 70000) + `"}`, 413, "payload_too_large", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.call(t, e.anyone(), rqSubmit, nil, c.body, e.tenant).want(t, c.status, c.code)
			if r.headers["Content-Type"] != "application/problem+json" {
				t.Fatalf("content type %q", r.headers["Content-Type"])
			}
			if strings.Contains(r.raw, "a@example.org") {
				t.Fatalf("problem quotes the email: %s", r.raw)
			}
			if c.field != "" && !strings.Contains(r.raw, `"field":"`+c.field+`"`) {
				t.Fatalf("problem names no field %s: %s", c.field, r.raw)
			}
		})
	}
	e.call(t, e.anyone(), rqSubmit, nil, `{"type":"access","email":"a@example.org"}`, "no-such-tenant").want(t, 404, "tenant_not_found")
	e.call(t, caller{}, rqSiteSubmit, nil, `{"type":"access","email":"a@example.org"}`).want(t, 401, "unauthenticated")
}

func testRQRateLimited(t *testing.T, e *rqEnv) {
	body := `{"type":"access","email":"flood@example.org"}`
	for range 10 {
		e.call(t, e.anyone(), rqSubmit, nil, body, e.tenant).want(t, http.StatusAccepted, "")
	}
	r := e.call(t, e.anyone(), rqSubmit, nil, body, e.tenant).want(t, http.StatusTooManyRequests, "rate_limited")
	// The clock moves on from 10:00 as the test runs.
	if got, err := strconv.Atoi(r.headers["Retry-After"]); err != nil || got > 3600 || got < 3300 {
		t.Fatalf("Retry-After = %q, want the rest of the hour", r.headers["Retry-After"])
	}
	// Per email: from another place the same email is still limited.
	e.call(t, caller{source: rqAnotherPlace}, rqSubmit, nil, body, e.tenant).want(t, http.StatusTooManyRequests, "rate_limited")
	// The site is not limited.
	e.call(t, e.site(), rqSiteSubmit, nil, body).want(t, http.StatusAccepted, "")
	e.clock.Set(rqStart.Add(time.Hour))
	e.call(t, e.anyone(), rqSubmit, nil, body, e.tenant).want(t, http.StatusAccepted, "")
}

func testRQVerifyErrors(t *testing.T, e *rqEnv) {
	id, code := e.submit(t, "ann@example.org")
	verify := func(id, body string) rqResponse { return e.call(t, e.anyone(), rqVerify, nil, body, e.tenant, id) }
	verify(id, `{"code":""}`).want(t, 400, "validation_failed")
	verify(id, `{"code":"`+strings.Repeat("x", 33)+`"}`).want(t, 400, "validation_failed")
	verify(id, `{"code":"x","extra":1}`).want(t, 400, "invalid_json")
	verify("not-a-request", `{"code":"x"}`).want(t, 400, "validation_failed")
	verify("req_unknown", `{"code":"x"}`).want(t, 404, "request_not_found")
	e.call(t, e.anyone(), rqVerify, nil, `{"code":"x"}`, "no-such-tenant", id).want(t, 404, "tenant_not_found")
	for range 4 {
		verify(id, `{"code":"wrong"}`).want(t, 400, "invalid_code")
	}
	verify(id, `{"code":"wrong"}`).want(t, 423, "verification_locked")
	verify(id, `{"code":"`+code+`"}`).want(t, 423, "verification_locked")

	id2, code2 := e.submit(t, "bob@example.org")
	e.clock.Set(rqStart.Add(24 * time.Hour))
	verify(id2, `{"code":"`+code2+`"}`).want(t, 410, "code_expired")
}

func testRQAccessToken(t *testing.T, e *rqEnv) {
	a, tokenA := e.verified(t, "ann@example.org")
	b, tokenB := e.verified(t, "bob@example.org")
	status := func(token, tenant, id string) rqResponse {
		return e.call(t, caller{token: token}, rqStatus, nil, "", tenant, id)
	}
	status(tokenA, e.tenant, a).want(t, 200, "")
	status(tokenB, e.tenant, b).want(t, 200, "")
	status(tokenA, e.tenant, b).want(t, 401, "unauthenticated")
	status(tokenB, e.tenant, a).want(t, 401, "unauthenticated")
	status("", e.tenant, a).want(t, 401, "unauthenticated")
	status(tokenA, e.tenant, "req_unknown").want(t, 401, "unauthenticated")
	status(tokenA, e.other, a).want(t, 401, "unauthenticated")
	// A key is no token.
	e.call(t, e.admin(), rqStatus, nil, "", e.tenant, a).want(t, 401, "unauthenticated")
	// Closed: the token works for 7 days more, then stops (an access request without an
	// export to keep it readable).
	e.call(t, e.admin(), rqReject, nil, `{"reason":"excessive"}`, a).want(t, 200, "")
	status(tokenA, e.tenant, a).want(t, 200, "")
	e.clock.Set(e.clock.Now().Add(dsr.ClosedStatusTTL))
	status(tokenA, e.tenant, a).want(t, 401, "unauthenticated")
}

func testRQOperator(t *testing.T, e *rqEnv) {
	e.addSubject(t, "u-42", "ann@example.org")
	id, _ := e.submit(t, "ann@example.org")
	e.call(t, e.site(), rqList, nil, "").want(t, 403, "forbidden")
	e.call(t, caller{}, rqList, nil, "").want(t, 401, "unauthenticated")
	e.call(t, e.site(), rqGet, nil, "", id).want(t, 403, "forbidden")

	l := e.call(t, e.admin(), rqList, nil, "").want(t, 200, "")
	items, _ := l.body["items"].([]any)
	if len(items) != 1 || l.body["next_cursor"] != nil {
		t.Fatalf("list %s", l.raw)
	}
	if it := items[0].(map[string]any); it["subject_id"] != "u-42" || it["extended"] != false || it["id"] != id {
		t.Fatalf("list item %v", it)
	}

	g := e.call(t, e.admin(), rqGet, nil, "", id).want(t, 200, "")
	timeline, _ := g.body["timeline"].([]any)
	if len(timeline) != 2 || timeline[0].(map[string]any)["event"] != "received" || timeline[0].(map[string]any)["actor"] != "subject" {
		t.Fatalf("timeline %v", g.body["timeline"])
	}
	for _, secret := range []string{"ann@example.org", "contact", "code_hash", "token_hash", "wrong_codes", "gsi1pk", "xpk"} {
		if strings.Contains(g.raw, secret) {
			t.Fatalf("the operator's record shows %q: %s", secret, g.raw)
		}
	}
	e.call(t, e.admin(), rqGet, nil, "", "bad id").want(t, 400, "validation_failed")
	e.call(t, e.admin(), rqGet, nil, "", "req_unknown").want(t, 404, "request_not_found")

	x := e.call(t, e.admin(), rqExtend, nil, `{"reason":"Three systems hold the data."}`, id).want(t, 200, "")
	if x.str("due_at") != "2026-04-30T23:59:59Z" || x.body["extended"] != true || x.str("extension_reason") != "Three systems hold the data." {
		t.Fatalf("extended %s", x.raw)
	}
	if m := e.mail(t, "ann@example.org"); !strings.Contains(m.Text, "Three systems hold the data.") || !strings.Contains(m.Text, "30 April 2026") {
		t.Fatalf("extension email:\n%s", m.Text)
	}
	e.call(t, e.admin(), rqExtend, nil, `{"reason":"more"}`, id).want(t, 409, "cannot_extend")
	e.call(t, e.admin(), rqExtend, nil, `{"reason":""}`, id).want(t, 400, "validation_failed")

	e.call(t, e.admin(), rqReject, nil, `{"reason":"other"}`, id).want(t, 400, "validation_failed")
	j := e.call(t, e.admin(), rqReject, nil, `{"reason":"identity_unverified","detail":"The code was never entered."}`, id).want(t, 200, "")
	if j.str("status") != "rejected" || j.str("completed_at") == "" {
		t.Fatalf("rejected %s", j.raw)
	}
	m := e.mail(t, "ann@example.org")
	for _, want := range []string{"could not verify", "The code was never entered.", "supervisory authority", "judicial remedy"} {
		if !strings.Contains(m.Text, want) {
			t.Fatalf("rejection email lacks %q:\n%s", want, m.Text)
		}
	}
	e.call(t, e.admin(), rqReject, nil, `{"reason":"excessive"}`, id).want(t, 409, "invalid_transition")
	e.call(t, e.admin(), rqExtend, nil, `{"reason":"late"}`, id).want(t, 409, "cannot_extend")
}

func testRQListPaging(t *testing.T, e *rqEnv) {
	for i := range 5 {
		e.call(t, e.site(), rqSiteSubmit, nil, fmt.Sprintf(`{"type":"%s","email":"p%d@example.org"}`, []string{"access", "erasure"}[i%2], i)).want(t, 202, "")
	}
	list := func(q url.Values) []string {
		var ids []string
		for range 10 {
			r := e.call(t, e.admin(), rqList, q, "").want(t, 200, "")
			for _, it := range r.body["items"].([]any) {
				ids = append(ids, it.(map[string]any)["id"].(string))
			}
			next := r.str("next_cursor")
			if next == "" {
				return ids
			}
			q.Set("cursor", next)
		}
		t.Fatal("the list does not end")
		return nil
	}
	if got := list(url.Values{"limit": {"2"}}); len(got) != 5 {
		t.Fatalf("listed %d, want 5", len(got))
	}
	if got := list(url.Values{"limit": {"1"}, "type": {"erasure"}, "status": {"pending_verification"}}); len(got) != 2 {
		t.Fatalf("erasures: %d, want 2", len(got))
	}
	if got := list(url.Values{"due_before": {"2026-03-02T00:00:00Z"}}); len(got) != 0 {
		t.Fatalf("due before 2 March: %d, want 0", len(got))
	}
	first := e.call(t, e.admin(), rqList, url.Values{"limit": {"2"}}, "").want(t, 200, "")
	e.call(t, e.admin(), rqList, url.Values{"limit": {"2"}, "status": {"verified"}, "cursor": {first.str("next_cursor")}}, "").want(t, 400, "invalid_cursor")
	e.call(t, caller{tenant: e.other, role: "admin"}, rqList, url.Values{"cursor": {first.str("next_cursor")}}, "").want(t, 400, "invalid_cursor")
	e.call(t, e.admin(), rqList, url.Values{"status": {"open"}}, "").want(t, 400, "validation_failed")
	e.call(t, e.admin(), rqList, url.Values{"due_before": {"tomorrow"}}, "").want(t, 400, "validation_failed")
	e.call(t, e.admin(), rqList, url.Values{"limit": {"501"}}, "").want(t, 400, "validation_failed")
}

func testRQTenantIsolation(t *testing.T, e *rqEnv) {
	id, code := e.submit(t, "ann@example.org")
	other := caller{tenant: e.other, role: "admin"}
	e.call(t, other, rqGet, nil, "", id).want(t, 404, "request_not_found")
	e.call(t, other, rqExtend, nil, `{"reason":"x"}`, id).want(t, 404, "request_not_found")
	e.call(t, other, rqReject, nil, `{"reason":"excessive"}`, id).want(t, 404, "request_not_found")
	e.call(t, e.anyone(), rqVerify, nil, `{"code":"`+code+`"}`, e.other, id).want(t, 404, "request_not_found")
	if r := e.call(t, other, rqList, nil, "").want(t, 200, ""); len(r.body["items"].([]any)) != 0 {
		t.Fatalf("the other tenant lists %s", r.raw)
	}
	if r := e.call(t, other, rqAuditList, nil, "").want(t, 200, ""); len(r.body["items"].([]any)) != 0 {
		t.Fatalf("the other tenant's audit shows %s", r.raw)
	}
	// Still pending in its own tenant.
	e.call(t, e.anyone(), rqVerify, nil, `{"code":"`+code+`"}`, e.tenant, id).want(t, 200, "")
}

func testRQAudit(t *testing.T, e *rqEnv) {
	e.addSubject(t, "u-42", "ann@example.org")
	id, _ := e.verified(t, "ann@example.org")
	e.call(t, e.admin(), rqExtend, nil, `{"reason":"Ann's data is spread out."}`, id).want(t, 200, "")
	other, _ := e.submit(t, "bob@example.org")

	all := e.call(t, e.admin(), rqAuditList, nil, "").want(t, 200, "")
	items := all.body["items"].([]any)
	if len(items) != 4 {
		t.Fatalf("audit %s", all.raw)
	}
	first := items[0].(map[string]any)
	if got, want := slices.Sorted(maps.Keys(first)), []string{"action", "actor", "at", "detail", "hash", "prev_hash", "request_id", "seq"}; !slices.Equal(got, want) {
		t.Fatalf("entry keys %v, want %v (no subject: none matched)", got, want)
	}
	for _, clear := range []string{"ann@example.org", "bob@example.org", "Ann", "u-42"} {
		if strings.Contains(all.raw, clear) {
			t.Fatalf("the audit trail names %q: %s", clear, all.raw)
		}
	}
	bySubject := e.call(t, e.admin(), rqAuditList, url.Values{"subject_id": {"u-42"}}, "").want(t, 200, "")
	var actions []string
	for _, it := range bySubject.body["items"].([]any) {
		en := it.(map[string]any)
		if en["subject"] != subject.Pseudonym(e.ports.Secrets, e.tenant, "u-42") {
			t.Fatalf("entry subject %v", en["subject"])
		}
		actions = append(actions, en["action"].(string))
	}
	if got, want := actions, []string{"request.extended", "request.verified", "request.received"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("subject's actions %v, want %v", got, want)
	}
	byRequest := e.call(t, e.admin(), rqAuditList, url.Values{"request_id": {other}}, "").want(t, 200, "")
	if items := byRequest.body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["request_id"] != other {
		t.Fatalf("request's audit %s", byRequest.raw)
	}
	e.call(t, e.admin(), rqAuditList, url.Values{"subject_id": {"a/b"}}, "").want(t, 400, "validation_failed")
	e.call(t, e.admin(), rqAuditList, url.Values{"request_id": {"x"}}, "").want(t, 400, "validation_failed")
	e.call(t, e.site(), rqAuditVerify, nil, "").want(t, 403, "forbidden")

	v := e.call(t, e.admin(), rqAuditVerify, nil, "").want(t, 200, "")
	if v.raw != `{"ok":true,"entries":4}` {
		t.Fatalf("verify %s", v.raw)
	}
	// Tamper with entry 2 through the table port.
	k := table.Key{PK: "T#" + e.tenant + "#AUDIT", SK: fmt.Sprintf("%020d", 2)}
	it, err := e.ports.Table.Get(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	it.Data = []byte(strings.Replace(string(it.Data), `"actor":"subject"`, `"actor":"operator"`, 1))
	if err := e.ports.Table.Put(context.Background(), it, table.Cond{Kind: table.Always}); err != nil {
		t.Fatal(err)
	}
	if v := e.call(t, e.admin(), rqAuditVerify, nil, "").want(t, 200, ""); v.raw != `{"ok":false,"entries":2,"broken_seq":2}` {
		t.Fatalf("after tampering: %s", v.raw)
	}
}

func testRQIdempotency(t *testing.T, e *rqEnv) {
	c := e.anyone()
	c.idemKey = "submit-1"
	body := `{"type":"objection","email":"ann@example.org"}`
	first := e.call(t, c, rqSubmit, nil, body, e.tenant).want(t, 202, "")
	again := e.call(t, c, rqSubmit, nil, body, e.tenant).want(t, 202, "")
	if again.raw != first.raw || again.headers["Idempotent-Replayed"] != "true" {
		t.Fatalf("replay %s, first %s", again.raw, first.raw)
	}
	e.call(t, c, rqSubmit, nil, `{"type":"access","email":"ann@example.org"}`, e.tenant).want(t, 422, "idempotency_key_reused")
	if r := e.call(t, e.admin(), rqList, nil, "").want(t, 200, ""); len(r.body["items"].([]any)) != 1 {
		t.Fatalf("a replay stored another request: %s", r.raw)
	}
}

func testRQRetention(t *testing.T, e *rqEnv) {
	c := e.anyone()
	c.idemKey = "k1"
	e.call(t, c, rqSubmit, nil, `{"type":"access","email":"ann@example.org"}`, e.tenant).want(t, 202, "")
	id, _ := e.verified(t, "bob@example.org")
	ctx := context.Background()
	run := func(at time.Time) string {
		t.Helper()
		e.clock.Set(at)
		out, err := e.retention(ctx, []byte(`{"job":"retention"}`))
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	if got, want := run(rqStart.Add(30*time.Minute)), `{"job":"retention","tenants":2,"finished":true,"deleted":{"devices":0,"exports":0,"idempotency_records":0,"rate_limit_counters":0,"verification_codes":0},"expired":{"requests":0},"deadlines":{"inactive_erasures":0,"overdue":0,"reminders_sent":0}}`; got != want {
		t.Fatalf("at once: %s", got)
	}
	// Counters of the hour (an email and an address for each of the two requests; the
	// address is shared), the idempotency record and the unused code after a day, the
	// unverified request after 7.
	if got, want := run(rqStart.Add(25*time.Hour)), `{"job":"retention","tenants":2,"finished":true,"deleted":{"devices":0,"exports":0,"idempotency_records":1,"rate_limit_counters":3,"verification_codes":1},"expired":{"requests":0},"deadlines":{"inactive_erasures":0,"overdue":0,"reminders_sent":0}}`; got != want {
		t.Fatalf("after a day: %s", got)
	}
	if got, want := run(rqStart.Add(7*24*time.Hour)), `{"job":"retention","tenants":2,"finished":true,"deleted":{"devices":0,"exports":0,"idempotency_records":0,"rate_limit_counters":0,"verification_codes":0},"expired":{"requests":1},"deadlines":{"inactive_erasures":0,"overdue":0,"reminders_sent":0}}`; got != want {
		t.Fatalf("after a week: %s", got)
	}
	if r := e.call(t, e.admin(), rqList, url.Values{"status": {"expired"}}, "").want(t, 200, ""); len(r.body["items"].([]any)) != 1 {
		t.Fatalf("expired: %s", r.raw)
	}
	if r := e.call(t, e.admin(), rqGet, nil, "", id).want(t, 200, ""); r.str("status") != "verified" {
		t.Fatalf("the verified request: %s", r.raw)
	}
	if _, err := e.retention(ctx, []byte(`{"job":"notifications"}`)); err == nil {
		t.Fatal("another job's input was accepted")
	}
}

// testRQRetry: an operator takes a failed request back to processing, once.
func testRQRetry(t *testing.T, e *rqEnv) {
	id, _ := e.verified(t, "ann@example.org")
	e.call(t, e.admin(), rqRetry, nil, "", id).want(t, 409, "invalid_transition")
	e.call(t, e.site(), rqRetry, nil, "", id).want(t, 403, "forbidden")
	e.call(t, e.admin(), rqRetry, nil, "", "req_unknown").want(t, 404, "request_not_found")
	svc := dsr.New(e.ports.Table, tenant.Store{Table: e.ports.Table, Clock: e.clock}, e.ports.Mail, e.clock, e.ports.Secrets)
	if _, _, err := svc.Claim(context.Background(), e.tenant, id); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Fail(context.Background(), e.tenant, id, "step packaged failed 3 times"); err != nil {
		t.Fatal(err)
	}
	g := e.call(t, e.admin(), rqGet, nil, "", id).want(t, 200, "")
	if g.str("status") != "failed" || g.str("failure") != "step packaged failed 3 times" || g.body["attempts"] != float64(1) {
		t.Fatalf("failed record %s", g.raw)
	}
	r := e.call(t, e.admin(), rqRetry, nil, "", id).want(t, 200, "")
	if r.str("status") != "processing" || r.str("failure") != "" || r.body["attempts"] != nil || r.str("completed_at") != "" {
		t.Fatalf("retried record %s", r.raw)
	}
	e.call(t, e.admin(), rqRetry, nil, "", id).want(t, 409, "invalid_transition")
}
