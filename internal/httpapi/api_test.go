package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/idempotency"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sqlite"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// fixture is an API with a few routes over a real SQLite table.
type fixture struct {
	api   *httpapi.API
	db    *sqlite.DB
	calls atomic.Int64 // how often the counted route's handler ran
	clock *clock.Settable
	keys  *keysOf
}

type tenantsOf map[string]bool

func (t tenantsOf) Exists(_ context.Context, id string) (bool, error) { return t[id], nil }

// keysOf resolves the keys it lists to {tenant, role} and counts its lookups.
type keysOf struct {
	keys    map[string][2]string
	lookups atomic.Int64
}

func (k *keysOf) Resolve(_ context.Context, key string) (string, string, error) {
	k.lookups.Add(1)
	if key == failingKey {
		return "", "", errors.New("table unreachable")
	}
	tr, ok := k.keys[key]
	if !ok {
		return "", "", tenant.ErrUnknownKey
	}
	return tr[0], tr[1], nil
}

// Keys of the fixture's callers.
const (
	site       = "gk_site_acme_test"
	admin      = "gk_admin_acme_test"
	otherSite  = "gk_site_other_test"
	failingKey = "gk_site_acme_lookup_fails"
)

type echoBody struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	Inner *struct {
		Label string `json:"label"`
	} `json:"inner"`
}

// lostAnswer stores the first reservation of an idempotency key but answers as if its
// condition had failed: what a retried PutItem whose first attempt succeeded looks like.
type lostAnswer struct {
	*sqlite.DB
	done bool
}

func (l *lostAnswer) Put(ctx context.Context, it table.Item, c table.Cond) error {
	err := l.DB.Put(ctx, it, c)
	if err == nil && !l.done && it.SK == "IDEM" && c.Kind == table.IfAbsent {
		l.done = true
		return &table.ConflictError{Key: it.Key}
	}
	return err
}

func newFixture(t *testing.T) *fixture {
	return newFixtureOn(t, func(db *sqlite.DB) table.Table { return db })
}

func newFixtureOn(t *testing.T, wrap func(*sqlite.DB) table.Table) *fixture {
	t.Helper()
	db := sqlitetest.MustOpen(t)
	m, err := secrets.New([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, clock: &clock.Settable{}, keys: &keysOf{keys: map[string][2]string{
		site: {"acme", "site"}, admin: {"acme", "admin"}, otherSite: {"other", "site"},
	}}}
	f.api = httpapi.New(httpapi.Config{
		Table:   wrap(db),
		Keys:    f.keys,
		Tenants: tenantsOf{"acme": true},
		Secrets: m,
		Clock:   f.clock,
		Log:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
	},
		httpapi.Route{Key: "POST /v1/echo", Access: httpapi.Site, Handle: func(_ context.Context, r *httpapi.Request) (httpapi.Response, error) {
			f.calls.Add(1)
			var b echoBody
			if err := r.Decode(&b); err != nil {
				return httpapi.Response{}, err
			}
			if b.Name == "boom" {
				return httpapi.Response{}, errors.New("engine failure naming ann@example.org")
			}
			return httpapi.JSON(http.StatusCreated, map[string]any{"tenant": r.Tenant, "name": b.Name, "n": f.calls.Load()})
		}},
		httpapi.Route{Key: "PATCH /v1/merge", Access: httpapi.Site, MediaType: "application/merge-patch+json", Handle: func(context.Context, *httpapi.Request) (httpapi.Response, error) {
			f.calls.Add(1)
			return httpapi.JSON(http.StatusOK, map[string]string{"ok": "yes"})
		}},
		httpapi.Route{Key: "GET /v1/admin", Access: httpapi.Admin, Handle: func(context.Context, *httpapi.Request) (httpapi.Response, error) {
			return httpapi.JSON(http.StatusOK, map[string]string{"ok": "yes"})
		}},
		httpapi.Route{Key: "GET /v1/public/{tenant}/x", Access: httpapi.Public, Handle: func(_ context.Context, r *httpapi.Request) (httpapi.Response, error) {
			return httpapi.JSON(http.StatusOK, map[string]string{"tenant": r.Tenant})
		}},
		httpapi.Route{Key: "GET /v1/list", Access: httpapi.Site, Handle: func(_ context.Context, r *httpapi.Request) (httpapi.Response, error) {
			limit, err := r.Limit()
			if err != nil {
				return httpapi.Response{}, err
			}
			cur, err := r.Cursor("list")
			if err != nil {
				return httpapi.Response{}, err
			}
			page, err := db.Query(context.Background(), table.Query{PK: "T#" + r.Tenant + "#L", Limit: limit, Cursor: cur})
			if err != nil {
				return httpapi.Response{}, err
			}
			items := []string{}
			for _, it := range page.Items {
				items = append(items, it.SK)
			}
			return r.List(items, page.Next, "list")
		}},
	)
	return f
}

// event is the request API Gateway sends, with key (if any) as the Bearer key.
func event(method, routeKey, path, body, key string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: routeKey,
		RawPath:  path,
		Headers:  map[string]string{"content-type": "application/json"},
		Body:     body,
	}
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.RequestID = "rid-1"
	if key != "" {
		ev.Headers["authorization"] = "Bearer " + key
	}
	return ev
}

