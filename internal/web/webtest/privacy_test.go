package webtest_test

import (
	"archive/zip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// The whole journey of a subject who asks for their data: the page, the right, the email,
// a wrong code, the right code, the status, the export, the download; the ZIP holds the
// subject's data.
func TestPrivacyCenterAccess(t *testing.T) {
	needBrowser(t)
	s := startServer(t)
	s.subject("u-42", "ann@example.org")
	p := newPage(t, s.url, 3*time.Minute)

	p.do(chromedp.Navigate(s.url + "/privacy/demo"))
	p.waitFor(`document.body.dataset.ready === 'true'`, 10*time.Second)
	if lang := eval[string](p, `document.documentElement.lang`); lang != "en" {
		t.Errorf("lang = %q, want en", lang)
	}
	p.axe("form")
	p.screenshots("privacy-form")

	// Keyboard only: the first Tab reaches the skip link.
	p.do(chromedp.KeyEvent("\t"))
	if got := eval[string](p, `document.activeElement.className`); got != "skip" {
		t.Errorf("first Tab focuses %q, want the skip link", got)
	}

	// Submitting with nothing chosen says what is missing.
	p.do(chromedp.Click(chromedp.ID("ask-submit")))
	p.waitFor(`document.getElementById('alert').textContent.includes('choose')`, 5*time.Second)

	p.do(
		chromedp.Click(chromedp.ID("right-access")),
		chromedp.SendKeys(chromedp.ID("email"), "ann@example.org"),
		chromedp.Click(chromedp.ID("ask-submit")),
	)
	p.waitFor(`!document.getElementById('verify').hidden`, 10*time.Second)
	p.axe("verify")
	p.screenshots("privacy-verify")

	// A wrong code is explained, and the field is marked.
	p.do(chromedp.SendKeys(chromedp.ID("code"), "not-the-code"), chromedp.Click(chromedp.ID("verify-submit")))
	p.waitFor(`document.getElementById('alert').textContent.includes('not right')`, 10*time.Second)
	if eval[string](p, `document.getElementById('code').getAttribute('aria-invalid')`) != "true" {
		t.Error("the wrong code's field is not marked invalid")
	}
	p.axe("wrong code")

	code := s.code("ann@example.org")
	p.do(chromedp.SetValue(chromedp.ID("code"), code), chromedp.Click(chromedp.ID("verify-submit")))
	p.waitFor(`!document.getElementById('status').hidden`, 10*time.Second)
	p.waitFor(`document.getElementById('download')`, 60*time.Second)
	if st := eval[string](p, `document.getElementById('status-live').dataset.status`); st != "completed" {
		t.Errorf("status = %q, want completed", st)
	}
	if !strings.Contains(p.text("status-live"), "We answer by") && !strings.Contains(p.text("status-live"), "Closed") {
		t.Errorf("the status shows no date: %q", p.text("status-live"))
	}
	p.axe("status with download")
	p.screenshots("privacy-status")

	// The access token lives in this tab's sessionStorage only.
	stored := eval[string](p, `sessionStorage.getItem('gdpr.privacy.demo') || ''`)
	var saved struct{ ID, Token string }
	if err := json.Unmarshal([]byte(stored), &saved); err != nil || saved.Token == "" {
		t.Errorf("sessionStorage holds no access token: %q", stored)
	}
	if n := eval[int](p, `localStorage.length`); n != 0 {
		t.Errorf("localStorage has %d items, want none", n)
	}
	if strings.Contains(eval[string](p, `location.href`), saved.Token) {
		t.Error("the access token is in the URL")
	}

	// The download, by the browser: the link, the redirect, the file.
	dir := t.TempDir()
	on := true
	if _, err := chromedp.CallBrowser(p.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir, EventsEnabled: &on,
	}); err != nil {
		t.Fatal(err)
	}
	p.do(chromedp.Click(chromedp.ID("download")))
	zipPath := waitDownload(t, dir, 30*time.Second)
	checkExport(t, zipPath, "ann@example.org")
}

// waitDownload waits for a finished download in dir.
func waitDownload(t *testing.T, dir string, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".crdownload") && !strings.HasPrefix(e.Name(), ".") {
				return filepath.Join(dir, e.Name())
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no download in %s after %s", dir, limit)
	return ""
}

// checkExport opens the ZIP and checks that data.json holds the subject's data.
func checkExport(t *testing.T, path, email string) {
	t.Helper()
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("the download is no ZIP: %v", err)
	}
	defer z.Close()
	var names []string
	for _, f := range z.File {
		names = append(names, f.Name)
		if f.Name != "data.json" {
			continue
		}
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		var data map[string]any
		if err := json.Unmarshal(b, &data); err != nil {
			t.Fatalf("data.json: %v", err)
		}
		if data["schema_version"] == nil {
			t.Error("data.json has no schema_version")
		}
		if !strings.Contains(string(b), email) || !strings.Contains(string(b), "+44 20 7946 0000") {
			t.Errorf("data.json lacks the subject's profile: %.300s", b)
		}
	}
	for _, want := range []string{"data.json", "processing.json", "index.html"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("the ZIP has no %s: %v", want, names)
		}
	}
}

