package webtest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The operator's journey: the key once, the queue with an overdue request at the top, a
// request's record with its marketplace site's delivery, an extension with its reason and
// its place in the timeline; then sites, settings, the audit chain and policies.
func TestConsoleOperator(t *testing.T) {
	needBrowser(t)
	s := startServer(t)
	// A marketplace site that is down: the erasure waits on it, so the request stays open.
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(site.Close)
	s.call("POST", "/v1/systems", s.keys.AdminKey, map[string]any{
		"name": "shop.example.org", "url": site.URL + "/hook", "events": []string{"erasure"},
	}, http.StatusCreated, nil)

	// An erasure received 40 days ago: overdue now.
	s.subject("u-44", "carl@example.org")
	s.setClock(time.Now().AddDate(0, 0, -40))
	var late struct{ ID string }
	s.call("POST", "/v1/public/demo/requests", "", map[string]any{"type": "erasure", "email": "carl@example.org"}, http.StatusAccepted, &late)
	s.call("POST", "/v1/public/demo/requests/"+late.ID+"/verify", "", map[string]any{"code": s.code("carl@example.org")}, http.StatusOK, nil)
	s.setClock(time.Time{})
	// An access request not yet verified: due in a month, the one to extend.
	var open struct{ ID string }
	s.call("POST", "/v1/public/demo/requests", "", map[string]any{"type": "access", "email": "dora@example.org"}, http.StatusAccepted, &open)

	// The erasure has told the site and waits for it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var rec struct {
			Status     string
			Deliveries []struct{ State string }
		}
		s.call("GET", "/v1/requests/"+late.ID, s.keys.AdminKey, nil, http.StatusOK, &rec)
		if rec.Status == "processing" && len(rec.Deliveries) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the erasure did not reach its delivery: %+v", rec)
		}
		time.Sleep(100 * time.Millisecond)
	}

	p := newPage(t, s.url, 3*time.Minute)
	p.do(chromedp.Navigate(s.url + "/console"))
	p.waitFor(`document.body.dataset.ready === 'true' && !document.getElementById('signin').hidden`, 10*time.Second)
	p.axe("sign in")
	p.screenshots("console-signin")

	// A site key is refused, in words.
	p.do(chromedp.SendKeys(chromedp.ID("key"), s.keys.SiteKey), chromedp.Click(chromedp.CSS("#signin-form button[type=submit]")))
	p.waitFor(`document.getElementById('alert').textContent.includes('site key')`, 10*time.Second)
	p.do(chromedp.SetValue(chromedp.ID("key"), s.keys.AdminKey), chromedp.Click(chromedp.CSS("#signin-form button[type=submit]")))
	p.waitFor(`document.querySelector('#queue-body tr')`, 10*time.Second)

	// The key: in this tab's sessionStorage, nowhere else.
	if got := eval[string](p, `sessionStorage.getItem('gdpr.console.key')`); got != s.keys.AdminKey {
		t.Error("the admin key is not in sessionStorage")
	}
	if n := eval[int](p, `localStorage.length`); n != 0 {
		t.Errorf("localStorage has %d items", n)
	}
	if strings.Contains(eval[string](p, `location.href + document.cookie`), s.keys.AdminKey) {
		t.Error("the admin key is in the URL or a cookie")
	}

	// Soonest due first; the overdue one first and highlighted.
	ids := eval[[]string](p, `[...document.querySelectorAll('#queue-body tr')].map((r) => r.dataset.id)`)
	if len(ids) != 2 || ids[0] != late.ID || ids[1] != open.ID {
		t.Errorf("queue = %v, want [%s %s]", ids, late.ID, open.ID)
	}
	if cls := eval[string](p, `document.querySelector('#queue-body tr').className`); cls != "overdue" {
		t.Errorf("the overdue request's row has class %q", cls)
	}
	p.axe("queue")
	p.screenshots("console-queue")

	// The overdue erasure: its delivery to the site that is down.
	p.do(chromedp.Click(chromedp.CSS(`tr[data-id="` + late.ID + `"] button`)))
	p.waitFor(`document.getElementById('detail').textContent.includes('shop.example.org')`, 10*time.Second)
	if got := p.text("detail"); !strings.Contains(got, "pending") || !strings.Contains(got, "503") {
		t.Errorf("the delivery's state and error are not shown: %.400s", got)
	}
	p.axe("request with a delivery")

	// The open request: extend it with a reason, and see it in the timeline.
	p.do(chromedp.Click(chromedp.CSS(`tr[data-id="` + open.ID + `"] button`)))
	p.waitFor(`document.getElementById('extend-form')`, 10*time.Second)
	p.axe("request")
	p.do(
		chromedp.SendKeys(chromedp.ID("extend-reason"), "Many requests this month."),
		chromedp.Click(chromedp.CSS("#extend-form button[type=submit]")),
	)
	p.waitFor(`document.getElementById('status').textContent.includes('Extended')`, 10*time.Second)
	p.waitFor(`[...document.querySelectorAll('.timeline li')].some((li) => li.textContent.includes('extended'))`, 10*time.Second)
	if p.text("detail") == "" || eval[bool](p, `!!document.getElementById('extend-form')`) {
		t.Error("the extension form is still offered after the extension")
	}
	var rec struct {
		Extended        bool   `json:"extended"`
		ExtensionReason string `json:"extension_reason"`
	}
	s.call("GET", "/v1/requests/"+open.ID, s.keys.AdminKey, nil, http.StatusOK, &rec)
	if !rec.Extended || rec.ExtensionReason != "Many requests this month." {
		t.Errorf("the request after the extension: %+v", rec)
	}
	s.mailTo("dora@example.org", "Many requests this month.")
	p.axe("request extended")
	p.screenshots("console-request")

	// Marketplace sites: register one, its secret shown once.
	p.do(chromedp.Navigate(s.url + "/console#sites"))
	p.waitFor(`document.querySelector('#site-list table')`, 10*time.Second)
	p.do(
		chromedp.SendKeys(chromedp.ID("s-name"), "forum.example.org"),
		chromedp.SendKeys(chromedp.ID("s-url"), site.URL+"/forum"),
		chromedp.Click(chromedp.CSS("#site-form button[type=submit]")),
	)
	p.waitFor(`document.getElementById('secret-value')?.textContent.startsWith('whsec_')`, 10*time.Second)
	p.waitFor(`document.getElementById('site-list').textContent.includes('forum.example.org')`, 10*time.Second)
	p.axe("sites with a new secret")

	// Settings: a change saved as a merge patch.
	p.do(chromedp.Navigate(s.url + "/console#settings"))
	p.waitFor(`document.getElementById('settings-json').value.includes('export_link_days')`, 10*time.Second)
	p.do(chromedp.Evaluate[chromedp.Void](`(() => { const a = document.getElementById('settings-json');
		const v = JSON.parse(a.value); v.export_link_days = 5; a.value = JSON.stringify(v, null, 2); })()`),
		chromedp.Click(chromedp.CSS("#settings-form button[type=submit]")))
	p.waitFor(`document.getElementById('status').textContent.includes('Saved')`, 10*time.Second)
	var settings struct {
		ExportLinkDays int `json:"export_link_days"`
	}
	s.call("GET", "/v1/tenant", s.keys.AdminKey, nil, http.StatusOK, &settings)
	if settings.ExportLinkDays != 5 {
		t.Errorf("export_link_days = %d after saving 5", settings.ExportLinkDays)
	}
	p.axe("settings")

	// The audit trail and its chain.
	p.do(chromedp.Navigate(s.url + "/console#audit"))
	p.waitFor(`document.querySelector('#audit-body tr')`, 10*time.Second)
	p.do(chromedp.Click(chromedp.ID("audit-verify")))
	p.waitFor(`document.getElementById('audit-verdict')`, 10*time.Second)
	if got := p.text("audit-verdict"); !strings.Contains(got, "intact") {
		t.Errorf("audit verdict: %q", got)
	}
	p.axe("audit")

	// Policies: the routes are not on this server yet, and the section says so.
	p.do(chromedp.Navigate(s.url + "/console#policies"))
	p.waitFor(`!document.getElementById('policies').hidden`, 10*time.Second)
	p.axe("policies")

	// Signing out forgets the key.
	p.do(chromedp.Click(chromedp.ID("signout")))
	if got := eval[string](p, `sessionStorage.getItem('gdpr.console.key') || ''`); got != "" {
		t.Error("the key is still stored after signing out")
	}
}
