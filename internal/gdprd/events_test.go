package gdprd_test

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/bounces"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/samtemplate"
	"github.com/example/gdpr/internal/sites"
	"github.com/example/gdpr/internal/tenant"
)

// Placeholders the sample events carry for what only a prepared store knows: a request's id,
// its emailed verification code, the access token its verification returned and a
// registered site's id. (The demo keys are gdprd.SampleSiteKey and gdprd.SampleAdminKey.)
const (
	sampleCode     = "482913"
	sampleToken    = "sample-access-token-not-a-real-one"
	sampleSystemID = "sys_q3Vd0l2nX7aQ1bZk"
)

// sampleRequestIDs are the request ids the samples name: each stands for the prepared request.
var sampleRequestIDs = []string{
	"req_4k7m2p9q8r3s6t1v",       // the HTTP samples
	"req_4Hn2q0cVb1XkT9mYpR3sLw", // requests-retry, requests-approve
	"req_sampleExportRequest00",  // export-stream
	"req_sample0000000000000000", // rights-stream
}

// sampleStore is what a sample's preparation made: the values its placeholders stand for.
type sampleStore struct {
	id, code, token, system string
}

// with is st with what other made added.
func (st sampleStore) with(other sampleStore) sampleStore {
	return sampleStore{id: cmp.Or(other.id, st.id), code: cmp.Or(other.code, st.code),
		token: cmp.Or(other.token, st.token), system: cmp.Or(other.system, st.system)}
}

// prepare readies the store of one sample. The subject samples name u-42, whose consent
// (and profile) the consent samples themselves record.
type prepare func(t *testing.T, w *eventWorld) sampleStore

