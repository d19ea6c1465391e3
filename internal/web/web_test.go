package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/web"
)

func serve(t *testing.T, routeKey, path string, params, headers map[string]string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	routes, err := web.Routes()
	if err != nil {
		t.Fatal(err)
	}
	// As MetaFunction builds it: no table, no keys, no tenant reader.
	api := httpapi.New(httpapi.Config{Clock: clock.System{}, Log: slog.New(slog.DiscardHandler)}, routes...)
	ev := events.APIGatewayV2HTTPRequest{RouteKey: routeKey, RawPath: path, PathParameters: params, Headers: headers}
	ev.RequestContext.HTTP.Method = http.MethodGet
	resp, err := api.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestPagesAndHeaders(t *testing.T) {
	for _, c := range []struct {
		key, path string
		params    map[string]string
		mediaType string
		contains  string
	}{
		{"GET /privacy/{tenant}", "/privacy/demo", map[string]string{"tenant": "demo"}, "text/html; charset=utf-8", `src="/assets/privacy.js"`},
		{"GET /privacy/{tenant}", "/privacy/nobody", map[string]string{"tenant": "nobody"}, "text/html; charset=utf-8", `src="/assets/privacy.js"`},
		{"GET /console", "/console", nil, "text/html; charset=utf-8", `src="/assets/console.js"`},
		{"GET /assets/{file}", "/assets/privacy.js", map[string]string{"file": "privacy.js"}, "text/javascript; charset=utf-8", "sessionStorage"},
		{"GET /assets/{file}", "/assets/style.css", map[string]string{"file": "style.css"}, "text/css; charset=utf-8", ":root"},
		{"GET /assets/{file}", "/assets/lang-en.json", map[string]string{"file": "lang-en.json"}, "application/json; charset=utf-8", `"privacy"`},
	} {
		resp := serve(t, c.key, c.path, c.params, nil)
		if resp.StatusCode != http.StatusOK || resp.Headers["Content-Type"] != c.mediaType || !strings.Contains(resp.Body, c.contains) {
			t.Errorf("%s: %d %q, body has %q: %t", c.path, resp.StatusCode, resp.Headers["Content-Type"], c.contains, strings.Contains(resp.Body, c.contains))
		}
		want := map[string]string{
			"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"Cache-Control":           "no-cache",
		}
		for h, v := range want {
			if resp.Headers[h] != v {
				t.Errorf("%s: %s = %q, want %q", c.path, h, resp.Headers[h], v)
			}
		}
		if resp.Headers["ETag"] == "" || resp.Headers["X-Request-Id"] == "" {
			t.Errorf("%s: no ETag or X-Request-Id: %v", c.path, resp.Headers)
		}
		// The browser's copy is current: 304, no body.
		again := serve(t, c.key, c.path, c.params, map[string]string{"if-none-match": `"other", ` + resp.Headers["ETag"]})
		if again.StatusCode != http.StatusNotModified || again.Body != "" {
			t.Errorf("%s with its ETag: %d %q", c.path, again.StatusCode, again.Body)
		}
		if stale := serve(t, c.key, c.path, c.params, map[string]string{"if-none-match": `"other"`}); stale.StatusCode != http.StatusOK {
			t.Errorf("%s with another ETag: %d", c.path, stale.StatusCode)
		}
	}
}

// No markup of the pages carries a script or style inline: the CSP would refuse it.
func TestNoInlineScriptOrStyle(t *testing.T) {
	for _, path := range []string{"/privacy/demo", "/console"} {
		key, params := "GET /console", map[string]string(nil)
		if path != "/console" {
			key, params = "GET /privacy/{tenant}", map[string]string{"tenant": "demo"}
		}
		body := serve(t, key, path, params, nil).Body
		for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onload=", " onsubmit=", "javascript:"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s has %q", path, bad)
			}
		}
	}
}

func TestUnknownAsset(t *testing.T) {
	resp := serve(t, "GET /assets/{file}", "/assets/secret.txt", map[string]string{"file": "secret.txt"}, nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(resp.Body, `"code":"file_not_found"`) {
		t.Errorf("unknown asset: %d %s", resp.StatusCode, resp.Body)
	}
	resp = serve(t, "GET /assets/{file}", "/assets/..%2Fprivacy.html", map[string]string{"file": "../privacy.html"}, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a path out of assets/: %d", resp.StatusCode)
	}
}
