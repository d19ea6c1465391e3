package dsr_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// runSuite runs every rule of the package on one home. open returns that home's store for a
// case: a fresh one, or one shared by all cases (each case has a tenant of its own).
func runSuite(t *testing.T, open func(t *testing.T) store) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"SubmitToAddressOnFile", testSubmitToAddressOnFile},
		{"PublicSubjectIDProvesNothing", testPublicSubjectIDProvesNothing},
		{"SubmitUnknownEmail", testSubmitUnknownEmail},
		{"PublicSubjectIDWithoutAddress", testPublicSubjectIDWithoutAddress},
		{"SiteSubjectID", testSiteSubjectID},
		{"SubmitValidation", testSubmitValidation},
		{"DueAtFromTenantHolidays", testDueAtHolidays},
		{"Verify", testVerify},
		{"Lockout", testLockout},
		{"CodeExpires", testCodeExpires},
		{"ExpireUnverified", testExpireUnverified},
		{"StatusToken", testStatusToken},
		{"Extend", testExtend},
		{"ExtendRefused", testExtendRefused},
		{"Reject", testReject},
		{"Anonymize", testAnonymize},
		{"Transitions", testTransitions},
		{"RateLimits", testRateLimits},
		{"List", testList},
		{"TenantIsolation", testTenantIsolation},
		{"Audit", testAudit},
		{"AuditTamper", testAuditTamper},
		{"FeedVerified", testFeedVerified},
		{"DeleteExpired", testDeleteExpired},
		{"ConcurrentSubmissions", testConcurrent},
		{"MailFailure", testMailFailure},
		{"Fulfilment", testFulfilment},
		{"FulfilmentFailure", testFulfilmentFailure},
		{"ParseKey", testParseKey},
		{"Reminders", testReminders},
		{"RemindersCatchUp", testRemindersCatchUp},
		{"RemindersExtended", testRemindersExtended},
		{"ReminderMailFails", testReminderMailFails},
		{"RemindersOverlap", testRemindersOverlap},
		{"Wait", testWait},
		{"Approval", testApproval},
		{"ApprovalReject", testApprovalReject},
		{"ApproveRefused", testApproveRefused},
		{"ApprovalDeadline", testApprovalDeadline},
		{"ApprovalInactive", testApprovalInactive},
		{"ContactSealed", testContactSealed},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newEnv(t, open(t))) })
	}
}

var (
	public = dsr.Caller{Actor: audit.ActorSubject, Source: "203.0.113.9"}
	site   = dsr.Caller{Actor: audit.ActorSite}
	ctx    = context.Background()
)

func (e *env) submit(t *testing.T, in dsr.Input, c dsr.Caller) dsr.Request {
	t.Helper()
	r, err := e.svc.Submit(ctx, e.tenant, in, c)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return r
}

// submitCode submits a public access request for email and returns it with its code.
func (e *env) submitCode(t *testing.T, email string) (dsr.Request, string) {
	t.Helper()
	r := e.submit(t, dsr.Input{Type: dsr.Access, Email: email}, public)
	return r, codeIn(t, e.mail.last(t))
}

func (e *env) get(t *testing.T, id string) dsr.Request {
	t.Helper()
	r, err := e.svc.Get(ctx, e.tenant, id)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return r
}

func (e *env) version(t *testing.T, id string) int64 {
	t.Helper()
	it, err := e.table.Get(ctx, table.Key{PK: "T#" + e.tenant + "#R#" + id, SK: "REQUEST"})
	if err != nil {
		t.Fatal(err)
	}
	return it.Version
}

// wantCode fails unless err is the application error with that code.
func wantCode(t *testing.T, err error, code string) *apperr.Error {
	t.Helper()
	ae, ok := apperr.From(err)
	if !ok || ae.Code != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
	return ae
}

// testPublicSubjectIDProvesNothing: a public caller naming someone else's subject id with its
// own address gets a request about nobody (the address is unknown), and the subject is sent
// nothing: naming an id neither spams its owner nor tells whether the id exists.
func testPublicSubjectIDProvesNothing(t *testing.T, e *env) {
	e.addSubject(t, "u-42", "ann@example.org")
	r := e.submit(t, dsr.Input{Type: dsr.Erasure, Email: "someone.else@example.net", SubjectID: "u-42"}, public)
	if r.SubjectID != "" {
		t.Fatalf("SubjectID = %q: a public caller's subject_id linked the request", r.SubjectID)
	}
	if got, want := e.mail.last(t).To, "someone.else@example.net"; got != want {
		t.Fatalf("code sent to %q, want the caller's own address %q", got, want)
	}
}

