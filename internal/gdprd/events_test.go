package gdprd_test

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/samtemplate"
	"github.com/example/gdpr/internal/tenant"
)

// Placeholders the sample events carry for what only a prepared store knows: a request's id,
// its emailed verification code and the access token its verification returned.
const (
	sampleRequestID = "req_4k7m2p9q8r3s6t1v"
	sampleCode      = "482913"
	sampleToken     = "sample-access-token-not-a-real-one"
)

// sampleStore is what a sample's preparation made: the values its placeholders stand for.
type sampleStore struct {
	id, code, token string
}

// prepare readies the store of one sample. The subject samples name u-42, whose consent
// (and profile) the consent samples themselves record.
type prepare func(t *testing.T, w *eventWorld) sampleStore

// eventExpect is what a sample must answer: for an HTTP event its status, and the keys of its
// JSON body (a problem's code); for a schedule, a check of its output.
type eventExpect struct {
	prepare []prepare
	status  int
	keys    []string // top-level keys the body must have (at least)
	code    string   // problem+json code, for an error status
	output  func(t *testing.T, out json.RawMessage)
}

var (
	withSubject prepare = func(t *testing.T, w *eventWorld) sampleStore {
		w.invokeSample(t, "consent-post", 201)
		return sampleStore{}
	}
	withProfile prepare = func(t *testing.T, w *eventWorld) sampleStore {
		w.invokeSample(t, "consent-profile-put", 200)
		return sampleStore{}
	}
	withPending  prepare = func(t *testing.T, w *eventWorld) sampleStore { return w.request(t, false) }
	withVerified prepare = func(t *testing.T, w *eventWorld) sampleStore { return w.request(t, true) }
	// afterExpiry moves the clock past the deadline of an unverified request.
	afterExpiry prepare = func(t *testing.T, w *eventWorld) sampleStore {
		w.clock.Set(eventsStart.Add(dsr.UnverifiedTTL + time.Hour))
		return sampleStore{}
	}
)

