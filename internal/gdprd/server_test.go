package gdprd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/home"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/ports"
)

func TestServer(t *testing.T) {
	var banner bytes.Buffer
	s := start(t, gdprd.Config{Out: &banner})
	keys := credentials(t, s.dir)

	t.Run("Banner", func(t *testing.T) {
		for _, want := range []string{s.URL(), s.dir, home.DatabaseFile, home.OutboxDir, home.ExportsDir, gdprd.CredentialsFile} {
			if !strings.Contains(banner.String(), want) {
				t.Errorf("banner does not name %q:\n%s", want, banner.String())
			}
		}
		if strings.Contains(banner.String(), keys.SiteKey) || strings.Contains(banner.String(), keys.AdminKey) {
			t.Error("banner prints a key")
		}
	})

	t.Run("Health", func(t *testing.T) {
		r := call(t, "GET", s.URL()+"/v1/health", "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("status = %d: %s", r.status, r.body)
		}
		var h struct{ Status, Version string }
		r.json(t, &h)
		if h.Status != "ok" || h.Version == "" {
			t.Fatalf("health = %s", r.body)
		}
	})

	t.Run("OpenAPI", func(t *testing.T) {
		r := call(t, "GET", s.URL()+"/v1/openapi.json", "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("status = %d: %s", r.status, r.body)
		}
		var doc struct {
			OpenAPI string         `json:"openapi"`
			Paths   map[string]any `json:"paths"`
		}
		r.json(t, &doc)
		if !strings.HasPrefix(doc.OpenAPI, "3.1") || len(doc.Paths) == 0 {
			t.Fatalf("openapi = %q with %d paths", doc.OpenAPI, len(doc.Paths))
		}
	})

	t.Run("CredentialsFile", func(t *testing.T) {
		fi, err := os.Stat(filepath.Join(s.dir, gdprd.CredentialsFile))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
			t.Fatalf("mode = %v, want %v", got, want)
		}
		if keys.Tenant != gdprd.DemoTenant || keys.SiteKey == "" || keys.AdminKey == "" {
			t.Fatalf("credentials = tenant %q, keys present %v %v", keys.Tenant, keys.SiteKey != "", keys.AdminKey != "")
		}
	})

	consent := s.URL() + "/v1/consents/u-42"
	t.Run("NoKey", func(t *testing.T) {
		if got, want := call(t, "GET", consent, "", nil).problem(t, http.StatusUnauthorized), "unauthenticated"; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
	t.Run("BadKey", func(t *testing.T) {
		if got, want := call(t, "GET", consent, "gk_site_demo_"+strings.Repeat("A", 43), nil).problem(t, http.StatusUnauthorized), "unauthenticated"; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
		call(t, "GET", consent, "not-a-key", nil).problem(t, http.StatusUnauthorized)
	})
	t.Run("SiteKey", func(t *testing.T) {
		r := call(t, "GET", consent, keys.SiteKey, nil)
		// The stand-in answers 200; the consent function, once built, 404 for an unknown subject.
		if r.status != http.StatusOK && r.status != http.StatusNotFound {
			t.Fatalf("status = %d: %s", r.status, r.body)
		}
		if r.status == http.StatusNotFound {
			if got := r.problem(t, http.StatusNotFound); got == "not_found" {
				t.Fatalf("code = %q: the route was not found", got)
			}
		}
	})
	t.Run("SiteKeyOnAdminRoute", func(t *testing.T) {
		if got, want := call(t, "GET", s.URL()+"/v1/requests", keys.SiteKey, nil).problem(t, http.StatusForbidden), "forbidden"; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
	t.Run("AdminKey", func(t *testing.T) {
		r := call(t, "GET", s.URL()+"/v1/requests", keys.AdminKey, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status = %d: %s", r.status, r.body)
		}
	})
	t.Run("BodyTooLarge", func(t *testing.T) {
		body := []byte(`{"x":"` + strings.Repeat("a", 100<<10) + `"}`)
		if got, want := call(t, "POST", s.URL()+"/v1/consents", keys.SiteKey, body).problem(t, http.StatusRequestEntityTooLarge), "payload_too_large"; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})

	t.Run("UnknownRoute", func(t *testing.T) {
		if got, want := call(t, "GET", s.URL()+"/v1/nothing", "", nil).problem(t, http.StatusNotFound), "not_found"; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
	t.Run("WrongMethod", func(t *testing.T) {
		if got, want := call(t, "DELETE", s.URL()+"/v1/health", "", nil).problem(t, http.StatusNotFound), "not_found"; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})

	t.Run("Clock", func(t *testing.T) {
		at := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
		r := call(t, "POST", s.URL()+"/_local/clock", "", []byte(`{"now":"2031-05-06T07:08:09Z"}`))
		if r.status != http.StatusOK {
			t.Fatalf("status = %d: %s", r.status, r.body)
		}
		var c struct{ Now time.Time }
		r.json(t, &c)
		if d := c.Now.Sub(at); d < 0 || d > 5*time.Second {
			t.Fatalf("answered now = %v, want %v", c.Now, at)
		}
		if d := s.Ports().Clock.Now().Sub(at); d < 0 || d > 5*time.Second {
			t.Fatalf("handlers' clock = %v, want about %v", s.Ports().Clock.Now(), at)
		}
		r = call(t, "POST", s.URL()+"/_local/clock", "", []byte(`{"now":null}`))
		if r.status != http.StatusOK {
			t.Fatalf("status = %d: %s", r.status, r.body)
		}
		if d := time.Since(s.Ports().Clock.Now()); d < -time.Second || d > time.Second {
			t.Fatalf("clock not back to real time: %v", s.Ports().Clock.Now())
		}
		call(t, "POST", s.URL()+"/_local/clock", "", []byte(`{"now":"yesterday"}`)).problem(t, http.StatusBadRequest)
		call(t, "POST", s.URL()+"/_local/clock", "", []byte(`{"then":null}`)).problem(t, http.StatusBadRequest)
		call(t, "GET", s.URL()+"/_local/clock", "", nil).problem(t, http.StatusNotFound)
	})

	t.Run("Outbox", func(t *testing.T) {
		r := call(t, "GET", s.URL()+"/_local/outbox", "", nil)
		if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "[]" {
			t.Fatalf("empty outbox = %d %s", r.status, r.body)
		}
		for _, subject := range []string{"first", "second"} {
			if _, err := s.Ports().Mail.Send(context.Background(), mail.Message{To: "ann@example.org", Subject: subject, Text: "Verification code: 123456"}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond)
		}
		var sent []struct {
			ID, To, Subject, Text string
			SentAt                time.Time `json:"sent_at"`
		}
		call(t, "GET", s.URL()+"/_local/outbox", "", nil).json(t, &sent)
		if len(sent) != 2 {
			t.Fatalf("%d messages, want 2", len(sent))
		}
		if got, want := sent[0].Subject+","+sent[1].Subject, "second,first"; got != want {
			t.Fatalf("subjects = %s, want %s (newest first)", got, want)
		}
		if sent[0].ID == "" || sent[0].To != "ann@example.org" || !strings.Contains(sent[0].Text, "Verification code: 123456") || sent[0].SentAt.IsZero() {
			t.Fatalf("message = %+v", sent[0])
		}
	})

	t.Run("Objects", func(t *testing.T) {
		ctx := context.Background()
		key := "exports/demo/req_1/export.zip"
		if err := s.Ports().Objects.Put(ctx, key, "application/zip", strings.NewReader("zip bytes")); err != nil {
			t.Fatal(err)
		}
		link, err := s.Ports().Objects.URL(ctx, key, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(link, s.URL()+"/_local/objects/") {
			t.Fatalf("link %q is not served by this server", link)
		}
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != "zip bytes" {
			t.Fatalf("GET link = %d %q", resp.StatusCode, b)
		}
		resp, err = http.Get(link + "x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got, want := resp.StatusCode, http.StatusForbidden; got != want {
			t.Fatalf("tampered link = %d, want %d", got, want)
		}
	})

	t.Run("Jobs", func(t *testing.T) {
		call(t, "POST", s.URL()+"/_local/jobs/nothing", "", nil).problem(t, http.StatusNotFound)
		r := call(t, "POST", s.URL()+"/_local/jobs/retention", "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("status = %d: %s", r.status, r.body)
		}
		var rep struct {
			Job     string         `json:"job"`
			Deleted map[string]any `json:"deleted"`
		}
		r.json(t, &rep)
		if rep.Job != "retention" || rep.Deleted == nil {
			t.Fatalf("report = %s", r.body)
		}
	})
}

func TestRestartKeepsCredentials(t *testing.T) {
	dir := t.TempDir()
	first := start(t, gdprd.Config{DataDir: dir})
	before, err := os.ReadFile(filepath.Join(dir, gdprd.CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	first.stop(t)

	var banner bytes.Buffer
	second := start(t, gdprd.Config{DataDir: dir, Out: &banner})
	after, err := os.ReadFile(filepath.Join(dir, gdprd.CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("credentials file changed on restart")
	}
	if strings.Contains(banner.String(), "created now") {
		t.Fatalf("banner says the demo tenant was created again:\n%s", banner.String())
	}
	// The keys of the first start still resolve.
	var k struct {
		SiteKey string `json:"site_key"`
	}
	if err := json.Unmarshal(after, &k); err != nil {
		t.Fatal(err)
	}
	r := call(t, "GET", second.URL()+"/v1/consents/u-1", k.SiteKey, nil)
	if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
		t.Fatalf("the first start's site key: status = %d", r.status)
	}
}

// TestDefaultRoute: as in API Gateway, a request no route matches goes to the function of
// template.yaml's $default route (MetaFunction), with route key $default, and gets its
// problem+json 404.
func TestDefaultRoute(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []events.APIGatewayV2HTTPRequest
	)
	// The service's functions, MetaFunction's handler wrapped to see its events.
	fns := slices.Clone(gdprd.Functions)
	i := slices.IndexFunc(fns, func(f gdprd.Function) bool { return f.ID == "MetaFunction" })
	buildMeta := fns[i].HTTP
	fns[i].HTTP = func(p *ports.Ports) (lambdamain.HTTPHandler, error) {
		meta, err := buildMeta(p)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			mu.Lock()
			seen = append(seen, ev)
			mu.Unlock()
			return meta(ctx, ev)
		}, nil
	}
	s := start(t, gdprd.Config{Functions: fns})
	key := credentials(t, s.dir).SiteKey

	for _, tc := range []struct{ name, method, path string }{
		{"UnknownPath", "GET", "/v1/nothing"},
		{"WrongMethod", "DELETE", "/v1/health"},
		{"WrongMethodOfKeyedRoute", "PUT", "/v1/consents"},
		{"WrongMethodOfLocalRoute", "GET", "/_local/clock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			r := call(t, tc.method, s.URL()+tc.path, key, nil)
			if got, want := r.problem(t, http.StatusNotFound), "not_found"; got != want {
				t.Fatalf("code = %q, want %q", got, want)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 {
				t.Fatalf("MetaFunction got %d events, want 1", len(seen))
			}
			ev := seen[0]
			if got, want := ev.RouteKey, "$default"; got != want || ev.RequestContext.RouteKey != want {
				t.Fatalf("routeKey = %q, requestContext.routeKey = %q, want %q", got, ev.RequestContext.RouteKey, want)
			}
			if ev.RequestContext.HTTP.Method != tc.method || ev.RawPath != tc.path || ev.PathParameters != nil {
				t.Fatalf("event %s %s, parameters %v; want %s %s, none", ev.RequestContext.HTTP.Method, ev.RawPath, ev.PathParameters, tc.method, tc.path)
			}
			if ev.RequestContext.Authorizer != nil {
				t.Fatalf("authorizer context %+v: no authorizer runs", ev.RequestContext.Authorizer)
			}
			if got, want := r.header.Get("X-Request-Id"), ev.RequestContext.RequestID; got != want {
				t.Fatalf("X-Request-Id = %q, want the event's request id %q", got, want)
			}
		})
	}

	t.Run("TemplateWithoutDefaultRoute", func(t *testing.T) {
		s := start(t, gdprd.Config{Template: []byte(testTemplate), Functions: testFunctions(newSpy())})
		if got, want := call(t, "GET", s.URL()+"/test/nothing", "", nil).problem(t, http.StatusNotFound), "not_found"; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
}
