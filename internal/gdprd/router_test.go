package gdprd

import (
	"encoding/base64"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/httpapi"
)

func mustRouter(t *testing.T, keys ...string) *router {
	t.Helper()
	rt := &router{}
	for _, k := range keys {
		method, path, _ := strings.Cut(k, " ")
		r, err := compileRoute(method, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.add(r); err != nil {
			t.Fatal(err)
		}
	}
	return rt
}

func TestRouter(t *testing.T) {
	rt := mustRouter(t,
		"GET /v1/consents/{subject_id}",
		"GET /v1/consents/{subject_id}/history",
		"POST /v1/consents",
		"GET /v1/requests/{id}",
		"GET /v1/requests/open",
		"ANY /v1/files/{proxy+}",
		"GET /v1/files/{proxy+}",
	)
	for _, tc := range []struct {
		name, method, path string
		key                string // "" when nothing matches
		params             map[string]string
	}{
		{"Literal", "POST", "/v1/consents", "POST /v1/consents", nil},
		{"Param", "GET", "/v1/consents/u-42", "GET /v1/consents/{subject_id}", map[string]string{"subject_id": "u-42"}},
		{"ParamDecoded", "GET", "/v1/consents/a%2Fb%20c", "GET /v1/consents/{subject_id}", map[string]string{"subject_id": "a/b c"}},
		{"Deeper", "GET", "/v1/consents/u-42/history", "GET /v1/consents/{subject_id}/history", map[string]string{"subject_id": "u-42"}},
		{"LiteralBeatsParam", "GET", "/v1/requests/open", "GET /v1/requests/open", nil},
		{"ParamBesideLiteral", "GET", "/v1/requests/r1", "GET /v1/requests/{id}", map[string]string{"id": "r1"}},
		{"Greedy", "GET", "/v1/files/a/b/c", "GET /v1/files/{proxy+}", map[string]string{"proxy": "a/b/c"}},
		{"MethodBeatsAny", "GET", "/v1/files/x", "GET /v1/files/{proxy+}", map[string]string{"proxy": "x"}},
		{"Any", "DELETE", "/v1/files/x", "ANY /v1/files/{proxy+}", map[string]string{"proxy": "x"}},
		{"GreedyNeedsASegment", "GET", "/v1/files", "", nil},
		{"WrongMethod", "DELETE", "/v1/consents", "", nil},
		{"Unknown", "GET", "/v1/nothing", "", nil},
		{"TrailingSlash", "POST", "/v1/consents/", "", nil},
		{"EmptyParam", "GET", "/v1/consents/", "", nil},
		{"TooLong", "GET", "/v1/consents/u-42/history/x", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, params, ok := rt.find(tc.method, tc.path)
			if tc.key == "" {
				if ok {
					t.Fatalf("found %s, want nothing", r.key)
				}
				return
			}
			if !ok {
				t.Fatalf("found nothing, want %s", tc.key)
			}
			if got, want := r.key, tc.key; got != want {
				t.Fatalf("route = %s, want %s", got, want)
			}
			if !maps.Equal(params, tc.params) {
				t.Fatalf("params = %v, want %v", params, tc.params)
			}
		})
	}
}

func TestCompileRoute(t *testing.T) {
	for _, path := range []string{"v1/x", "/v1/{a", "/v1/{}", "/v1/{p+}/x", "/v1/a{b}"} {
		t.Run(path, func(t *testing.T) {
			if _, err := compileRoute("GET", path); err == nil {
				t.Fatal("no error")
			}
		})
	}
	t.Run("ErrTwice", func(t *testing.T) {
		rt := mustRouter(t, "GET /a")
		r, _ := compileRoute("GET", "/a")
		if err := rt.add(r); err == nil {
			t.Fatal("no error for a route added twice")
		}
	})
}