// eventExpect is what a sample must answer: for an HTTP event its status, and the keys of its
// JSON body (a problem's code); for a schedule or a stream batch, a check of its output and of
// the store it ran on.
type eventExpect struct {
	prepare []prepare
	status  int
	keys    []string // top-level keys the body must have (at least)
	code    string   // problem+json code, for an error status
	// page: the media type a web page or asset answers (instead of JSON), and a text its body
	// must hold.
	page, holds string
	output      func(t *testing.T, w *eventWorld, st sampleStore, out json.RawMessage)
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
	withPending  prepare = func(t *testing.T, w *eventWorld) sampleStore { return w.request(t, dsr.Access, false) }
	withVerified prepare = func(t *testing.T, w *eventWorld) sampleStore { return w.request(t, dsr.Access, true) }
	withErasure  prepare = func(t *testing.T, w *eventWorld) sampleStore { return w.request(t, dsr.Erasure, true) }
	// withFailed ends a verified request as failed, as fulfilment does after its last attempt.
	withFailed prepare = func(t *testing.T, w *eventWorld) sampleStore {
		st := w.request(t, dsr.Access, true)
		svc := w.requests(&codeMail{})
		if _, ok, err := svc.Claim(context.Background(), gdprd.DemoTenant, st.id); err != nil || !ok {
			t.Fatalf("claim: %v, %v", ok, err)
		}
		if _, err := svc.Fail(context.Background(), gdprd.DemoTenant, st.id, "sample failure"); err != nil {
			t.Fatal(err)
		}
		return st
	}
	// withAwaiting leaves a verified erasure awaiting approval: the demo tenant wants
	// erasures approved.
	withAwaiting prepare = func(t *testing.T, w *eventWorld) sampleStore {
		store := tenant.Store{Table: w.runner.Ports.Table, Clock: w.clock}
		if _, err := store.PatchSettings(context.Background(), gdprd.DemoTenant, audit.ActorOperator, []byte(`{"approval_required":["erasure"]}`)); err != nil {
			t.Fatal(err)
		}
		return w.request(t, dsr.Erasure, true)
	}
	// withDueDelivery leaves one delivery due: the sample erasure (rights-stream) told a site
	// on loopback that refused the first call, and the clock moved past the retry's backoff.
	withDueDelivery prepare = func(t *testing.T, w *eventWorld) sampleStore {
		var calls atomic.Int32
		site := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
			if calls.Add(1) == 1 {
				rw.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		t.Cleanup(site.Close)
		p := w.runner.Ports
		reg := sites.Registration{Name: "shop.example.org", URL: site.URL + "/hook", Events: []string{sites.Erasure}}
		if _, _, err := sites.New(p.Table, p.Clock, p.Secrets, p.Local, p.Log).Register(context.Background(), gdprd.DemoTenant, reg, audit.ActorOperator); err != nil {
			t.Fatal(err)
		}
		st := withErasure(t, w)
		w.invoke(t, "rights-stream", st)
		if n := calls.Load(); n != 1 {
			t.Fatalf("the site was called %d times by the erasure, want 1", n)
		}
		w.clock.Set(eventsStart.Add(time.Minute)) // sites.Backoff(1) is under a minute
		return st
	}
	// withSystem registers the site of requests-systems-post.
	withSystem prepare = func(t *testing.T, w *eventWorld) sampleStore {
		var sys struct{ ID string }
		if err := json.Unmarshal([]byte(w.invokeSample(t, "requests-systems-post", 201)), &sys); err != nil || sys.ID == "" {
			t.Fatalf("registering a system: %v, id %q", err, sys.ID)
		}
		return sampleStore{system: sys.ID}
	}
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
	"meta-privacy": {status: 200, page: "text/html", holds: `<html lang="en"`},
	"meta-console": {status: 200, page: "text/html", holds: `<html lang="en"`},
	"meta-asset":   {status: 200, page: "text/javascript", holds: "import"},
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
	"requests-retry":         {prepare: []prepare{withFailed}, status: 200, keys: []string{"id", "status", "timeline"}},
	"requests-approve":       {prepare: []prepare{withAwaiting}, status: 200, keys: []string{"id", "status", "timeline"}},
	// The sample's link carries a placeholder signature, which no data folder's secret made:
	// the route's normal answer to it is 403 invalid_signature (a good link needs an export).
	"requests-export-download": {status: 403, code: "invalid_signature"},
	"requests-systems-post":    {status: 201, keys: []string{"id", "name", "url", "events", "secret"}},
	"requests-systems-list":    {prepare: []prepare{withSystem}, status: 200, keys: []string{"items"}},
	"requests-systems-delete":  {prepare: []prepare{withSystem}, status: 204},
	"requests-systems-rotate":  {prepare: []prepare{withSystem}, status: 200, keys: []string{"id", "secret", "rotated_at"}},
	"requests-tenant-get":      {status: 200, keys: []string{"purposes", "notice_period_days", "reminder_days", "dpo_email"}},
	"requests-tenant-patch":    {status: 200, keys: []string{"purposes", "notice_period_days", "reminder_days", "dpo_email"}},

	// The stream samples name a request of the subject u-42 (of someone unknown, the work
	// would only answer no_data): its own work must have run, to the end.
	"export-stream": {prepare: []prepare{withSubject, withVerified}, output: fulfilled("package_stored")},
	"rights-stream": {prepare: []prepare{withSubject, withErasure}, output: fulfilled("anonymized")},

	"requests-policies-publish":       {status: 201, keys: []string{"version", "effective_at", "material"}},
	"requests-policies-list":          {prepare: []prepare{withPolicy}, status: 200, keys: []string{"items"}},
	"requests-policies-get":           {prepare: []prepare{withPolicy}, status: 200, keys: []string{"version", "url", "effective_at"}},
	"requests-policies-notifications": {prepare: []prepare{withPolicy}, status: 200, keys: []string{"total", "sent", "pending", "failed", "suppressed"}},
	"requests-public-policy":          {prepare: []prepare{withPolicy}, status: 200, keys: []string{"current", "next"}},
	// A published version's record starts its run; the schedule continues every run not done.
	// Either way subject u-42 (with its address) is told once.
	"notify-stream": {prepare: []prepare{withSubject, withProfile, withPolicy}, output: func(t *testing.T, w *eventWorld, _ sampleStore, out json.RawMessage) {
		var resp events.DynamoDBEventResponse
		if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("batch answered %s, want no item failures", out)
		}
		noticed(t, w)
	}},
	"notices-schedule": {prepare: []prepare{withSubject, withProfile, withPolicy}, output: func(t *testing.T, w *eventWorld, _ sampleStore, out json.RawMessage) {
		var rep struct {
			Job  string
			Runs []struct{ Version, State string }
		}
		if err := json.Unmarshal(out, &rep); err != nil || rep.Job != "notifications" || len(rep.Runs) != 1 || rep.Runs[0].Version != "2027-01" {
			t.Fatalf("notifications report %s, want job notifications with the run of 2027-01", out)
		}
		noticed(t, w)
	}},

	// SES's report of a permanent bounce (EventBridge) marks the address: no more mail to it.
	"bounces-permanent": {output: func(t *testing.T, w *eventWorld, _ sampleStore, _ json.RawMessage) {
		p := w.runner.Ports
		bounced, err := (bounces.Store{Table: p.Table, Secrets: p.Secrets}).IsBounced(context.Background(), gdprd.DemoTenant, "nobody@example.org")
		if err != nil || !bounced {
			t.Fatalf("after the bounce report: bounced %v, %v; want the address marked", bounced, err)
		}
	}},

	"deliveries-schedule": {prepare: []prepare{withSubject, withDueDelivery}, output: func(t *testing.T, _ *eventWorld, _ sampleStore, out json.RawMessage) {
		var rep struct {
			Job                           string
			Tenants, Attempted, Confirmed int
			More                          bool
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Job != "deliveries" || rep.Tenants != 1 || rep.Attempted != 1 || rep.Confirmed != 1 || rep.More {
			t.Fatalf("deliveries report %s, want job deliveries, 1 tenant, 1 delivery attempted and confirmed", out)
		}
	}},

	"retention-schedule": {prepare: []prepare{withPending, afterExpiry}, output: func(t *testing.T, _ *eventWorld, _ sampleStore, out json.RawMessage) {
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
}

// fulfilled checks a stream batch's run: no record to deliver again, and the request the
// record names completed, its timeline showing step.
func fulfilled(step string) func(t *testing.T, w *eventWorld, st sampleStore, out json.RawMessage) {
	return func(t *testing.T, w *eventWorld, st sampleStore, out json.RawMessage) {
		var resp events.DynamoDBEventResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.BatchItemFailures) != 0 {
			t.Fatalf("batch answered %s, want no item failures", out)
		}
		r, err := w.requests(&codeMail{}).Get(context.Background(), gdprd.DemoTenant, st.id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != dsr.Completed || !slices.ContainsFunc(r.Timeline, func(e dsr.Event) bool { return e.Event == step }) {
			t.Fatalf("request %s after the batch (failure %q), timeline %+v: want completed, with step %s", r.Status, r.Failure, r.Timeline, step)
		}
	}
}

// withPolicy publishes version 2027-01 (the publish sample), which starts its notification run.
var withPolicy prepare = func(t *testing.T, w *eventWorld) sampleStore {
	w.invokeSample(t, "requests-policies-publish", 201)
	return sampleStore{}
}

// noticed checks that the run of 2027-01 told its one subject.
func noticed(t *testing.T, w *eventWorld) {
	t.Helper()
	var n struct{ Total, Sent, Pending int }
	if err := json.Unmarshal([]byte(w.invokeSample(t, "requests-policies-notifications", 200)), &n); err != nil {
		t.Fatal(err)
	}
	if n.Total != 1 || n.Sent != 1 || n.Pending != 0 {
		t.Fatalf("notifications %+v, want the one subject told", n)
	}
}

var eventsStart = time.Date(2026, 11, 28, 16, 47, 0, 0, time.UTC)

// eventWorld is one sample's store: a runner of its own on a new data folder, with the demo
// tenant the samples name and its keys.
type eventWorld struct {
	runner *gdprd.Runner
	dir    string
	clock  *clock.Settable
	byName map[string]string // sample name → function
}

// TestEvents invokes every sample event in events/ (named <function folder>-<what>.json)
// through its function's handler, as `make invoke` and `sam local invoke -e` do, each on a
// store prepared for it, and checks its answer: the status and body shape for an HTTP event,
// the output (and what it did to the store) for a schedule or a stream batch.
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
				t.Fatalf("%s has sample events but gdprd.Functions does not list it", fn)
			}
			var st sampleStore
			for _, p := range want.prepare {
				st = st.with(p(t, w))
			}
			out := w.invoke(t, name, st)
			if kind != gdprd.KindHTTP {
				if want.output == nil {
					t.Fatalf("%s: no check of the output of %s", name, fn)
				}
				want.output(t, w, st, out)
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
	dir := t.TempDir()
	r, err := gdprd.NewRunner(context.Background(), gdprd.Config{DataDir: dir, Env: env(nil), Addr: "127.0.0.1:3000"}, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	// The events name tenant demo and its keys, as `make run` creates them.
	if _, err := gdprd.EnsureDemo(context.Background(), r.Ports, dir); err != nil {
		t.Fatal(err)
	}
	return &eventWorld{runner: r, dir: dir, clock: clk, byName: byName}
}

// invoke runs a sample with its placeholders bound to what the store holds, and its sample
// keys replaced by the demo tenant's (gdprd.WithDemoKeys, as `make invoke` does).
func (w *eventWorld) invoke(t *testing.T, name string, st sampleStore) json.RawMessage {
	t.Helper()
	sample, err := os.ReadFile(filepath.Join("../../events", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	bound := map[string]string{sampleCode: st.code, sampleToken: st.token, sampleSystemID: st.system}
	for _, id := range sampleRequestIDs {
		bound[id] = st.id
	}
	var pairs []string
	for placeholder, value := range bound {
		if value != "" {
			pairs = append(pairs, placeholder, value)
		}
	}
	payload, err := gdprd.WithDemoKeys([]byte(strings.NewReplacer(pairs...).Replace(string(sample))), w.dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.runner.Invoke(context.Background(), w.byName[name], payload)
	if err != nil {
		t.Fatalf("%s failed: %v", name, err)
	}
	if !json.Valid(out) {
		t.Fatalf("%s answered with something other than JSON: %s", name, out)
	}
	return out
}

// invokeSample runs another sample as a step of preparation, which must answer status, and
// returns the body of its answer.
func (w *eventWorld) invokeSample(t *testing.T, name string, status int) string {
	t.Helper()
	got := httpAnswer(t, name, w.invoke(t, name, sampleStore{}))
	if got.StatusCode != status {
		t.Fatalf("preparing with %s: status %d, want %d: %s", name, got.StatusCode, status, got.Body)
	}
	return got.Body
}

// requests is the requests service on the world's store, sending its mail to m.
func (w *eventWorld) requests(m mail.Sender) *dsr.Service {
	p := w.runner.Ports
	return dsr.New(p.Table, tenant.Store{Table: p.Table, Clock: w.clock}, m, w.clock, p.Secrets)
}

// request stores a public request of type typ of the demo tenant, verified or not, and
// returns its id, code and (once verified) access token.
func (w *eventWorld) request(t *testing.T, typ dsr.Type, verify bool) sampleStore {
	t.Helper()
	ctx := context.Background()
	codes := &codeMail{}
	svc := w.requests(codes)
	r, err := svc.Submit(ctx, gdprd.DemoTenant, dsr.Input{Type: typ, Email: "ann@example.org"}, dsr.Caller{Actor: audit.ActorSubject, Source: "203.0.113.9"})
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
	if want.status == 204 {
		if resp.Body != "" {
			t.Errorf("%s answered 204 with a body: %s", name, resp.Body)
		}
		return
	}
	if want.page != "" {
		if ct := resp.Headers["Content-Type"]; !strings.HasPrefix(ct, want.page) || !strings.Contains(resp.Body, want.holds) {
			t.Errorf("%s answered %q holding %.120q, want %s with %q", name, ct, resp.Body, want.page, want.holds)
		}
		return
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