func testSubmitToAddressOnFile(t *testing.T, e *env) {
	e.addSubject(t, "u-42", "ann@example.org")
	for name, c := range map[string]struct {
		in     dsr.Input
		caller dsr.Caller
	}{
		"ByEmail":           {dsr.Input{Type: dsr.Access, Email: " Ann@Example.org "}, public},
		"SiteBySubjectID":   {dsr.Input{Type: dsr.Erasure, Email: "someone.else@example.net", SubjectID: "u-42"}, site},
		"PublicIDAndEmail":  {dsr.Input{Type: dsr.Erasure, Email: "ann@example.org", SubjectID: "u-42"}, public},
		"SiteIDWithNoEmail": {dsr.Input{Type: dsr.Access, SubjectID: "u-42"}, site},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.submit(t, c.in, c.caller)
			if got, want := r.SubjectID, "u-42"; got != want {
				t.Fatalf("SubjectID = %q, want %q", got, want)
			}
			m := e.mail.last(t)
			if got, want := m.To, "ann@example.org"; got != want {
				t.Fatalf("code sent to %q, want the address on file %q", got, want)
			}
			stored := e.get(t, r.ID)
			if got, want := stored.Status, dsr.PendingVerification; got != want {
				t.Fatalf("Status = %s, want %s", got, want)
			}
			if c := codeIn(t, m); len(c) < 22 || strings.Contains(stored.CodeHash, c) {
				t.Fatalf("code %q: under 128 bits, or stored in clear", c)
			}
			if m.HTML == "" || !strings.Contains(m.HTML, codeIn(t, m)) {
				t.Fatal("the HTML part does not carry the code")
			}
		})
	}
}

func testSubmitUnknownEmail(t *testing.T, e *env) {
	r := e.submit(t, dsr.Input{Type: dsr.Portability, Email: "nobody@example.org"}, public)
	if r.SubjectID != "" {
		t.Fatalf("SubjectID = %q for an unknown email", r.SubjectID)
	}
	if got, want := e.mail.last(t).To, "nobody@example.org"; got != want {
		t.Fatalf("code sent to %q, want %q", got, want)
	}
	if got, want := r.DueAt, time.Date(2026, 3, 2, 23, 59, 59, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("DueAt = %s, want %s", got, want)
	}
}

// testPublicSubjectIDWithoutAddress: an id with no address on file cannot direct a public
// request at that subject, or the code would go to whoever asked.
func testPublicSubjectIDWithoutAddress(t *testing.T, e *env) {
	e.addSubject(t, "u-7", "")
	r := e.submit(t, dsr.Input{Type: dsr.Access, Email: "mallory@example.net", SubjectID: "u-7"}, public)
	if r.SubjectID != "" {
		t.Fatalf("SubjectID = %q, want none", r.SubjectID)
	}
	e.addSubject(t, "u-8", "bob@example.org")
	r = e.submit(t, dsr.Input{Type: dsr.Access, Email: "bob@example.org", SubjectID: "u-unknown"}, public)
	if got, want := r.SubjectID, "u-8"; got != want {
		t.Fatalf("SubjectID = %q, want the email's subject %q", got, want)
	}
}

func testSiteSubjectID(t *testing.T, e *env) {
	e.addSubject(t, "u-7", "")
	_, err := e.svc.Submit(ctx, e.tenant, dsr.Input{Type: dsr.Access, SubjectID: "u-7"}, site)
	wantCode(t, err, apperr.CodeValidation)
	r := e.submit(t, dsr.Input{Type: dsr.Access, SubjectID: "u-7", Email: "ann@example.org"}, site)
	if got, want := r.SubjectID, "u-7"; got != want {
		t.Fatalf("SubjectID = %q, want %q", got, want)
	}
	if got, want := e.mail.last(t).To, "ann@example.org"; got != want {
		t.Fatalf("code sent to %q, want %q", got, want)
	}
	if got, want := r.Timeline[0].Actor, audit.ActorSite; got != want {
		t.Fatalf("received by %q, want %q", got, want)
	}
}

func testSubmitValidation(t *testing.T, e *env) {
	yes := true
	phone := "+44 20 7946 0000"
	for _, c := range []struct {
		name   string
		in     dsr.Input
		caller dsr.Caller
		field  string
	}{
		{"UnknownType", dsr.Input{Type: "delete", Email: "a@example.org"}, public, "type"},
		{"PublicWithoutEmail", dsr.Input{Type: dsr.Access, SubjectID: "u-1"}, public, "email"},
		{"SiteWithNeither", dsr.Input{Type: dsr.Access}, site, "email"},
		{"BadEmail", dsr.Input{Type: dsr.Access, Email: "Ann <a@example.org>"}, public, "email"},
		{"BadSubjectID", dsr.Input{Type: dsr.Access, Email: "a@example.org", SubjectID: "u/../1"}, public, "subject_id"},
		{"RectificationMissing", dsr.Input{Type: dsr.Rectification, Email: "a@example.org"}, public, "rectification"},
		{"RectificationOnAccess", dsr.Input{Type: dsr.Access, Email: "a@example.org", Rectification: &dsr.ProfileFields{Phone: &phone}}, public, "rectification"},
		{"RectificationEmpty", dsr.Input{Type: dsr.Rectification, Email: "a@example.org", Rectification: &dsr.ProfileFields{}}, public, "rectification"},
		{"RectificationBadPhone", dsr.Input{Type: dsr.Rectification, Email: "a@example.org", Rectification: &dsr.ProfileFields{Phone: new("call me")}}, public, "rectification.phone"},
		{"RectificationBlankName", dsr.Input{Type: dsr.Rectification, Email: "a@example.org", Rectification: &dsr.ProfileFields{FirstName: new(" ")}}, public, "rectification.first_name"},
		{"LiftOnErasure", dsr.Input{Type: dsr.Erasure, Email: "a@example.org", Lift: &yes}, public, "lift"},
		{"NoteTooLong", dsr.Input{Type: dsr.Access, Email: "a@example.org", Note: strings.Repeat("é", 2001)}, public, "note"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(e.mail.all())
			_, err := e.svc.Submit(ctx, e.tenant, c.in, c.caller)
			ae := wantCode(t, err, apperr.CodeValidation)
			if len(ae.Fields) == 0 || ae.Fields[0].Field != c.field {
				t.Fatalf("fields = %+v, want %s first", ae.Fields, c.field)
			}
			if strings.Contains(ae.Error(), "example.org") {
				t.Fatalf("error %q quotes the input", ae)
			}
			if after := len(e.mail.all()); after != before {
				t.Fatal("an invalid request sent an email")
			}
		})
	}
	t.Run("Valid", func(t *testing.T) {
		e.submit(t, dsr.Input{Type: dsr.Rectification, Email: "a@example.org", Rectification: &dsr.ProfileFields{Phone: &phone}}, public)
		r := e.submit(t, dsr.Input{Type: dsr.Restriction, Email: "a@example.org", Lift: &yes, Note: "Please."}, public)
		if !r.Lift {
			t.Fatal("lift not kept")
		}
	})
}

