package dsr_test

import (
	"strings"
	"testing"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/dsr"
)

// verified submits and verifies a request for email.
func (e *env) verified(t *testing.T, email string) dsr.Request {
	t.Helper()
	r, code := e.submitCode(t, email)
	v, _, err := e.svc.Verify(ctx, e.tenant, r.ID, code)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func testFulfilment(t *testing.T, e *env) {
	r := e.verified(t, "ann@example.org")
	c, ok, err := e.svc.Claim(ctx, e.tenant, r.ID)
	if err != nil || !ok || c.Status != dsr.Processing || c.Attempts != 1 {
		t.Fatalf("Claim = %+v, %v, %v", c, ok, err)
	}
	// A crash before anything was recorded: the next claim resumes and counts.
	if c, ok, err = e.svc.Claim(ctx, e.tenant, r.ID); err != nil || !ok || c.Attempts != 2 {
		t.Fatalf("second Claim = attempts %d, %v, %v", c.Attempts, ok, err)
	}
	if _, err := e.svc.StepDone(ctx, e.tenant, r.ID, "packaged", "3 files"); err != nil {
		t.Fatal(err)
	}
	v := e.version(t, r.ID)
	s, err := e.svc.StepDone(ctx, e.tenant, r.ID, "packaged", "3 files")
	if err != nil || !s.Done("packaged") || s.Done("emailed") || len(s.Steps) != 1 {
		t.Fatalf("StepDone again = %+v, %v", s.Steps, err)
	}
	if e.version(t, r.ID) != v {
		t.Fatal("a step recorded twice was written twice")
	}
	if err := e.svc.Tell(ctx, s, "no_data", dsr.Notice{}); err != nil {
		t.Fatal(err)
	}
	if m := e.mail.last(t); m.To != "ann@example.org" || !strings.Contains(m.Text, "no personal data") || !strings.Contains(m.Text, r.ID) {
		t.Fatalf("no_data email to %q:\n%s", m.To, m.Text)
	}
	done, err := e.svc.Complete(ctx, e.tenant, r.ID, "")
	if err != nil || done.Status != dsr.Completed || done.CompletedAt == nil {
		t.Fatalf("Complete = %+v, %v", done, err)
	}
	// A record delivered again after completion finds nothing to do and writes nothing.
	v = e.version(t, r.ID)
	if _, ok, err := e.svc.Claim(ctx, e.tenant, r.ID); err != nil || ok {
		t.Fatalf("Claim of a completed request = %v, %v", ok, err)
	}
	if e.version(t, r.ID) != v {
		t.Fatal("a claim of a completed request wrote")
	}
	var events []string
	for _, ev := range e.get(t, r.ID).Timeline {
		events = append(events, ev.Event)
	}
	if got, want := strings.Join(events, ","), "received,verification_sent,verified,processing,resumed,packaged,completed"; got != want {
		t.Fatalf("timeline %s, want %s", got, want)
	}
	// A pending request is not claimed.
	p, _ := e.submitCode(t, "bob@example.org")
	if _, ok, err := e.svc.Claim(ctx, e.tenant, p.ID); err != nil || ok {
		t.Fatalf("Claim of a pending request = %v, %v", ok, err)
	}
}

func testFulfilmentFailure(t *testing.T, e *env) {
	r := e.verified(t, "ann@example.org")
	_, err := e.svc.Retry(ctx, e.tenant, r.ID, audit.ActorOperator)
	wantCode(t, err, dsr.CodeInvalidTransition)
	if _, _, err := e.svc.Claim(ctx, e.tenant, r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.StepDone(ctx, e.tenant, r.ID, "packaged", ""); err != nil {
		t.Fatal(err)
	}
	f, err := e.svc.Fail(ctx, e.tenant, r.ID, "objects store unavailable")
	if err != nil || f.Status != dsr.Failed || f.Failure != "objects store unavailable" {
		t.Fatalf("Fail = %+v, %v", f, err)
	}
	if m := e.mail.last(t); m.To != "ann@example.org" || !strings.Contains(m.Text, "passed to a person") || strings.Contains(m.Text, "objects store") {
		t.Fatalf("failure email to %q:\n%s", m.To, m.Text)
	}
	if _, ok, err := e.svc.Claim(ctx, e.tenant, r.ID); err != nil || ok {
		t.Fatalf("Claim of a failed request = %v, %v", ok, err)
	}
	entries, _, err := audit.Log{Table: e.table}.List(ctx, e.tenant, audit.Filter{RequestID: r.ID, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var failed bool
	for _, en := range entries {
		failed = failed || en.Action == "request.failed" && en.Detail["reason"] == "objects store unavailable"
	}
	if !failed {
		t.Fatalf("no request.failed entry with its reason in %+v", entries)
	}
	back, err := e.svc.Retry(ctx, e.tenant, r.ID, audit.ActorOperator)
	if err != nil || back.Status != dsr.Processing || back.Attempts != 0 || back.Failure != "" || back.CompletedAt != nil || !back.Done("packaged") {
		t.Fatalf("Retry = %+v, %v", back, err)
	}
	if c, ok, err := e.svc.Claim(ctx, e.tenant, r.ID); err != nil || !ok || c.Attempts != 1 {
		t.Fatalf("Claim after retry = %d, %v, %v", c.Attempts, ok, err)
	}
}

func testParseKey(t *testing.T, e *env) {
	r, _ := e.submitCode(t, "ann@example.org")
	pk := "T#" + e.tenant + "#R#" + r.ID
	if tn, id, ok := dsr.ParseKey(pk, "REQUEST"); !ok || tn != e.tenant || id != r.ID {
		t.Fatalf("ParseKey = %q, %q, %v", tn, id, ok)
	}
	for _, k := range [][2]string{{pk, "EXPORT"}, {"T#" + e.tenant + "#S#u-1", "REQUEST"}, {"T##R#" + r.ID, "REQUEST"}, {"T#" + e.tenant + "#R#x/y", "REQUEST"}} {
		if _, _, ok := dsr.ParseKey(k[0], k[1]); ok {
			t.Errorf("ParseKey(%q, %q) accepted", k[0], k[1])
		}
	}
}

// TestFulfilmentEmails renders every answer of fulfilment with values full of markup, and
// checks what each must say.
func TestFulfilmentEmails(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	r := e.verified(t, "ann@example.org")
	const markup = "<b>Bills</b> & co"
	n := dsr.Notice{
		DownloadURL:       "https://api.example.org/v1/public/x/requests/" + r.ID + "/export?expires=1&signature=a&b",
		DownloadExpiresAt: start.AddDate(0, 0, 7),
		Erased:            dsr.Categories,
		Retained:          []dsr.Retained{{Category: "billing", Reason: markup}},
		Systems:           []string{"shop.example.org"},
	}
	for _, c := range []struct {
		message string
		n       dsr.Notice
		want    []string
		html    []string
	}{
		{"no_data", dsr.Notice{}, []string{"no personal data", "supervisory authority"}, nil},
		{"export_ready", n, []string{n.DownloadURL, "Saturday 7 February 2026"}, []string{"signature=a&amp;b"}},
		{"erasure_receipt", n, []string{"- your profile", "- the devices", "billing: " + markup, "- shop.example.org"}, []string{"&lt;b&gt;Bills&lt;/b&gt; &amp; co"}},
		{"erasure_receipt", dsr.Notice{Erased: []string{"profile"}}, []string{"We keep nothing else"}, nil},
		{"rectification_done", n, []string{"correct"}, nil},
		{"restriction_done", n, []string{"now restricted"}, nil},
		{"restriction_lifting", n, []string{"about to lift", "Art. 18(3)"}, nil},
		{"objection_done", n, []string{"direct marketing"}, nil},
		{"failed", n, []string{"passed to a person", "Monday 2 March 2026"}, nil},
	} {
		t.Run(c.message, func(t *testing.T) {
			if err := e.svc.Tell(ctx, r, c.message, c.n); err != nil {
				t.Fatal(err)
			}
			m := e.mail.last(t)
			checkEmail(t, m, r.ID)
			for _, w := range c.want {
				if !strings.Contains(m.Text, w) {
					t.Errorf("text lacks %q:\n%s", w, m.Text)
				}
			}
			for _, w := range c.html {
				if !strings.Contains(m.HTML, w) {
					t.Errorf("HTML lacks %q:\n%s", w, m.HTML)
				}
			}
			if c.message == "erasure_receipt" && len(c.n.Systems) == 0 && strings.Contains(m.Text, "told these sites") {
				t.Errorf("a receipt without sites names them:\n%s", m.Text)
			}
		})
	}
	if err := e.svc.Tell(ctx, r, "no_such", dsr.Notice{}); err == nil {
		t.Fatal("an unknown message was sent")
	}
}