// eventExpectations has one entry per file of events/, by name.
var eventExpectations = map[string]eventExpect{
	"consent-post":         {status: 201, keys: []string{"subject_id", "receipt_id"}},
	"consent-get":          {prepare: []prepare{withSubject}, status: 200, keys: []string{"subject_id", "login_allowed", "purposes"}},
	"consent-history":      {prepare: []prepare{withSubject}, status: 200, keys: []string{"items"}},
	"consent-withdraw":     {prepare: []prepare{withSubject}, status: 200, keys: []string{"subject_id", "purposes", "login_allowed"}},
	"consent-devices-post": {prepare: []prepare{withSubject}, status: 202, keys: []string{"id", "seen_at", "expires_at"}},
	"consent-profile-put":  {prepare: []prepare{withSubject}, status: 200, keys: []string{"subject_id", "email"}},
	"consent-profile-get":  {prepare: []prepare{withSubject, withProfile}, status: 200, keys: []string{"subject_id", "email", "security_questions"}},

	"meta-health":  {status: 200, keys: []string{"status"}},
	"meta-openapi": {status: 200, keys: []string{"openapi", "paths"}},
	"meta-default": {status: 404, code: "not_found"},

	"requests-public-post":   {status: 202, keys: []string{"id", "status", "due_at"}},
	"requests-post":          {prepare: []prepare{withSubject}, status: 202, keys: []string{"id", "status", "due_at"}},
	"requests-public-verify": {prepare: []prepare{withPending}, status: 200, keys: []string{"id", "status", "access_token"}},
	"requests-public-get":    {prepare: []prepare{withVerified}, status: 200, keys: []string{"id", "status", "due_at"}},
	"requests-get":           {prepare: []prepare{withVerified}, status: 200, keys: []string{"id", "status", "timeline"}},
	"requests-list":          {prepare: []prepare{withVerified}, status: 200, keys: []string{"items"}},
	"requests-extend":        {prepare: []prepare{withVerified}, status: 200, keys: []string{"id", "due_at", "extended"}},
	"requests-reject":        {prepare: []prepare{withVerified}, status: 200, keys: []string{"id", "status", "rejection"}},
	"requests-audit":         {prepare: []prepare{withVerified}, status: 200, keys: []string{"items"}},
	"requests-audit-verify":  {prepare: []prepare{withVerified}, status: 200, keys: []string{"ok", "entries"}},

	"retention-schedule": {prepare: []prepare{withPending, afterExpiry}, output: func(t *testing.T, out json.RawMessage) {
		var rep struct {
			Job     string
			Tenants int
			Expired map[string]int
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Job != "retention" || rep.Tenants != 1 || rep.Expired[dsr.KindRequests] != 1 {
			t.Fatalf("retention report %s, want job retention, 1 tenant, 1 request expired", out)
		}
	}},

	// The Lambda authorizer's samples (they go with internal/authorizer).
	"authorizer-request":     {output: authorizerAnswer(true)},
	"authorizer-missing-key": {output: authorizerAnswer(true)},
}

// authorizerAnswer checks the authorizer's simple response: it always authorizes, and leaves
// 401/403 to the HTTP layer (DESIGN.md); the sample keys are no real keys, so no tenant.
func authorizerAnswer(authorized bool) func(t *testing.T, out json.RawMessage) {
	return func(t *testing.T, out json.RawMessage) {
		var resp struct {
			IsAuthorized bool              `json:"isAuthorized"`
			Context      map[string]string `json:"context"`
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.IsAuthorized != authorized || resp.Context["tenant"] != "" {
			t.Fatalf("authorizer answered %s, want isAuthorized %v and no tenant", out, authorized)
		}
	}
}

var eventsStart = time.Date(2026, 11, 28, 16, 47, 0, 0, time.UTC)

// eventWorld is one sample's store: a runner of its own on a new data folder, with the demo
// tenant the samples name.
type eventWorld struct {
	runner *gdprd.Runner
	clock  *clock.Settable
	byName map[string]string // sample name → function
}

// TestEvents invokes every sample event in events/ (named <function folder>-<what>.json)
// through its function's handler, as `make invoke` and `sam local invoke -e` do, each on a
// store prepared for it, and checks its answer: the status and body shape for an HTTP event,
// the output for a schedule.
func TestEvents(t *testing.T) {
	files, err := filepath.Glob("../../events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no events in events/")
	}
	tmpl, err := samtemplate.Parse(gdpr.Template)
	if err != nil {
		t.Fatal(err)
	}
	byFolder := map[string]string{}
	for _, f := range tmpl.Functions() {
		byFolder[path.Base(f.Folder)] = f.LogicalID
	}
	byName := map[string]string{}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		folder, _, _ := strings.Cut(name, "-")
		fn, ok := byFolder[folder]
		if !ok {
			t.Fatalf("%s: no function in template.yaml lives in functions/%s", name, folder)
		}
		byName[name] = fn
	}
	if got, want := slices.Sorted(maps.Keys(eventExpectations)), slices.Sorted(maps.Keys(byName)); !slices.Equal(got, want) {
		t.Fatalf("expectations for %v, samples %v: keep eventExpectations in step with events/", got, want)
	}

	for name, fn := range byName {
		t.Run(name, func(t *testing.T) {
			want := eventExpectations[name]
			w := newEventWorld(t, byName)
			kind, built := w.runner.Kind(fn)
			if !built {
				t.Fatalf("%s has sample events but handlers.All does not build it", fn)
			}
			var st sampleStore
			for _, p := range want.prepare {
				if s := p(t, w); s != (sampleStore{}) {
					st = s
				}
			}
			out := w.invoke(t, name, st)
			if kind != gdprd.KindHTTP {
				if want.output == nil {
					t.Fatalf("%s: no check of the output of %s", name, fn)
				}
				want.output(t, out)
				return
			}
			checkHTTPAnswer(t, name, out, want)
		})
	}
}

