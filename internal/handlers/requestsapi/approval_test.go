package requestsapi_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/example/gdpr/internal/tenant"
)

const rqApprove = "POST /v1/requests/{id}/approve"

// verifiedAs submits a public request of typ for email and verifies it, returning its id and
// the status the verification answered.
func (e *rqEnv) verifiedAs(t *testing.T, typ, email string) (id, status string) {
	t.Helper()
	id = e.call(t, e.anyone(), rqSubmit, nil, `{"type":"`+typ+`","email":"`+email+`"}`, e.tenant).want(t, http.StatusAccepted, "").str("id")
	r := e.call(t, e.anyone(), rqVerify, nil, `{"code":"`+rqCode(t, e.mail(t, email))+`"}`, e.tenant, id).want(t, http.StatusOK, "")
	return id, r.str("status")
}

// testRQApprove: with approval_required ["erasure"], a verified erasure awaits the operator
// (listed by that status), who approves it (200, the record, verified) or rejects it; approve
// of a request not awaiting approval answers 409 invalid_transition; types not listed are
// verified directly.
func testRQApprove(t *testing.T, e *rqEnv) {
	e.call(t, e.admin(), "PATCH /v1/tenant", nil, `{"approval_required":["erasure"]}`).want(t, http.StatusOK, "")
	e.clock.Set(rqStart.Add(tenant.CacheTTL + time.Second)) // past the function's cache of the settings

	id, status := e.verifiedAs(t, "erasure", "ann@example.org")
	if status != "awaiting_approval" {
		t.Fatalf("verified erasure: status %q, want awaiting_approval", status)
	}
	l := e.call(t, e.admin(), rqList, url.Values{"status": {"awaiting_approval"}}, "").want(t, http.StatusOK, "")
	if items, _ := l.body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != id {
		t.Fatalf("queue of awaiting_approval: %s", l.raw)
	}
	e.call(t, e.site(), rqApprove, nil, "", id).want(t, http.StatusForbidden, "forbidden")
	e.call(t, caller{}, rqApprove, nil, "", id).want(t, http.StatusUnauthorized, "unauthenticated")
	e.call(t, e.admin(), rqApprove, nil, "", "req_unknown").want(t, http.StatusNotFound, "request_not_found")
	e.call(t, e.admin(), rqApprove, nil, "", "bad id").want(t, http.StatusBadRequest, "validation_failed")

	a := e.call(t, e.admin(), rqApprove, nil, "", id).want(t, http.StatusOK, "")
	timeline, _ := a.body["timeline"].([]any)
	last, _ := timeline[len(timeline)-1].(map[string]any)
	if a.str("status") != "verified" || a.str("id") != id || last["event"] != "verified" || last["actor"] != "operator" || last["detail"] != "approved" {
		t.Fatalf("approved record %s", a.raw)
	}
	if _, ok := a.body["deliveries"]; !ok {
		t.Fatalf("the approved record lacks its deliveries: %s", a.raw)
	}
	e.call(t, e.admin(), rqApprove, nil, "", id).want(t, http.StatusConflict, "invalid_transition")

	access, status := e.verifiedAs(t, "access", "bob@example.org")
	if status != "verified" {
		t.Fatalf("verified access request: status %q, want verified (not listed)", status)
	}
	e.call(t, e.admin(), rqApprove, nil, "", access).want(t, http.StatusConflict, "invalid_transition")

	held, _ := e.verifiedAs(t, "erasure", "carol@example.org")
	j := e.call(t, e.admin(), rqReject, nil, `{"reason":"other","detail":"A legal hold applies."}`, held).want(t, http.StatusOK, "")
	if j.str("status") != "rejected" {
		t.Fatalf("rejected %s", j.raw)
	}
	e.call(t, e.admin(), rqApprove, nil, "", held).want(t, http.StatusConflict, "invalid_transition")
}
