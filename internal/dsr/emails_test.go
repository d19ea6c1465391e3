package dsr_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/sqlite"
	"github.com/example/gdpr/internal/table/tabletest"
)

// TestEmails reads every message back: plain text and HTML with the same facts, no template
// left-overs, the operator's words escaped in HTML, nothing but ids and dates in subjects.
func TestEmails(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "gdpr.db"), tabletest.Def(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := newEnv(t, store{table: db, feed: db})
	yes := true
	r := e.submit(t, dsr.Input{Type: dsr.Restriction, Lift: &yes, Email: "ann@example.org"}, public)
	if _, err := e.svc.Extend(ctx, e.tenant, r.ID, `We need <b>two</b> systems & "more".`, audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Reject(ctx, e.tenant, r.ID, dsr.Rejection{Reason: dsr.OtherReason, Detail: "<script>x</script>"}, audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
	sent := e.mail.all()
	if len(sent) != 3 {
		t.Fatalf("%d emails, want 3", len(sent))
	}
	for i, want := range []struct{ subject, text, html string }{
		{"Confirm your request for the lifting of the restriction", "Verification code: ", "Verification code: <strong"},
		{"We need more time", `We need <b>two</b> systems & "more".`, "We need &lt;b&gt;two&lt;/b&gt; systems &amp; &#34;more&#34;."},
		{"We cannot act on your request", "Reason: the reasons explained below.\n\n<script>x</script>\n", "&lt;script&gt;x&lt;/script&gt;"},
	} {
		m := sent[i]
		t.Logf("--- %s\n%s", m.Subject, m.Text)
		if !strings.HasPrefix(m.Subject, want.subject) || strings.Contains(m.Subject, "ann@") {
			t.Errorf("subject %q, want it to start %q", m.Subject, want.subject)
		}
		if !strings.Contains(m.Text, want.text) || !strings.Contains(m.HTML, want.html) {
			t.Errorf("%s: text or HTML lacks its content:\n%s\n%s", m.Subject, m.Text, m.HTML)
		}
		for _, part := range []string{m.Subject, m.Text, m.HTML} {
			if strings.Contains(part, "<no value>") || strings.Contains(part, "{{") || strings.Contains(part, "%!") {
				t.Errorf("template left-over in %q", part)
			}
		}
		if !strings.Contains(m.Text, r.ID) || !strings.Contains(m.HTML, r.ID) || strings.HasPrefix(m.Text, "\n") {
			t.Errorf("%s: no request reference, or a leading blank line", m.Subject)
		}
	}
}
