package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/policy"
)

// TestNotice: what changes, when, the link and how to object or withdraw, in both parts;
// every value escaped in the HTML part; the contact paragraph only with a DPO.
func TestNotice(t *testing.T) {
	p := policy.Policy{Version: "2026-02", URL: "https://example.org/p?a=1&b=2", Summary: "Logs kept 60 days & \"more\".\nSecond line.",
		EffectiveAt: time.Date(2026, 12, 29, 16, 47, 0, 0, time.UTC), Material: true}
	m, err := renderNotice("xx", noticeData{Tenant: "acme", Policy: p, DPO: "dpo@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2026-02", "Tuesday 29 December 2026 at 16:47 UTC", p.Summary, p.URL, "withdraw", "object", "dpo@example.org", "ask you to accept"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	for _, want := range []string{"Logs kept 60 days &amp; &#34;more&#34;.<br>\nSecond line.", `<a href="https://example.org/p?a=1&amp;b=2">`} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, m.HTML)
		}
	}
	if strings.Contains(m.HTML, `"more"`) || m.Subject != "acme is changing its privacy policy on Tuesday 29 December 2026" {
		t.Errorf("subject %q, or a value unescaped in the HTML", m.Subject)
	}
	p.Material = false
	if m, err = renderNotice(defaultLocale, noticeData{Tenant: "acme", Policy: p}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.Text, "data protection officer") || !strings.Contains(m.Text, "You need to do nothing") {
		t.Errorf("minor change without a DPO:\n%s", m.Text)
	}
}