func call(t *testing.T, f *fixture, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, map[string]any) {
	t.Helper()
	resp, err := f.api.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	if got := resp.Headers["X-Request-Id"]; got == "" {
		t.Fatalf("no X-Request-Id header")
	}
	var body map[string]any
	if resp.Body != "" {
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatalf("body is not a JSON object: %q", resp.Body)
		}
	}
	return resp, body
}

func wantProblem(t *testing.T, resp events.APIGatewayV2HTTPResponse, body map[string]any, status int, code string) {
	t.Helper()
	if got := resp.StatusCode; got != status {
		t.Fatalf("status = %d, want %d (%s)", got, status, resp.Body)
	}
	if got := resp.Headers["Content-Type"]; got != "application/problem+json" {
		t.Fatalf("content type = %q", got)
	}
	if got := body["code"]; got != code {
		t.Fatalf("code = %v, want %s", got, code)
	}
	for _, k := range []string{"type", "title", "status", "detail"} {
		if _, ok := body[k]; !ok {
			t.Fatalf("problem lacks %q: %s", k, resp.Body)
		}
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t)
	t.Run("MissingKey", func(t *testing.T) {
		resp, body := call(t, f, event("POST", "POST /v1/echo", "/v1/echo", `{"name":"a"}`, ""))
		wantProblem(t, resp, body, 401, "unauthenticated")
	})
	t.Run("UnknownKey", func(t *testing.T) {
		resp, body := call(t, f, event("POST", "POST /v1/echo", "/v1/echo", `{"name":"a"}`, "gk_site_acme_unknown"))
		wantProblem(t, resp, body, 401, "unauthenticated")
	})
	t.Run("SiteKeyOnAdminRoute", func(t *testing.T) {
		resp, body := call(t, f, event("GET", "GET /v1/admin", "/v1/admin", "", site))
		wantProblem(t, resp, body, 403, "forbidden")
	})
	t.Run("AdminKeyOnSiteRoute", func(t *testing.T) {
		resp, _ := call(t, f, event("POST", "POST /v1/echo", "/v1/echo", `{"name":"a"}`, admin))
		if resp.StatusCode != 201 {
			t.Fatalf("status = %d", resp.StatusCode)
		}
	})
	t.Run("PublicUnknownTenant", func(t *testing.T) {
		ev := event("GET", "GET /v1/public/{tenant}/x", "/v1/public/nope/x", "", "")
		ev.PathParameters = map[string]string{"tenant": "nope"}
		resp, body := call(t, f, ev)
		wantProblem(t, resp, body, 404, "tenant_not_found")
	})
	t.Run("PublicKnownTenant", func(t *testing.T) {
		ev := event("GET", "GET /v1/public/{tenant}/x", "/v1/public/acme/x", "", "")
		ev.PathParameters = map[string]string{"tenant": "acme"}
		resp, body := call(t, f, ev)
		if resp.StatusCode != 200 || body["tenant"] != "acme" {
			t.Fatalf("got %d %s", resp.StatusCode, resp.Body)
		}
	})
	t.Run("UnknownRoute", func(t *testing.T) {
		resp, body := call(t, f, event("GET", "GET /v1/nothing", "/v1/nothing", "", site))
		wantProblem(t, resp, body, 404, "not_found")
	})
	// What API Gateway sends for a request no route matches (template.yaml's $default route):
	// no authorizer ran, any method, any path.
	t.Run("DefaultRoute", func(t *testing.T) {
		resp, body := call(t, f, event("DELETE", "$default", "/v1/echo", "", ""))
		wantProblem(t, resp, body, 404, "not_found")
		if got, want := resp.Headers["X-Request-Id"], "rid-1"; got != want {
			t.Fatalf("X-Request-Id = %q, want %q", got, want)
		}
	})
}