func testDueAtHolidays(t *testing.T, e *env) {
	e.setTenant(t, func(tn *tenant.Tenant) { tn.Holidays = []string{"2026-03-02"} })
	r := e.submit(t, dsr.Input{Type: dsr.Access, Email: "a@example.org"}, public)
	if got, want := r.DueAt, time.Date(2026, 3, 3, 23, 59, 59, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("DueAt = %s, want %s (Saturday, Sunday, then the holiday Monday)", got, want)
	}
}

func testVerify(t *testing.T, e *env) {
	e.addSubject(t, "u-42", "ann@example.org")
	r, code := e.submitCode(t, "ann@example.org")
	_, _, err := e.svc.Verify(ctx, e.tenant, r.ID, "AAAAAAAAAAAAAAAAAAAAAA")
	wantCode(t, err, dsr.CodeInvalidCode)
	v, token, err := e.svc.Verify(ctx, e.tenant, r.ID, code)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got, want := v.Status, dsr.Verified; got != want {
		t.Fatalf("Status = %s, want %s", got, want)
	}
	if len(token) < 32 || v.TokenHash == "" || strings.Contains(v.TokenHash, token) {
		t.Fatalf("token %q: too short or stored in clear", token)
	}
	stored := e.get(t, r.ID)
	if stored.CodeHash != "" || stored.VerifiedAt == nil {
		t.Fatalf("after verification: code hash %q kept, verified_at %v", stored.CodeHash, stored.VerifiedAt)
	}
	_, _, err = e.svc.Verify(ctx, e.tenant, r.ID, code)
	wantCode(t, err, dsr.CodeInvalidTransition)
	_, _, err = e.svc.Verify(ctx, e.tenant, "req_doesnotexist", code)
	wantCode(t, err, dsr.CodeRequestNotFound)
}