// An erasure, from the page to its end: afterwards the service holds no consent of the subject.
func TestPrivacyCenterErasure(t *testing.T) {
	needBrowser(t)
	s := startServer(t)
	s.subject("u-43", "bob@example.org")
	p := newPage(t, s.url, 2*time.Minute)

	p.do(chromedp.Navigate(s.url + "/privacy/demo"))
	p.waitFor(`document.body.dataset.ready === 'true'`, 10*time.Second)
	p.do(
		chromedp.Click(chromedp.ID("right-erasure")),
		chromedp.SendKeys(chromedp.ID("email"), "bob@example.org"),
		chromedp.Click(chromedp.ID("ask-submit")),
	)
	p.waitFor(`!document.getElementById('verify').hidden`, 10*time.Second)
	p.do(chromedp.SendKeys(chromedp.ID("code"), s.code("bob@example.org")), chromedp.Click(chromedp.ID("verify-submit")))
	p.waitFor(`document.getElementById('status-live').dataset.status === 'completed'`, 60*time.Second)
	if got := p.text("status-words"); !strings.Contains(got, "Done") {
		t.Errorf("completed erasure says %q", got)
	}
	p.axe("erasure completed")
	s.call("GET", "/v1/consents/u-43", s.keys.SiteKey, nil, http.StatusNotFound, nil)
}

// Rectification shows its fields; a field the API refuses is marked by name; an unknown
// tenant is said so.
func TestPrivacyCenterErrors(t *testing.T) {
	needBrowser(t)
	s := startServer(t)
	p := newPage(t, s.url, time.Minute)

	p.do(chromedp.Navigate(s.url + "/privacy/demo"))
	p.waitFor(`document.body.dataset.ready === 'true'`, 10*time.Second)
	p.do(chromedp.Click(chromedp.ID("right-rectification")))
	p.waitFor(`!document.getElementById('rectify').hidden`, 5*time.Second)
	p.do(
		chromedp.SendKeys(chromedp.ID("email"), "not-an-address"),
		chromedp.SendKeys(chromedp.ID("fix-phone"), "+44 20 7946 0001"),
		chromedp.Click(chromedp.ID("ask-submit")),
	)
	p.waitFor(`document.getElementById('email').getAttribute('aria-invalid') === 'true'`, 10*time.Second)
	if !strings.Contains(p.text("alert"), "check the fields") {
		t.Errorf("alert = %q", p.text("alert"))
	}
	p.axe("rectification with a refused field")

	// An unknown tenant is said on load (the public policy route answers tenant_not_found),
	// with no form to fill in.
	p.do(chromedp.Navigate(s.url + "/privacy/no-such-tenant"))
	p.waitFor(`document.body.dataset.ready === 'true'`, 10*time.Second)
	p.waitFor(`document.getElementById('alert').textContent.includes('no privacy center')`, 10*time.Second)
	p.waitFor(`document.getElementById('ask').hidden`, 5*time.Second)
	p.axe("unknown tenant")

	// The checker itself sees a field without a label.
	p.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('main').append(document.createElement('input'))`))
	found := false
	for _, v := range p.violations() {
		found = found || v.ID == "label"
	}
	if !found {
		t.Error("axe did not report an input without a label")
	}
}

// TestPrivacyCenterPolicy: the policy in effect and the next one announced, with its date,
// as the public policy route gives them.
func TestPrivacyCenterPolicy(t *testing.T) {
	needBrowser(t)
	s := startServer(t)
	effective := time.Now().UTC().AddDate(0, 0, 45).Truncate(time.Second)
	s.call("POST", "/v1/policies", s.keys.AdminKey, map[string]any{
		"version": "2027-01", "url": "https://example.org/privacy/2027-01",
		"summary": "Device logs are kept for 60 days, not 90.", "effective_at": effective.Format(time.RFC3339), "material": true,
	}, http.StatusCreated, nil)
	p := newPage(t, s.url, time.Minute)
	p.do(chromedp.Navigate(s.url + "/privacy/demo"))
	p.waitFor(`document.body.dataset.ready === 'true'`, 10*time.Second)
	p.waitFor(`!document.getElementById('policy').hidden`, 10*time.Second)
	text := p.text("policy")
	for _, want := range []string{"2027-01", "Device logs are kept for 60 days, not 90.", strconv.Itoa(effective.Year())} {
		if !strings.Contains(text, want) {
			t.Errorf("policy section lacks %q: %q", want, text)
		}
	}
	p.axe("policy announced")
}