// TestKeyCache: a resolved key is looked up once per KeyCacheTTL on the API's clock; unknown
// keys are not remembered; a failed lookup is a 500, never a pass.
func TestKeyCache(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	get := func(key string) events.APIGatewayV2HTTPResponse {
		resp, _ := call(t, f, event("GET", "GET /v1/admin", "/v1/admin", "", key))
		return resp
	}
	if got := get(admin).StatusCode; got != 200 {
		t.Fatalf("admin key: %d", got)
	}
	get(admin)
	if got := f.keys.lookups.Load(); got != 1 {
		t.Fatalf("%d lookups for two calls within the TTL, want 1", got)
	}
	f.clock.Set(f.clock.Now().Add(httpapi.KeyCacheTTL))
	get(admin)
	if got := f.keys.lookups.Load(); got != 2 {
		t.Fatalf("%d lookups after the TTL, want 2", got)
	}
	for range 2 {
		if got := get("gk_admin_acme_unknown").StatusCode; got != 401 {
			t.Fatalf("unknown key: %d", got)
		}
	}
	if got := f.keys.lookups.Load(); got != 4 {
		t.Fatalf("%d lookups, want 4: unknown keys are asked every time", got)
	}
	resp, body := call(t, f, event("GET", "GET /v1/admin", "/v1/admin", "", failingKey))
	wantProblem(t, resp, body, 500, "internal")
}

func TestBadInput(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"Empty", "", 400, "invalid_json"},
		{"Malformed", `{"name":`, 400, "invalid_json"},
		{"Syntax", `{"name" "a"}`, 400, "invalid_json"},
		{"WrongType", `{"name":42}`, 400, "invalid_json"},
		{"UnknownField", `{"name":"a","admin":true}`, 400, "invalid_json"},
		{"TwoValues", `{"name":"a"}{"name":"b"}`, 400, "invalid_json"},
		{"NotObject", `[1,2]`, 400, "invalid_json"},
		{"TooLarge", `{"name":"` + strings.Repeat("x", httpapi.MaxBody) + `"}`, 413, "payload_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.calls.Load()
			resp, body := call(t, f, event("POST", "POST /v1/echo", "/v1/echo", tc.body, site))
			wantProblem(t, resp, body, tc.status, tc.code)
			if tc.status == 413 && f.calls.Load() != before {
				t.Fatalf("handler ran for an oversized body")
			}
		})
	}
	t.Run("WrongTypeNamesField", func(t *testing.T) {
		_, body := call(t, f, event("POST", "POST /v1/echo", "/v1/echo", `{"count":"many"}`, site))
		errs, _ := body["errors"].([]any)
		if len(errs) != 1 || errs[0].(map[string]any)["field"] != "count" {
			t.Fatalf("errors = %v", body["errors"])
		}
		if strings.Contains(body["detail"].(string), "many") {
			t.Fatalf("detail repeats the value sent: %v", body["detail"])
		}
	})
	t.Run("InternalErrorHidesText", func(t *testing.T) {
		resp, body := call(t, f, event("POST", "POST /v1/echo", "/v1/echo", `{"name":"boom"}`, site))
		wantProblem(t, resp, body, 500, "internal")
		if strings.Contains(resp.Body, "example.org") || strings.Contains(resp.Body, "engine") {
			t.Fatalf("internal error text reached the client: %s", resp.Body)
		}
	})
}

// An unknown member's name is the client's word, possibly personal data: only a name the
// request's type has somewhere is named back.
func TestUnknownField(t *testing.T) {
	f := newFixture(t)
	resp, body := call(t, f, event("POST", "POST /v1/echo", "/v1/echo", `{"name":"a","ann@example.org":true}`, site))
	wantProblem(t, resp, body, 400, "invalid_json")
	if strings.Contains(resp.Body, "ann@") || body["errors"] != nil {
		t.Fatalf("the unknown name is quoted back: %s", resp.Body)
	}
	// "label" is a field of the request, at another place: naming it helps and leaks nothing.
	resp, body = call(t, f, event("POST", "POST /v1/echo", "/v1/echo", `{"name":"a","label":"x"}`, site))
	wantProblem(t, resp, body, 400, "invalid_json")
	errs, _ := body["errors"].([]any)
	if len(errs) != 1 || errs[0].(map[string]any)["field"] != "label" {
		t.Fatalf("errors = %v", body["errors"])
	}
}