func testLockout(t *testing.T, e *env) {
	r, code := e.submitCode(t, "ann@example.org")
	for i := 1; i < dsr.MaxWrongCodes; i++ {
		_, _, err := e.svc.Verify(ctx, e.tenant, r.ID, fmt.Sprintf("wrong-%d", i))
		wantCode(t, err, dsr.CodeInvalidCode)
	}
	_, _, err := e.svc.Verify(ctx, e.tenant, r.ID, "wrong-5")
	wantCode(t, err, dsr.CodeLocked)
	_, _, err = e.svc.Verify(ctx, e.tenant, r.ID, code)
	wantCode(t, err, dsr.CodeLocked)
	stored := e.get(t, r.ID)
	if !stored.Locked || stored.Status != dsr.PendingVerification {
		t.Fatalf("locked = %v, status = %s", stored.Locked, stored.Status)
	}
	// An operator can still close it.
	if _, err := e.svc.Reject(ctx, e.tenant, r.ID, dsr.Rejection{Reason: dsr.IdentityUnverified}, audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
}

func testCodeExpires(t *testing.T, e *env) {
	r, code := e.submitCode(t, "ann@example.org")
	e.clock.Set(start.Add(dsr.CodeTTL - time.Minute))
	_, _, err := e.svc.Verify(ctx, e.tenant, r.ID, "wrong")
	wantCode(t, err, dsr.CodeInvalidCode)
	e.clock.Set(start.Add(dsr.CodeTTL))
	_, _, err = e.svc.Verify(ctx, e.tenant, r.ID, code)
	ae := wantCode(t, err, dsr.CodeCodeExpired)
	if ae.Kind != apperr.Gone {
		t.Fatalf("kind = %v, want Gone (410)", ae.Kind)
	}
}

func testExpireUnverified(t *testing.T, e *env) {
	stale, code := e.submitCode(t, "ann@example.org")
	verified, code2 := e.submitCode(t, "bob@example.org")
	if _, _, err := e.svc.Verify(ctx, e.tenant, verified.ID, code2); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(start.Add(3 * 24 * time.Hour))
	fresh, _ := e.submitCode(t, "cy@example.org")

	n, err := e.expireAt(start.Add(dsr.UnverifiedTTL - time.Second))
	if err != nil || n != 0 {
		t.Fatalf("before 7 days: expired %d, %v", n, err)
	}
	n, err = e.expireAt(start.Add(dsr.UnverifiedTTL))
	if err != nil || n != 1 {
		t.Fatalf("after 7 days: expired %d, %v; want 1", n, err)
	}
	for id, want := range map[string]dsr.Status{stale.ID: dsr.Expired, verified.ID: dsr.Verified, fresh.ID: dsr.PendingVerification} {
		if got := e.get(t, id).Status; got != want {
			t.Fatalf("%s: status %s, want %s", id, got, want)
		}
	}
	e.clock.Set(start.Add(dsr.UnverifiedTTL))
	_, _, err = e.svc.Verify(ctx, e.tenant, stale.ID, code)
	wantCode(t, err, dsr.CodeCodeExpired)

	// The next run finds the fresh one, once.
	later := start.Add(3*24*time.Hour + dsr.UnverifiedTTL)
	if n, err := e.expireAt(later); err != nil || n != 1 {
		t.Fatalf("later: expired %d, %v; want 1", n, err)
	}
	if n, err := e.expireAt(later); err != nil || n != 0 {
		t.Fatalf("again: expired %d, %v; want 0", n, err)
	}
}

func testStatusToken(t *testing.T, e *env) {
	a, codeA := e.submitCode(t, "ann@example.org")
	b, codeB := e.submitCode(t, "bob@example.org")
	_, tokenA, err := e.svc.Verify(ctx, e.tenant, a.ID, codeA)
	if err != nil {
		t.Fatal(err)
	}
	_, tokenB, err := e.svc.Verify(ctx, e.tenant, b.ID, codeB)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := e.svc.Status(ctx, e.tenant, a.ID, tokenA); err != nil || r.ID != a.ID {
		t.Fatalf("Status with its token: %v", err)
	}
	for name, c := range map[string]struct{ id, token string }{
		"OtherRequestsToken": {a.ID, tokenB},
		"NoToken":            {a.ID, ""},
		"WrongToken":         {a.ID, tokenA + "x"},
		"CodeAsToken":        {a.ID, codeA},
		"UnknownRequest":     {"req_unknown", tokenA},
		"MalformedID":        {"../x", tokenA},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.svc.Status(ctx, e.tenant, c.id, c.token)
			wantCode(t, err, apperr.CodeUnauthenticated)
		})
	}
	t.Run("ClosedRequest", func(t *testing.T) {
		if _, _, err := e.svc.Claim(ctx, e.tenant, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Complete(ctx, e.tenant, a.ID, ""); err != nil {
			t.Fatal(err)
		}
		// Readable for ClosedStatusTTL after it closed, then no more.
		if _, err := e.svc.Status(ctx, e.tenant, a.ID, tokenA); err != nil {
			t.Fatalf("just closed: %v", err)
		}
		e.clock.Set(e.clock.Now().Add(dsr.ClosedStatusTTL))
		_, err := e.svc.Status(ctx, e.tenant, a.ID, tokenA)
		wantCode(t, err, apperr.CodeUnauthenticated)
	})
}

func testExtend(t *testing.T, e *env) {
	r, _ := e.submitCode(t, "ann@example.org")
	e.clock.Set(time.Date(2026, 3, 2, 23, 59, 0, 0, time.UTC)) // the last minute before the due date
	x, err := e.svc.Extend(ctx, e.tenant, r.ID, "We hold data in three systems and must gather it.", audit.ActorOperator)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := x.DueAt, time.Date(2026, 4, 30, 23, 59, 59, 0, time.UTC); !got.Equal(want) || !x.Extended {
		t.Fatalf("DueAt = %s (extended %v), want %s", got, x.Extended, want)
	}
	m := e.mail.last(t)
	if m.To != "ann@example.org" || !strings.Contains(m.Text, "We hold data in three systems and must gather it.") ||
		!strings.Contains(m.Text, "Thursday 30 April 2026") || !strings.Contains(m.Text, "two further months") {
		t.Fatalf("extension email to %q:\n%s", m.To, m.Text)
	}
	_, err = e.svc.Extend(ctx, e.tenant, r.ID, "again", audit.ActorOperator)
	wantCode(t, err, dsr.CodeCannotExtend)
	if got := e.get(t, r.ID).Timeline; got[len(got)-1].Event != "extended" {
		t.Fatalf("timeline ends with %+v", got[len(got)-1])
	}
}

