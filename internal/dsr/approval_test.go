package dsr_test

import (
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/tenant"
)

func approvalFor(types ...string) func(*tenant.Tenant) {
	return func(tn *tenant.Tenant) { tn.ApprovalRequired = types }
}

// verifyErasure submits a public erasure request for email and verifies it.
func (e *env) verifyErasure(t *testing.T, email string) dsr.Request {
	t.Helper()
	r := e.submit(t, dsr.Input{Type: dsr.Erasure, Email: email}, public)
	v, token, err := e.svc.Verify(ctx, e.tenant, r.ID, codeIn(t, e.mail.last(t)))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if token == "" {
		t.Fatal("no access token")
	}
	return v
}

// testApproval: where the tenant wants erasures approved, a verified erasure awaits the
// operator, is not taken up for fulfilment, and goes on once approved (audited, in the
// timeline); other types, not listed, are verified directly.
func testApproval(t *testing.T, e *env) {
	e.setTenant(t, approvalFor("erasure"))
	r := e.verifyErasure(t, "ann@example.org")
	if r.Status != dsr.AwaitingApproval || r.VerifiedAt == nil {
		t.Fatalf("after verification: status %s, verified_at %v; want awaiting_approval with the verification time", r.Status, r.VerifiedAt)
	}
	if _, ok, err := e.svc.Claim(ctx, e.tenant, r.ID); err != nil || ok {
		t.Fatalf("Claim of a request awaiting approval = %v, %v: it must not be fulfilled", ok, err)
	}
	if got := e.get(t, r.ID); got.Status != dsr.AwaitingApproval || got.Attempts != 0 {
		t.Fatalf("after a refused claim: %s, %d attempts", got.Status, got.Attempts)
	}
	e.clock.Set(start.Add(time.Hour))
	a, err := e.svc.Approve(ctx, e.tenant, r.ID, audit.ActorOperator)
	if err != nil {
		t.Fatalf("Approve: %v", err)
	}
	last := a.Timeline[len(a.Timeline)-1]
	if a.Status != dsr.Verified || last.Event != "verified" || last.Actor != audit.ActorOperator || last.Detail != "approved" {
		t.Fatalf("after approval: status %s, last event %+v", a.Status, last)
	}
	if !a.DueAt.Equal(r.DueAt) || !a.VerifiedAt.Equal(*r.VerifiedAt) {
		t.Fatalf("approval moved due_at %s→%s or verified_at", r.DueAt, a.DueAt)
	}
	entries, _, err := audit.Log{Table: e.table}.List(ctx, e.tenant, audit.Filter{RequestID: r.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]string{}
	for _, en := range entries {
		actions[en.Action] = en.Actor
	}
	if actions["request.awaiting_approval"] != audit.ActorSubject || actions["request.approved"] != audit.ActorOperator {
		t.Fatalf("audit actions %v, want awaiting_approval by the subject and approved by the operator", actions)
	}
	if c, ok, err := e.svc.Claim(ctx, e.tenant, r.ID); err != nil || !ok || c.Status != dsr.Processing {
		t.Fatalf("Claim after approval = %s, %v, %v", c.Status, ok, err)
	}

	// Not listed: verified directly.
	v := e.verified(t, "bob@example.org") // access
	if v.Status != dsr.Verified {
		t.Fatalf("access request with approval_required [erasure]: %s, want verified", v.Status)
	}
	e.setTenant(t, approvalFor())
	if v := e.verifyErasure(t, "carol@example.org"); v.Status != dsr.Verified {
		t.Fatalf("erasure without approval_required: %s, want verified", v.Status)
	}
}

// testApprovalReject: a request awaiting approval may be rejected instead, with the Art. 12(4)
// email; it can then no longer be approved.
func testApprovalReject(t *testing.T, e *env) {
	e.setTenant(t, approvalFor("erasure"))
	r := e.verifyErasure(t, "ann@example.org")
	x, err := e.svc.Reject(ctx, e.tenant, r.ID, dsr.Rejection{Reason: dsr.OtherReason, Detail: "A legal hold applies."}, audit.ActorOperator)
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != dsr.Rejected || x.CompletedAt == nil {
		t.Fatalf("after reject: %+v", x)
	}
	m := e.mail.last(t)
	if m.To != "ann@example.org" || !strings.Contains(m.Text, "A legal hold applies.") || !strings.Contains(m.Text, "supervisory authority") {
		t.Fatalf("rejection email to %s: %s", m.To, m.Text)
	}
	_, err = e.svc.Approve(ctx, e.tenant, r.ID, audit.ActorOperator)
	wantCode(t, err, dsr.CodeInvalidTransition)
}

// testApproveRefused: only a request awaiting approval can be approved; any other answers
// invalid_transition (409) and changes nothing.
func testApproveRefused(t *testing.T, e *env) {
	pending, _ := e.submitCode(t, "ann@example.org")
	verified := e.verified(t, "bob@example.org")
	for _, id := range []string{pending.ID, verified.ID} {
		v := e.version(t, id)
		_, err := e.svc.Approve(ctx, e.tenant, id, audit.ActorOperator)
		if ae := wantCode(t, err, dsr.CodeInvalidTransition); ae.Kind != apperr.Conflict {
			t.Fatalf("kind %v, want Conflict", ae.Kind)
		}
		if e.version(t, id) != v {
			t.Fatal("a refused approval changed the request")
		}
	}
	_, err := e.svc.Approve(ctx, e.tenant, "req_doesnotexist", audit.ActorOperator)
	wantCode(t, err, dsr.CodeRequestNotFound)
}

// testApprovalDeadline: the due date runs on while a request awaits approval: the DPO's
// reminders and the overdue report are sent for it as for any unanswered request.
func testApprovalDeadline(t *testing.T, e *env) {
	e.setTenant(t, withDPO(7))
	e.setTenant(t, approvalFor("erasure"))
	r := e.verifyErasure(t, "ann@example.org")
	at7 := r.DueAt.Add(time.Second).AddDate(0, 0, -7)
	if done := e.mustSweep(t, at7.Add(-time.Minute)); done[dsr.DoneReminder] != 0 {
		t.Fatalf("reminder before its time: %v", done)
	}
	if done := e.mustSweep(t, at7); done[dsr.DoneReminder] != 1 || len(e.dpoMail()) != 1 {
		t.Fatalf("at the 7-day reminder: %v, %d DPO emails", done, len(e.dpoMail()))
	}
	if done := e.mustSweep(t, r.DueAt.Add(time.Second)); done[dsr.DoneOverdue] != 1 {
		t.Fatalf("after the due date: %v", done)
	}
	if got := e.get(t, r.ID); !got.Overdue || got.Status != dsr.AwaitingApproval {
		t.Fatalf("overdue %v, status %s", got.Overdue, got.Status)
	}
}

// testApprovalInactive: an erasure the system opens for an inactive subject awaits approval
// too where the tenant wants erasures approved.
func testApprovalInactive(t *testing.T, e *env) {
	e.addSubject(t, "u-1", "ann@example.org")
	e.setTenant(t, approvalFor("erasure"))
	if created, err := e.svc.OpenErasure(ctx, e.tenant, "u-1", start.AddDate(-1, 0, 0), 365); err != nil || !created {
		t.Fatalf("OpenErasure = %v, %v", created, err)
	}
	got := e.listAll(t, dsr.Filter{Limit: 50})
	if len(got) != 1 || got[0].Status != dsr.AwaitingApproval || got[0].Type != dsr.Erasure {
		t.Fatalf("opened %+v, want one erasure awaiting approval", got)
	}
	if _, err := e.svc.Approve(ctx, e.tenant, got[0].ID, audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
}
