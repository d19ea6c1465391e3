// Package webtest_test drives the privacy center and the operator console in a real headless
// Chromium (chromedp) against gdprd started in the test, and checks every page state with
// axe-core (npm, installed here by `npm ci`). Outside CI, without Chromium or node_modules,
// the tests skip with one line; with CI=true they fail instead.
package webtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// outDir receives the screenshots (ignored by git).
const outDir = "testdata/out"

// axePath is axe-core as npm ci installs it.
var axePath = filepath.Join("node_modules", "axe-core", "axe.min.js")

// The one browser of this test binary: started by the first test that needs it, closed by
// TestMain.
var shared struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	dir    string
	err    error
	axe    string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cancel != nil {
		shared.cancel()
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// chromium finds Debian's chromium (or another Chrome) on PATH.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// needBrowser skips (outside CI) or fails (CI=true) when Chromium or axe-core is missing.
func needBrowser(t *testing.T) {
	t.Helper()
	var missing []string
	if chromium() == "" {
		missing = append(missing, "no chromium on PATH (apt-get install -y chromium)")
	}
	if _, err := os.Stat(axePath); err != nil {
		missing = append(missing, "no axe-core (npm ci in internal/web/webtest)")
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("browser tests need: %s; CI=true forbids skipping", strings.Join(missing, ", "))
	}
	t.Skipf("SKIP browser tests: %s", strings.Join(missing, ", "))
}

func startBrowser() {
	b, err := os.ReadFile(axePath)
	if err != nil {
		shared.err = err
		return
	}
	shared.axe = string(b)
	if shared.dir, err = os.MkdirTemp("", "webtest-chromium-"); err != nil {
		shared.err = err
		return
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium()),
		chromedp.UserDataDir(shared.dir),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800),
		// Loopback only: no name resolves to anything else, and nothing runs in the
		// background that would call out.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	shared.ctx = ctx
	shared.cancel = func() { cancelCtx(); cancelAlloc() }
	shared.err = chromedp.Do(ctx) // starts the browser
}

// page is one tab of the shared browser, watched for script errors, CSP refusals and
// requests to any other origin than base.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string
	name string

	mu       sync.Mutex
	problems []string
	requests int
}

// newPage opens a tab; its actions time out after limit in all.
func newPage(t *testing.T, base string, limit time.Duration) *page {
	t.Helper()
	needBrowser(t)
	shared.once.Do(startBrowser)
	if shared.err != nil {
		t.Fatalf("chromium: %v", shared.err)
	}
	tab, closeTab := chromedp.NewContext(shared.ctx)
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 800)); err != nil {
		closeTab()
		t.Fatalf("new tab: %v", err)
	}
	ctx, cancel := context.WithTimeout(tab, limit)
	t.Cleanup(func() { cancel(); closeTab() })
	p := &page{t: t, ctx: ctx, base: base, name: strings.ReplaceAll(t.Name(), "/", "-")}
	err := chromedp.Listen(tab, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			p.requests++
			u := e.Request.URL
			if !strings.HasPrefix(u, base+"/") && !strings.HasPrefix(u, "data:") {
				p.problems = append(p.problems, "request to another origin: "+u)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tab, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	messages := chromedp.Console(tab)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				p.mu.Lock()
				p.problems = append(p.problems, fmt.Sprintf("console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(p.check)
	return p
}

// check reports what the page did wrong over its life.
func (p *page) check() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.problems {
		p.t.Error(s)
	}
	if p.requests == 0 {
		p.t.Error("no request of the page was seen: the origin check saw nothing")
	}
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.fail("%v", err)
	}
}

// fail stops the test with a screenshot of the page as it was.
func (p *page) fail(format string, args ...any) {
	p.t.Helper()
	if shot, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100)); err == nil {
		os.MkdirAll(outDir, 0o755)
		name := filepath.Join(outDir, p.name+"-failed.png")
		os.WriteFile(name, shot, 0o644)
		format += " (screenshot " + name + ")"
	}
	p.t.Fatalf(format, args...)
}

// eval runs a script and decodes its JSON-able result.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.fail("evaluate %q: %v", expr, err)
	}
	return v
}

// waitFor waits until expr is truthy, at most limit.
func (p *page) waitFor(expr string, limit time.Duration) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(limit)))
	if err != nil {
		p.fail("waiting for %s: %v", expr, err)
	}
}

// text is the text of the element with id, trimmed.
func (p *page) text(id string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`(document.getElementById(%q)?.textContent || '').trim()`, id))
}

// violation is one axe-core finding.
type violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axe runs axe-core on the page as it is now (state names it in failures): WCAG 2.0, 2.1 and
// 2.2 A and AA, and axe's best practices. Any violation fails the test.
func (p *page) axe(state string) {
	p.t.Helper()
	for _, v := range p.violations() {
		for _, n := range v.Nodes {
			p.t.Errorf("axe, %s: %s (%s, %s) at %v: %s", state, v.ID, v.Impact, v.Help, n.Target, n.Summary)
		}
	}
}

// violations are axe-core's findings on the page as it is now.
func (p *page) violations() []violation {
	p.t.Helper()
	if !eval[bool](p, `typeof window.axe === 'object'`) {
		if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[chromedp.Void](shared.axe)); err != nil {
			p.fail("inject axe-core: %v", err)
		}
	}
	raw := eval[[]byte](p, `axe.run(document, {runOnly: {type: 'tag', values:
		['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}}).then((r) => r.violations)`)
	var vs []violation
	if err := json.Unmarshal(raw, &vs); err != nil {
		p.fail("axe result: %v", err)
	}
	return vs
}

// screenshots writes the page at phone (390x844) and desktop (1280x800) widths, whole, to
// testdata/out/<name>-phone.png and -desktop.png, and leaves the tab at desktop size.
func (p *page) screenshots(name string) {
	p.t.Helper()
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	for _, size := range []struct {
		suffix string
		w, h   int64
		mobile bool
	}{{"phone", 390, 844, true}, {"desktop", 1280, 800, false}} {
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if size.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
		}
		p.do(chromedp.EmulateViewport(size.w, size.h, opts...))
		if size.mobile {
			// Nothing may be wider than a phone: no sideways scrolling.
			if w := eval[int](p, `document.documentElement.scrollWidth`); w > int(size.w) {
				p.t.Errorf("%s: the page is %d px wide at a %d px phone width", name, w, size.w)
			}
		}
		shot, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			p.fail("screenshot: %v", err)
		}
		if err := os.WriteFile(filepath.Join(outDir, name+"-"+size.suffix+".png"), shot, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
}