func testExtendRefused(t *testing.T, e *env) {
	late, _ := e.submitCode(t, "ann@example.org")
	closed, _ := e.submitCode(t, "bob@example.org")
	if _, err := e.svc.Reject(ctx, e.tenant, closed.ID, dsr.Rejection{Reason: dsr.Excessive}, audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Extend(ctx, e.tenant, late.ID, " ", audit.ActorOperator)
	wantCode(t, err, apperr.CodeValidation)
	_, err = e.svc.Extend(ctx, e.tenant, closed.ID, "reason", audit.ActorOperator)
	wantCode(t, err, dsr.CodeCannotExtend)
	e.clock.Set(time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)) // the first due date has passed
	v := e.version(t, late.ID)
	_, err = e.svc.Extend(ctx, e.tenant, late.ID, "reason", audit.ActorOperator)
	wantCode(t, err, dsr.CodeCannotExtend)
	if e.version(t, late.ID) != v {
		t.Fatal("a refused extension changed the request")
	}
	_, err = e.svc.Extend(ctx, e.tenant, "req_missing", "reason", audit.ActorOperator)
	wantCode(t, err, dsr.CodeRequestNotFound)
}

func testReject(t *testing.T, e *env) {
	r, _ := e.submitCode(t, "ann@example.org")
	_, err := e.svc.Reject(ctx, e.tenant, r.ID, dsr.Rejection{Reason: dsr.OtherReason}, audit.ActorOperator)
	wantCode(t, err, apperr.CodeValidation)
	_, err = e.svc.Reject(ctx, e.tenant, r.ID, dsr.Rejection{Reason: "because"}, audit.ActorOperator)
	wantCode(t, err, apperr.CodeValidation)
	x, err := e.svc.Reject(ctx, e.tenant, r.ID, dsr.Rejection{Reason: dsr.ManifestlyUnfounded, Detail: "The same request came 40 times today."}, audit.ActorOperator)
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != dsr.Rejected || x.CompletedAt == nil || x.Rejection.Reason != dsr.ManifestlyUnfounded {
		t.Fatalf("after reject: %+v", x)
	}
	m := e.mail.last(t)
	for _, want := range []string{"manifestly unfounded", "The same request came 40 times today.", "supervisory authority", "judicial remedy", r.ID} {
		if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, want) {
			t.Fatalf("rejection email lacks %q:\n%s\n%s", want, m.Text, m.HTML)
		}
	}
	v := e.version(t, r.ID)
	_, err = e.svc.Reject(ctx, e.tenant, r.ID, dsr.Rejection{Reason: dsr.Excessive}, audit.ActorOperator)
	wantCode(t, err, dsr.CodeInvalidTransition)
	if e.version(t, r.ID) != v {
		t.Fatal("an invalid transition changed the request")
	}
}