func TestHTTPEvent(t *testing.T) {
	body := "{\"a\":1}"
	r := httptest.NewRequest("POST", "http://127.0.0.1:3000/v1/consents/u%2042?limit=5&tag=a&tag=b&q=x%20y", strings.NewReader(body))
	r.RemoteAddr = "192.0.2.7:51234"
	r.Header.Set("Authorization", "Bearer k")
	r.Header.Add("X-Multi", "one")
	r.Header.Add("X-Multi", "two")
	r.Header.Add("Cookie", "a=1; b=2")
	r.Header.Set("User-Agent", "test/1")
	rt := &route{key: "POST /v1/consents/{subject_id}"}
	now := time.Date(2026, 11, 28, 16, 47, 0, 0, time.UTC)
	ev := httpEvent(r, rt, map[string]string{"subject_id": "u 42"}, []byte(body), "rid", now)

	for _, c := range []struct{ name, got, want string }{
		{"version", ev.Version, "2.0"},
		{"routeKey", ev.RouteKey, rt.key},
		{"rawPath", ev.RawPath, "/v1/consents/u%2042"},
		{"rawQueryString", ev.RawQueryString, "limit=5&tag=a&tag=b&q=x%20y"},
		{"authorization", ev.Headers["authorization"], "Bearer k"},
		{"x-multi", ev.Headers["x-multi"], "one,two"},
		{"host", ev.Headers["host"], "127.0.0.1:3000"},
		{"x-forwarded-for", ev.Headers["x-forwarded-for"], "192.0.2.7"},
		{"cookie header", ev.Headers["cookie"], ""},
		{"cookies", strings.Join(ev.Cookies, "|"), "a=1|b=2"},
		{"query tag", ev.QueryStringParameters["tag"], "a,b"},
		{"query q", ev.QueryStringParameters["q"], "x y"},
		{"path param", ev.PathParameters["subject_id"], "u 42"},
		{"requestContext.routeKey", ev.RequestContext.RouteKey, rt.key},
		{"stage", ev.RequestContext.Stage, "$default"},
		{"requestId", ev.RequestContext.RequestID, "rid"},
		{"time", ev.RequestContext.Time, "28/Nov/2026:16:47:00 +0000"},
		{"method", ev.RequestContext.HTTP.Method, "POST"},
		{"http.path", ev.RequestContext.HTTP.Path, "/v1/consents/u%2042"},
		{"protocol", ev.RequestContext.HTTP.Protocol, "HTTP/1.1"},
		{"sourceIp", ev.RequestContext.HTTP.SourceIP, "192.0.2.7"},
		{"userAgent", ev.RequestContext.HTTP.UserAgent, "test/1"},
		{"body", ev.Body, body},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if got, want := ev.RequestContext.TimeEpoch, now.UnixMilli(); got != want {
		t.Errorf("timeEpoch = %d, want %d", got, want)
	}
	if ev.IsBase64Encoded {
		t.Error("a UTF-8 body is base64-encoded")
	}

	t.Run("BinaryBody", func(t *testing.T) {
		bin := []byte{0xff, 0xfe, 0x00}
		ev := httpEvent(r, rt, nil, bin, "rid", now)
		if !ev.IsBase64Encoded {
			t.Fatal("isBase64Encoded = false for a body that is not UTF-8")
		}
		if got, want := ev.Body, base64.StdEncoding.EncodeToString(bin); got != want {
			t.Fatalf("body = %q, want %q", got, want)
		}
	})
}

func TestReadBody(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 3*httpapi.MaxBody)))
	b, err := readBody(r)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(b), httpapi.MaxBody+1; got != want {
		t.Fatalf("read %d bytes, want %d", got, want)
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want time.Duration
	}{
		{"rate(1 minute)", time.Minute},
		{"rate(5 minutes)", 5 * time.Minute},
		{"rate(1 hour)", time.Hour},
		{"rate(12 hours)", 12 * time.Hour},
		{"rate(1 day)", 24 * time.Hour},
		{"rate(7 days)", 7 * 24 * time.Hour},
	} {
		got, err := parseRate(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got != tc.want {
			t.Fatalf("%s = %v, want %v", tc.expr, got, tc.want)
		}
	}
	for _, expr := range []string{"rate(0 minutes)", "rate(1 minutes)", "rate(2 minute)", "rate(1 week)", "rate(x hours)", "cron(0 * * * ? *)", "rate(1hour)"} {
		if _, err := parseRate(expr); err == nil {
			t.Fatalf("%s: no error", expr)
		}
	}
}