func newEventWorld(t *testing.T, byName map[string]string) *eventWorld {
	t.Helper()
	clk := &clock.Settable{Frozen: true}
	clk.Set(eventsStart)
	r, err := gdprd.NewRunner(context.Background(), gdprd.Config{DataDir: t.TempDir(), Env: env(nil), Addr: "127.0.0.1:3000"}, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	// The events name tenant demo, as `make run` creates it.
	if _, _, err := (tenant.Store{Table: r.Ports.Table, Clock: clk}).Create(context.Background(), gdprd.DemoTenant); err != nil {
		t.Fatal(err)
	}
	return &eventWorld{runner: r, clock: clk, byName: byName}
}

// invoke runs a sample with its placeholders bound to what the store holds.
func (w *eventWorld) invoke(t *testing.T, name string, st sampleStore) json.RawMessage {
	t.Helper()
	payload, err := os.ReadFile(filepath.Join("../../events", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for placeholder, value := range map[string]string{sampleRequestID: st.id, sampleCode: st.code, sampleToken: st.token} {
		if value != "" {
			pairs = append(pairs, placeholder, value)
		}
	}
	payload = []byte(strings.NewReplacer(pairs...).Replace(string(payload)))
	out, err := w.runner.Invoke(context.Background(), w.byName[name], payload)
	if err != nil {
		t.Fatalf("%s failed: %v", name, err)
	}
	if !json.Valid(out) {
		t.Fatalf("%s answered with something other than JSON: %s", name, out)
	}
	return out
}

// invokeSample runs another sample as a step of preparation, which must answer status.
func (w *eventWorld) invokeSample(t *testing.T, name string, status int) {
	t.Helper()
	if got := httpAnswer(t, name, w.invoke(t, name, sampleStore{})); got.StatusCode != status {
		t.Fatalf("preparing with %s: status %d, want %d: %s", name, got.StatusCode, status, got.Body)
	}
}

// request stores a public access request of the demo tenant, verified or not, and returns its
// id, code and (once verified) access token.
func (w *eventWorld) request(t *testing.T, verify bool) sampleStore {
	t.Helper()
	ctx := context.Background()
	p := w.runner.Ports
	codes := &codeMail{}
	svc := &dsr.Service{Table: p.Table, Tenants: tenant.Store{Table: p.Table, Clock: w.clock}, Mail: codes, Clock: w.clock, Secrets: p.Secrets}
	r, err := svc.Submit(ctx, gdprd.DemoTenant, dsr.Input{Type: dsr.Access, Email: "ann@example.org"}, dsr.Caller{Actor: audit.ActorSubject, Source: "203.0.113.9"})
	if err != nil {
		t.Fatal(err)
	}
	st := sampleStore{id: r.ID, code: codes.code(t)}
	if verify {
		if _, st.token, err = svc.Verify(ctx, gdprd.DemoTenant, r.ID, st.code); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// codeMail keeps the verification code of the last message sent.
type codeMail struct {
	mu   sync.Mutex
	text string
}

func (c *codeMail) Send(_ context.Context, m mail.Message) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.text = m.Text
	return "1", m.Validate()
}

func (c *codeMail) code(t *testing.T) string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	m := codeLine.FindStringSubmatch(c.text)
	if m == nil {
		t.Fatalf("no verification code in %q", c.text)
	}
	return m[1]
}

type httpResponse struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

func httpAnswer(t *testing.T, name string, out json.RawMessage) httpResponse {
	t.Helper()
	var resp httpResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return resp
}

func checkHTTPAnswer(t *testing.T, name string, out json.RawMessage, want eventExpect) {
	t.Helper()
	resp := httpAnswer(t, name, out)
	if resp.StatusCode != want.status {
		t.Fatalf("%s answered %d, want %d: %s", name, resp.StatusCode, want.status, resp.Body)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("%s answered a body that is not a JSON object (%v): %s", name, err, resp.Body)
	}
	for _, k := range want.keys {
		if _, ok := body[k]; !ok {
			t.Errorf("%s: the answer has no %q: %s", name, k, resp.Body)
		}
	}
	if want.status >= 400 {
		if got := body["code"]; got != want.code {
			t.Errorf("%s: problem code %v, want %s", name, got, want.code)
		}
		if ct := resp.Headers["Content-Type"] + resp.Headers["content-type"]; ct != "application/problem+json" {
			t.Errorf("%s: content type %q, want application/problem+json", name, ct)
		}
	}
}