func testTransitions(t *testing.T, e *env) {
	r, code := e.submitCode(t, "ann@example.org")
	step := func(to dsr.Status, wantErr string) {
		t.Helper()
		v := e.version(t, r.ID)
		var err error
		switch to {
		case dsr.Processing:
			var ok bool
			if _, ok, err = e.svc.Claim(ctx, e.tenant, r.ID); err == nil && !ok {
				err = apperr.New(apperr.Conflict, dsr.CodeInvalidTransition, "not claimed")
			}
		case dsr.Completed:
			_, err = e.svc.Complete(ctx, e.tenant, r.ID, "")
		case dsr.Failed:
			_, err = e.svc.Fail(ctx, e.tenant, r.ID, "test")
		default:
			err = apperr.New(apperr.Conflict, dsr.CodeInvalidTransition, "no such move")
		}
		if wantErr == "" {
			if err != nil {
				t.Fatalf("to %s: %v", to, err)
			}
			if got := e.get(t, r.ID).Status; got != to {
				t.Fatalf("status %s, want %s", got, to)
			}
			return
		}
		ae := wantCode(t, err, wantErr)
		if ae.Kind != apperr.Conflict {
			t.Fatalf("kind %v, want Conflict (409)", ae.Kind)
		}
		if e.version(t, r.ID) != v {
			t.Fatalf("refused move to %s changed the request", to)
		}
	}
	step(dsr.Processing, dsr.CodeInvalidTransition)
	step(dsr.Verified, dsr.CodeInvalidTransition) // only a code verifies
	if _, _, err := e.svc.Verify(ctx, e.tenant, r.ID, code); err != nil {
		t.Fatal(err)
	}
	step(dsr.Completed, dsr.CodeInvalidTransition)
	step(dsr.Processing, "")
	_, err := e.svc.Reject(ctx, e.tenant, r.ID, dsr.Rejection{Reason: dsr.Excessive}, audit.ActorOperator)
	wantCode(t, err, dsr.CodeInvalidTransition)
	step(dsr.Failed, "")
	if got := e.get(t, r.ID); got.CompletedAt == nil {
		t.Fatal("failed without completed_at")
	}
	step(dsr.Completed, dsr.CodeInvalidTransition)

	for _, from := range dsr.Statuses {
		for _, to := range dsr.Statuses {
			want := map[string]bool{
				"pending_verification>verified": true, "pending_verification>rejected": true, "pending_verification>expired": true,
				"pending_verification>awaiting_approval": true, "awaiting_approval>verified": true, "awaiting_approval>rejected": true,
				"verified>processing": true, "verified>rejected": true,
				"processing>completed": true, "processing>failed": true, "failed>processing": true,
			}[string(from)+">"+string(to)]
			if got := dsr.CanMove(from, to); got != want {
				t.Errorf("CanMove(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
}

func testRateLimits(t *testing.T, e *env) {
	e.setTenant(t, func(tn *tenant.Tenant) { tn.RateLimits = tenant.RateLimits{PerEmailPerHour: 2, PerSourcePerHour: 3} })
	in := dsr.Input{Type: dsr.Access, Email: "ann@example.org"}
	e.submit(t, in, public)
	e.submit(t, in, public)
	_, err := e.svc.Submit(ctx, e.tenant, in, public)
	ae := wantCode(t, err, apperr.CodeRateLimited)
	// The clock moves on from 10:00 as the test runs.
	if ae.RetryAfter > time.Hour || ae.RetryAfter < 55*time.Minute {
		t.Fatalf("RetryAfter = %s, want the rest of the hour to 11:00", ae.RetryAfter)
	}
	// Another email from the same address: the source's third.
	e.submit(t, dsr.Input{Type: dsr.Access, Email: "bob@example.org"}, public)
	_, err = e.svc.Submit(ctx, e.tenant, dsr.Input{Type: dsr.Access, Email: "cy@example.org"}, public)
	wantCode(t, err, apperr.CodeRateLimited)
	// Another address may still ask for a fresh email; the site is not limited.
	other := dsr.Caller{Actor: audit.ActorSubject, Source: "198.51.100.4"}
	e.submit(t, dsr.Input{Type: dsr.Access, Email: "cy@example.org"}, other)
	e.submit(t, in, site)
	// The next hour starts afresh.
	e.clock.Set(start.Add(time.Hour))
	e.submit(t, in, public)

	// Counters name neither the email nor the address.
	for _, pk := range counterPKs(t, e) {
		for _, clear := range []string{"ann@example.org", "203.0.113.9", "example"} {
			if strings.Contains(pk, clear) {
				t.Fatalf("counter key %q holds %q in clear", pk, clear)
			}
		}
	}
}

// counterPKs lists the rate-limit counters on the expiry index of the tenant's current day.
func counterPKs(t *testing.T, e *env) []string {
	t.Helper()
	page, err := e.table.Query(ctx, table.Query{Index: "Expiry", PK: "T#" + e.tenant + "#X#2026-01-31"})
	if err != nil {
		t.Fatal(err)
	}
	var pks []string
	for _, it := range page.Items {
		if strings.Contains(it.PK, "#RL#") {
			pks = append(pks, it.PK)
		}
	}
	if len(pks) == 0 {
		t.Fatal("no counters found")
	}
	return pks
}

func testList(t *testing.T, e *env) {
	var ids []string
	types := []dsr.Type{dsr.Access, dsr.Erasure, dsr.Access, dsr.Objection, dsr.Access}
	for i, typ := range types {
		// Received on five days, so due on five (or fewer, weekends) increasing dates.
		e.clock.Set(start.AddDate(0, 0, 4-i))
		r := e.submit(t, dsr.Input{Type: typ, Email: fmt.Sprintf("p%d@example.org", i)}, site)
		ids = append(ids, r.ID)
	}
	if _, err := e.svc.Reject(ctx, e.tenant, ids[1], dsr.Rejection{Reason: dsr.Excessive}, audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
	all := e.listAll(t, dsr.Filter{Limit: 2})
	if len(all) != 5 {
		t.Fatalf("listed %d, want 5", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].DueAt.Before(all[i-1].DueAt) {
			t.Fatalf("not soonest due first: %s before %s", all[i-1].DueAt, all[i].DueAt)
		}
	}
	if got := e.listAll(t, dsr.Filter{Status: dsr.Rejected, Limit: 50}); len(got) != 1 || got[0].ID != ids[1] {
		t.Fatalf("rejected: %v", reqIDs(got))
	}
	if got := e.listAll(t, dsr.Filter{Status: dsr.PendingVerification, Type: dsr.Access, Limit: 1}); len(got) != 3 {
		t.Fatalf("pending access: %v, want 3", reqIDs(got))
	}
	// Due dates: three on Monday 2 March (weekend roll), then 3 and 4 March.
	bound := all[3].DueAt
	got := e.listAll(t, dsr.Filter{DueBefore: bound, Limit: 50})
	for _, r := range got {
		if !r.DueAt.Before(bound) {
			t.Fatalf("due_before %s listed one due %s", bound, r.DueAt)
		}
	}
	if len(got) != 3 {
		t.Fatalf("due_before listed %d, want 3", len(got))
	}
	if got := e.listAll(t, dsr.Filter{DueBefore: bound.Add(time.Millisecond), Limit: 50}); len(got) != 4 {
		t.Fatalf("due_before a moment after a due date listed %d, want 4", len(got))
	}
	_, _, err := e.svc.List(ctx, e.tenant, dsr.Filter{Status: "open", Limit: 5})
	wantCode(t, err, apperr.CodeValidation)
}

func (e *env) listAll(t *testing.T, f dsr.Filter) []dsr.Request {
	t.Helper()
	var all []dsr.Request
	for range 100 {
		page, next, err := e.svc.List(ctx, e.tenant, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > f.Limit {
			t.Fatalf("page of %d, limit %d", len(page), f.Limit)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		f.Cursor = next
	}
	t.Fatal("the list does not end")
	return nil
}

func reqIDs(rs []dsr.Request) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

func testTenantIsolation(t *testing.T, e *env) {
	r, code := e.submitCode(t, "ann@example.org")
	other := newEnv(t, e.store)
	if _, err := other.svc.Get(ctx, other.tenant, r.ID); !errors.Is(err, dsr.ErrNotFound) {
		t.Fatalf("Get from another tenant: %v", err)
	}
	_, _, err := other.svc.Verify(ctx, other.tenant, r.ID, code)
	wantCode(t, err, dsr.CodeRequestNotFound)
	_, err = other.svc.Reject(ctx, other.tenant, r.ID, dsr.Rejection{Reason: dsr.Excessive}, audit.ActorOperator)
	wantCode(t, err, dsr.CodeRequestNotFound)
	if got, _, err := other.svc.List(ctx, other.tenant, dsr.Filter{Limit: 50}); err != nil || len(got) != 0 {
		t.Fatalf("another tenant lists %d requests (%v)", len(got), err)
	}
	if got := e.get(t, r.ID).Status; got != dsr.PendingVerification {
		t.Fatalf("status %s", got)
	}
	entries, _, err := audit.Log{Table: e.table}.List(ctx, other.tenant, audit.Filter{Limit: 50})
	if err != nil || len(entries) != 0 {
		t.Fatalf("another tenant's audit holds %d entries (%v)", len(entries), err)
	}
}

func testAudit(t *testing.T, e *env) {
	e.addSubject(t, "u-42", "ann@example.org")
	r, code := e.submitCode(t, "ann@example.org")
	if _, _, err := e.svc.Verify(ctx, e.tenant, r.ID, code); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Extend(ctx, e.tenant, r.ID, "Ann Example's data is in three systems.", audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Reject(ctx, e.tenant, r.ID, dsr.Rejection{Reason: dsr.OtherReason, Detail: "Ann asked us to stop."}, audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
	other, _ := e.submitCode(t, "nobody@example.org")

	log := audit.Log{Table: e.table}
	entries, _, err := log.List(ctx, e.tenant, audit.Filter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, en := range entries {
		got = append(got, fmt.Sprintf("%d %s %s", en.Seq, en.Actor, en.Action))
	}
	want := []string{
		"5 subject request.received",
		"4 operator request.rejected",
		"3 operator request.extended",
		"2 subject request.verified",
		"1 subject request.received",
	}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	pseudonym := subject.Pseudonym(e.secrets, e.tenant, "u-42")
	for _, en := range entries[1:] {
		if en.Subject != pseudonym || en.RequestID != r.ID {
			t.Fatalf("entry %d names subject %q request %q", en.Seq, en.Subject, en.RequestID)
		}
		for k, v := range en.Detail {
			if strings.Contains(v, "Ann") || strings.Contains(v, "ann@") || strings.Contains(v, "u-42") {
				t.Fatalf("entry %d detail %s=%q holds personal data", en.Seq, k, v)
			}
		}
	}
	if entries[0].Subject != "" || entries[0].RequestID != other.ID {
		t.Fatalf("unknown subject's entry: %+v", entries[0])
	}
	if got, _, err := log.List(ctx, e.tenant, audit.Filter{Subject: pseudonym, Limit: 2}); err != nil || len(got) != 2 || got[0].Seq != 4 {
		t.Fatalf("by subject: %+v, %v", got, err)
	}
	if got, _, err := log.List(ctx, e.tenant, audit.Filter{RequestID: other.ID, Limit: 50}); err != nil || len(got) != 1 || got[0].Seq != 5 {
		t.Fatalf("by request: %+v, %v", got, err)
	}
	if got, _, err := log.List(ctx, e.tenant, audit.Filter{RequestID: other.ID, Subject: pseudonym, Limit: 50}); err != nil || len(got) != 0 {
		t.Fatalf("by request and another subject: %+v, %v", got, err)
	}
	if v, err := log.Verify(ctx, e.tenant); err != nil || !v.OK || v.Entries != 5 {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
}

func testAuditTamper(t *testing.T, e *env) {
	for i := range 4 {
		e.submitCode(t, fmt.Sprintf("p%d@example.org", i))
	}
	log := audit.Log{Table: e.table}
	k := func(seq int) table.Key {
		return table.Key{PK: "T#" + e.tenant + "#AUDIT", SK: fmt.Sprintf("%020d", seq)}
	}
	it, err := e.table.Get(ctx, k(2))
	if err != nil {
		t.Fatal(err)
	}
	tampered := table.Item{Key: it.Key, Version: it.Version, Data: []byte(strings.Replace(string(it.Data), "request.received", "request.verified", 1))}
	if err := e.table.Put(ctx, tampered, table.Cond{Kind: table.Always}); err != nil {
		t.Fatal(err)
	}
	if v, err := log.Verify(ctx, e.tenant); err != nil || v.OK || v.BrokenSeq != 2 {
		t.Fatalf("after altering entry 2: %+v, %v", v, err)
	}
	if err := e.table.Put(ctx, it, table.Cond{Kind: table.Always}); err != nil {
		t.Fatal(err)
	}
	if v, err := log.Verify(ctx, e.tenant); err != nil || !v.OK || v.Entries != 4 {
		t.Fatalf("restored: %+v, %v", v, err)
	}
	if err := e.table.Delete(ctx, k(4), table.Cond{Kind: table.Always}); err != nil {
		t.Fatal(err)
	}
	if v, err := log.Verify(ctx, e.tenant); err != nil || v.OK || v.BrokenSeq != 4 {
		t.Fatalf("after deleting the newest entry: %+v, %v", v, err)
	}
	if err := e.table.Delete(ctx, k(2), table.Cond{Kind: table.Always}); err != nil {
		t.Fatal(err)
	}
	if v, err := log.Verify(ctx, e.tenant); err != nil || v.OK || v.BrokenSeq != 2 {
		t.Fatalf("after deleting entry 2: %+v, %v", v, err)
	}
}

// testFeedVerified: the fulfilment functions start from the change feed, selecting the MODIFY
// of a request from pending_verification to verified by its top-level status and type.
func testFeedVerified(t *testing.T, e *env) {
	_, pos := drain(t, e.feed, "")
	r, code := e.submitCode(t, "ann@example.org")
	if _, _, err := e.svc.Verify(ctx, e.tenant, r.ID, code); err != nil {
		t.Fatal(err)
	}
	changes, _ := drain(t, e.feed, pos)
	found := 0
	for _, c := range changes {
		if c.Key.PK != "T#"+e.tenant+"#R#"+r.ID || c.Event != table.EventModify || c.Old == nil || c.New == nil {
			continue
		}
		var old, cur struct {
			Status string `json:"status"`
			Type   string `json:"type"`
		}
		if err := c.Old.Decode(&old); err != nil {
			t.Fatal(err)
		}
		if err := c.New.Decode(&cur); err != nil {
			t.Fatal(err)
		}
		if old.Status == "pending_verification" && cur.Status == "verified" && cur.Type == "access" {
			found++
		}
	}
	if found != 1 {
		t.Fatalf("found %d MODIFY pending_verification → verified changes of the request among %d", found, len(changes))
	}
}

// drain reads the feed from after to its end and returns the changes and the position.
func drain(t *testing.T, f table.Feed, after string) ([]table.Change, string) {
	t.Helper()
	var all []table.Change
	for range 1000 {
		cs, next, err := f.Read(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		after = next
		if len(cs) == 0 {
			return all, after
		}
		all = append(all, cs...)
	}
	t.Fatal("the feed does not end")
	return nil, ""
}

func testDeleteExpired(t *testing.T, e *env) {
	e.submitCode(t, "ann@example.org") // two counters, expiring at 11:00
	idem := table.Key{PK: "T#" + e.tenant + "#IDEM#abc", SK: "IDEM"}
	it, err := table.NewItem(idem, 0, struct {
		Done bool `json:"done"`
		expiry.Attrs
	}{true, expiry.At(e.tenant, "idempotency_records", idem, start.Add(24*time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.table.Put(ctx, it, table.Cond{Kind: table.IfAbsent}); err != nil {
		t.Fatal(err)
	}
	d, err := e.sweep(start.Add(30 * time.Minute))
	if err != nil || len(d.Deleted) != 0 {
		t.Fatalf("before expiry: %+v, %v", d, err)
	}
	d, err = e.sweep(start.Add(2 * time.Hour))
	if err != nil || len(d.Deleted) != 1 || d.Deleted[dsr.KindRateLimit] != 2 {
		t.Fatalf("after the counters' hour: %+v, %v", d, err)
	}
	// The pending request's code goes after its 24 hours.
	d, err = e.sweep(start.Add(25 * time.Hour))
	if err != nil || len(d.Deleted) != 2 || d.Deleted["idempotency_records"] != 1 || d.Deleted[dsr.KindCodes] != 1 {
		t.Fatalf("after a day: %+v, %v", d, err)
	}
	if _, err := e.table.Get(ctx, idem); !errors.Is(err, table.ErrNotFound) {
		t.Fatalf("idempotency record still there: %v", err)
	}
	// Requests and other items on the index stay.
	if n := len(e.listAll(t, dsr.Filter{Limit: 50})); n != 1 {
		t.Fatalf("%d requests left, want 1", n)
	}
}

// testConcurrent: submissions racing for the tenant's audit chain all land, each once.
func testConcurrent(t *testing.T, e *env) {
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := e.svc.Submit(ctx, e.tenant, dsr.Input{Type: dsr.Access, Email: fmt.Sprintf("p%d@example.org", i)}, site)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	v, err := audit.Log{Table: e.table}.Verify(ctx, e.tenant)
	if err != nil || !v.OK || v.Entries != n {
		t.Fatalf("Verify = %+v, %v; want %d entries", v, err, n)
	}
}

func testMailFailure(t *testing.T, e *env) {
	e.mail.fail = errors.New("mail: transport down")
	_, err := e.svc.Submit(ctx, e.tenant, dsr.Input{Type: dsr.Access, Email: "ann@example.org"}, public)
	if err == nil || apperr.KindOf(err) != apperr.Internal {
		t.Fatalf("Submit with mail down: %v, want an internal error", err)
	}
	if strings.Contains(err.Error(), "ann@") {
		t.Fatalf("error %q names the address", err)
	}
}