// JSON routes take JSON bodies only: a cross-site form or text/plain POST (which browsers send
// without a preflight) is refused before the handler runs, and in Lambda too.
func TestMediaType(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, route, path, method, contentType, body string
		status                                       int
	}{
		{"JSON", "POST /v1/echo", "/v1/echo", "POST", "application/json", `{"name":"a"}`, 201},
		{"JSONUTF8", "POST /v1/echo", "/v1/echo", "POST", "Application/JSON; charset=UTF-8", `{"name":"a"}`, 201},
		{"TextPlain", "POST /v1/echo", "/v1/echo", "POST", "text/plain", `{"name":"a"}`, 415},
		{"Form", "POST /v1/echo", "/v1/echo", "POST", "application/x-www-form-urlencoded", `{"name":"a"}`, 415},
		{"Multipart", "POST /v1/echo", "/v1/echo", "POST", "multipart/form-data; boundary=x", `{"name":"a"}`, 415},
		{"None", "POST /v1/echo", "/v1/echo", "POST", "", `{"name":"a"}`, 415},
		{"Latin1", "POST /v1/echo", "/v1/echo", "POST", "application/json; charset=iso-8859-1", `{"name":"a"}`, 415},
		{"MergePatch", "PATCH /v1/merge", "/v1/merge", "PATCH", "application/merge-patch+json", `{}`, 200},
		{"JSONForMergePatch", "PATCH /v1/merge", "/v1/merge", "PATCH", "application/json", `{}`, 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.calls.Load()
			ev := event(tc.method, tc.route, tc.path, tc.body, site)
			ev.Headers["content-type"] = tc.contentType
			if tc.contentType == "" {
				delete(ev.Headers, "content-type")
			}
			resp, body := call(t, f, ev)
			if tc.status != 415 {
				if resp.StatusCode != tc.status {
					t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tc.status, resp.Body)
				}
				return
			}
			wantProblem(t, resp, body, 415, "unsupported_media_type")
			if f.calls.Load() != before {
				t.Fatal("the handler ran")
			}
		})
	}
	t.Run("NoBodyNoType", func(t *testing.T) {
		ev := event("POST", "POST /v1/echo", "/v1/echo", "", site)
		delete(ev.Headers, "content-type")
		resp, body := call(t, f, ev)
		wantProblem(t, resp, body, 400, "invalid_json")
	})
}

func TestIdempotency(t *testing.T) {
	f := newFixture(t)
	post := func(key, body string) (events.APIGatewayV2HTTPResponse, map[string]any) {
		ev := event("POST", "POST /v1/echo", "/v1/echo", body, site)
		ev.Headers["idempotency-key"] = key
		return call(t, f, ev)
	}
	first, b1 := post("k1", `{"name":"a"}`)
	if first.StatusCode != 201 {
		t.Fatalf("first: %d %s", first.StatusCode, first.Body)
	}
	t.Run("ReplaySameBody", func(t *testing.T) {
		again, b2 := post("k1", `{"name":"a"}`)
		if again.StatusCode != first.StatusCode || again.Body != first.Body {
			t.Fatalf("replay = %d %s, want %d %s", again.StatusCode, again.Body, first.StatusCode, first.Body)
		}
		if b1["n"] != b2["n"] || f.calls.Load() != 1 {
			t.Fatalf("handler ran again: calls = %d", f.calls.Load())
		}
	})
	t.Run("StoredAnswerSealed", func(t *testing.T) {
		h := sha256.Sum256([]byte("k1"))
		it, err := f.db.Get(context.Background(), table.Key{PK: "T#acme#IDEM#" + base64.RawURLEncoding.EncodeToString(h[:]), SK: "IDEM"})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(it.Data), "tenant") || strings.Contains(string(it.Data), "name") {
			t.Fatalf("the stored answer is readable: %s", it.Data)
		}
	})
	t.Run("ReuseWithOtherBody", func(t *testing.T) {
		resp, body := post("k1", `{"name":"b"}`)
		wantProblem(t, resp, body, 422, "idempotency_key_reused")
	})
	t.Run("OtherTenantSameKey", func(t *testing.T) {
		ev := event("POST", "POST /v1/echo", "/v1/echo", `{"name":"a"}`, otherSite)
		ev.Headers["idempotency-key"] = "k1"
		resp, _ := call(t, f, ev)
		if resp.StatusCode != 201 {
			t.Fatalf("keys are per tenant, got %d", resp.StatusCode)
		}
	})
	t.Run("ErrorsAreReplayedToo", func(t *testing.T) {
		r1, _ := post("k2", `{"name":1}`)
		r2, _ := post("k2", `{"name":1}`)
		if r1.StatusCode != 400 || r2.StatusCode != 400 || r1.Body != r2.Body {
			t.Fatalf("got %d/%d", r1.StatusCode, r2.StatusCode)
		}
	})
	t.Run("ServerErrorsAreNotKept", func(t *testing.T) {
		before := f.calls.Load()
		post("k3", `{"name":"boom"}`)
		post("k3", `{"name":"boom"}`)
		if got := f.calls.Load() - before; got != 2 {
			t.Fatalf("handler ran %d times, want 2 (a 5xx must not be replayed)", got)
		}
	})
	t.Run("ExpiresAfter24h", func(t *testing.T) {
		f.clock.Set(f.clock.Now().Add(idempotency.TTL + 1))
		defer f.clock.Reset()
		before := f.calls.Load()
		resp, _ := post("k1", `{"name":"b"}`)
		if resp.StatusCode != 201 || f.calls.Load() != before+1 {
			t.Fatalf("an expired key was not forgotten: %d", resp.StatusCode)
		}
	})
}

func TestIdempotencyLostAnswer(t *testing.T) {
	f := newFixtureOn(t, func(db *sqlite.DB) table.Table { return &lostAnswer{DB: db} })
	ev := event("POST", "POST /v1/echo", "/v1/echo", `{"name":"a"}`, site)
	ev.Headers["idempotency-key"] = "k1"
	resp, _ := call(t, f, ev)
	if resp.StatusCode != 201 || f.calls.Load() != 1 {
		t.Fatalf("own reservation taken for another's: %d %s, %d calls", resp.StatusCode, resp.Body, f.calls.Load())
	}
	again, _ := call(t, f, ev)
	if again.Body != resp.Body || f.calls.Load() != 1 {
		t.Fatalf("replay after a lost answer: %s", again.Body)
	}
}

func TestCursor(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		it, _ := table.NewItem(table.Key{PK: "T#acme#L", SK: string(rune('a' + i))}, 0, map[string]int{"i": i})
		if err := f.db.Put(ctx, it, table.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(query map[string]string, key string) (events.APIGatewayV2HTTPResponse, map[string]any) {
		ev := event("GET", "GET /v1/list", "/v1/list", "", key)
		ev.QueryStringParameters = query
		return call(t, f, ev)
	}
	var all []any
	cursor := ""
	for pages := 0; ; pages++ {
		q := map[string]string{"limit": "2"}
		if cursor != "" {
			q["cursor"] = cursor
		}
		resp, body := list(q, site)
		if resp.StatusCode != 200 {
			t.Fatalf("page %d: %d %s", pages, resp.StatusCode, resp.Body)
		}
		all = append(all, body["items"].([]any)...)
		next, ok := body["next_cursor"].(string)
		if !ok {
			break
		}
		if strings.Contains(next, "acme") || strings.Contains(next, "T#") {
			t.Fatalf("cursor is readable: %s", next)
		}
		cursor = next
	}
	if got, want := len(all), 5; got != want {
		t.Fatalf("paged %d items, want %d", got, want)
	}
	_, first := list(map[string]string{"limit": "2"}, site)
	sealed := first["next_cursor"].(string)
	t.Run("Forged", func(t *testing.T) {
		resp, body := list(map[string]string{"cursor": sealed[:len(sealed)-2] + "xx"}, site)
		wantProblem(t, resp, body, 400, "invalid_cursor")
	})
	t.Run("OtherTenant", func(t *testing.T) {
		resp, body := list(map[string]string{"cursor": sealed}, otherSite)
		wantProblem(t, resp, body, 400, "invalid_cursor")
	})
	t.Run("BadLimit", func(t *testing.T) {
		for _, l := range []string{"0", "501", "x", "-1"} {
			resp, body := list(map[string]string{"limit": l}, site)
			wantProblem(t, resp, body, 400, "validation_failed")
		}
	})
}

// FuzzDecodeJSON: whatever the body, the strict decoder answers a value or an application
// error (a 4xx), never a panic or an internal error.
func FuzzDecodeJSON(f *testing.F) {
	for _, in := range []string{"", "{", "null", `{"name":null}`, `{"count":1e400}`, "\xff", `{"name":"a","x":1}`, `{"name":"a"} 1`} {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var v echoBody
		if err := httpapi.DecodeJSON(in, &v); err != nil {
			if e, ok := apperr.From(err); !ok || httpapi.Status(e) != 400 {
				t.Fatalf("%q: not a 400 application error: %v", in, err)
			}
		}
	})
}
