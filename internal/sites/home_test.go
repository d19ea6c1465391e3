package sites_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sites"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest"
	"github.com/example/gdpr/internal/tenant"
)

var ctx = context.Background()

// TestSQLite runs the suite on the embedded home, a new database per case.
func TestSQLite(t *testing.T) {
	runSuite(t, func(t *testing.T) table.Table { return sqlitetest.MustOpen(t) })
}

// TestDynamoDB runs the suite on DynamoDB (moto_server), one table for every case: each case
// works in a tenant of its own.
func TestDynamoDB(t *testing.T) {
	srv := mototest.Start(t)
	db := dynamodb.NewFromConfig(srv.Config(t))
	const name = "gdpr-sites-test"
	if err := dynamo.CreateTable(ctx, db, name, tabletest.Def(t)); err != nil {
		t.Fatal(err)
	}
	tbl := dynamo.New(db, name, tabletest.Def(t))
	runSuite(t, func(*testing.T) table.Table { return tbl })
}

func runSuite(t *testing.T, open func(t *testing.T) table.Table) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"Registration", testRegistration},
		{"SignedDelivery", testSignedDelivery},
		{"DownThenUp", testDownThenUp},
		{"NeverAnswers", testNeverAnswers},
		{"TwoSystemsOneFailing", testTwoSystemsOneFailing},
		{"RotatedSecret", testRotatedSecret},
		{"DuplicateEnqueue", testDuplicateEnqueue},
		{"RedirectNotFollowed", testRedirectNotFollowed},
		{"SystemRemoved", testSystemRemoved},
		{"HostResolvingToLoopbackInDeployment", testRebinding},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newEnv(t, open(t))) })
	}
}

// start is when every case begins.
var start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// env is one case's services, in a tenant of its own, on the local server's address rules
// (the reference receivers listen on loopback).
type env struct {
	table   table.Table
	tenant  string
	clock   *clock.Settable
	secrets secrets.Master
	mail    *outbox
	dsr     *dsr.Service
	svc     *sites.Service
	created time.Time
}

func newEnv(t *testing.T, tbl table.Table) *env {
	t.Helper()
	clk := &clock.Settable{}
	clk.Set(start)
	master, err := secrets.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	e := &env{table: tbl, tenant: "t-" + hex.EncodeToString(b), clock: clk, secrets: master, mail: &outbox{}}
	tenants := tenant.Store{Table: tbl, Clock: clk}
	tn, _, err := tenants.Create(ctx, e.tenant)
	if err != nil {
		t.Fatal(err)
	}
	e.created = tn.CreatedAt
	e.dsr = dsr.New(tbl, tenants, e.mail, clk, master)
	e.svc = sites.New(tbl, clk, master, true, slog.New(slog.DiscardHandler))
	e.svc.Requests = e.dsr
	return e
}

// outbox keeps the emails the requests service sends.
type outbox struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (o *outbox) Send(_ context.Context, m mail.Message) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, m)
	return strconv.Itoa(len(o.sent)), nil
}

var codeLine = regexp.MustCompile(`(?m)^Verification code: (\S+)$`)

// processing returns a request of type typ about subject u-42, verified and claimed, as
// the rights work holds it.
func (e *env) processing(t *testing.T, typ dsr.Type, in dsr.Input) dsr.Request {
	t.Helper()
	in.Type, in.SubjectID, in.Email = typ, "u-42", "ann@example.org"
	r, err := e.dsr.Submit(ctx, e.tenant, in, dsr.Caller{Actor: audit.ActorSite})
	if err != nil {
		t.Fatal(err)
	}
	e.mail.mu.Lock()
	code := codeLine.FindStringSubmatch(e.mail.sent[len(e.mail.sent)-1].Text)[1]
	e.mail.mu.Unlock()
	if _, _, err := e.dsr.Verify(ctx, e.tenant, r.ID, code); err != nil {
		t.Fatal(err)
	}
	c, ok, err := e.dsr.Claim(ctx, e.tenant, r.ID)
	if err != nil || !ok {
		t.Fatalf("Claim = %v, %v", ok, err)
	}
	return c
}

// register registers a system at url taking events (every event when none).
func (e *env) register(t *testing.T, name, url string, events ...string) (sites.System, string) {
	t.Helper()
	if len(events) == 0 {
		events = sites.Events
	}
	sys, secret, err := e.svc.Register(ctx, e.tenant, sites.Registration{Name: name, URL: url, Events: events}, audit.ActorOperator)
	if err != nil {
		t.Fatal(err)
	}
	return sys, secret
}

// job runs the deliveries job's walk of the tenant at the clock's time.
func (e *env) job(t *testing.T) sites.Report {
	t.Helper()
	var rep sites.Report
	if err := e.svc.Due(ctx, e.tenant, e.created, sites.DefaultBudget, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// advance moves the clock on by d.
func (e *env) advance(d time.Duration) { e.clock.Set(e.clock.Now().Add(d)) }

// deliveries returns the request's deliveries, which must number n.
func (e *env) deliveries(t *testing.T, id string, n int) []sites.Delivery {
	t.Helper()
	ds, err := e.svc.Deliveries(ctx, e.tenant, id)
	if err != nil || len(ds) != n {
		t.Fatalf("Deliveries = %+v, %v; want %d", ds, err, n)
	}
	return ds
}

// call is one call a receiver got.
type call struct {
	id, timestamp, signature string
	body                     []byte
	// valid tells whether the signature checked against the secret the receiver holds.
	valid bool
}

// receiver is the reference receiver: a site on loopback that checks every call's
// signature as Standard Webhooks 1.0 says, written here from the specification (not from
// the package's Sign), and answers with status(n) to its n-th call (1-based).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	secret string
	calls  []call
	status func(n int) int
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	r := &receiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		c := call{id: req.Header.Get("webhook-id"), timestamp: req.Header.Get("webhook-timestamp"), signature: req.Header.Get("webhook-signature"), body: body}
		r.mu.Lock()
		c.valid = verify(r.secret, c)
		r.calls = append(r.calls, c)
		n := len(r.calls)
		r.mu.Unlock()
		if !c.valid {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(r.status(n))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) setSecret(s string) { r.mu.Lock(); r.secret = s; r.mu.Unlock() }

func (r *receiver) got() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// verify checks one call: key = base64 of the secret after whsec_, signed content
// id.timestamp.body, any of the space-separated v1 signatures.
func verify(secret string, c call) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(c.id + "." + c.timestamp + "." + string(c.body)))
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(c.signature) {
		v, b64, ok := strings.Cut(sig, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if ok && v == "v1" && err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func always(status int) func(int) int { return func(int) int { return status } }

func testRegistration(t *testing.T, e *env) {
	sys, secret := e.register(t, "shop.example.org", "http://127.0.0.1:8080/wp-json/gdpr/v1/events", sites.Erasure)
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q", secret)
	}
	if key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_")); err != nil || len(key) != 32 {
		t.Fatalf("secret key = %d bytes, %v", len(key), err)
	}
	// The stored item holds the secret sealed, never in clear.
	it, err := e.table.Get(ctx, table.Key{PK: "T#" + e.tenant, SK: "SYS#" + sys.ID})
	if err != nil {
		t.Fatal(err)
	}
	rawKey := strings.TrimPrefix(secret, "whsec_")
	if strings.Contains(string(it.Data), rawKey) {
		t.Fatal("the stored system holds its secret in clear")
	}
	list, err := e.svc.Systems(ctx, e.tenant)
	if err != nil || len(list) != 1 || list[0].ID != sys.ID || list[0].Name != "shop.example.org" {
		t.Fatalf("Systems = %+v, %v", list, err)
	}
	if b, _ := json.Marshal(list); strings.Contains(string(b), "whsec_") || strings.Contains(string(b), rawKey) {
		t.Fatalf("the list shows a secret: %s", b)
	}
	for _, bad := range []struct {
		r    sites.Registration
		code string
	}{
		{sites.Registration{Name: "", URL: "https://shop.example.org/", Events: []string{"erasure"}}, "validation_failed"},
		{sites.Registration{Name: "x", URL: "https://shop.example.org/", Events: nil}, "validation_failed"},
		{sites.Registration{Name: "x", URL: "https://shop.example.org/", Events: []string{"access"}}, "validation_failed"},
		{sites.Registration{Name: "x", URL: "https://shop.example.org/", Events: []string{"erasure", "erasure"}}, "validation_failed"},
		{sites.Registration{Name: "x", URL: "http://10.0.0.7:8080/", Events: []string{"erasure"}}, "invalid_url"},
		{sites.Registration{Name: "x", URL: "https://169.254.169.254/latest", Events: []string{"erasure"}}, "invalid_url"},
	} {
		if _, _, err := e.svc.Register(ctx, e.tenant, bad.r, audit.ActorOperator); !hasCode(err, bad.code) {
			t.Errorf("Register(%+v) = %v, want %s", bad.r, err, bad.code)
		}
	}
	_, rotated, err := e.svc.RotateSecret(ctx, e.tenant, sys.ID, audit.ActorOperator)
	if err != nil || rotated == secret || !strings.HasPrefix(rotated, "whsec_") {
		t.Fatalf("RotateSecret = %q, %v", rotated, err)
	}
	if err := e.svc.Remove(ctx, e.tenant, sys.ID, audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Remove(ctx, e.tenant, sys.ID, audit.ActorOperator); !hasCode(err, "system_not_found") {
		t.Fatalf("Remove again = %v", err)
	}
	if _, _, err := e.svc.RotateSecret(ctx, e.tenant, "sys_nope", audit.ActorOperator); !hasCode(err, "system_not_found") {
		t.Fatalf("RotateSecret of none = %v", err)
	}
	// Registration, rotation and removal are audited, with no secret.
	entries, _, err := audit.Log{Table: e.table}.List(ctx, e.tenant, audit.Filter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, en.Action)
		b, _ := json.Marshal(en)
		for _, s := range []string{rawKey, strings.TrimPrefix(rotated, "whsec_"), "whsec_"} {
			if strings.Contains(string(b), s) {
				t.Fatalf("audit entry %s holds a secret", b)
			}
		}
	}
	for _, want := range []string{"system.registered", "system.secret_rotated", "system.removed"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit actions %v lack %s", actions, want)
		}
	}
}

func testSignedDelivery(t *testing.T, e *env) {
	rc := newReceiver(t, always(http.StatusNoContent))
	sys, secret := e.register(t, "shop.example.org", rc.URL+"/wp-json/gdpr/v1/events")
	rc.setSecret(secret)
	r := e.processing(t, dsr.Rectification, dsr.Input{Rectification: &dsr.ProfileFields{Phone: ptr("+44 20 7946 0000")}})
	if _, err := e.svc.Deliver(ctx, r); err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	calls := rc.got()
	if len(calls) != 1 || !calls[0].valid {
		t.Fatalf("calls = %+v", calls)
	}
	c := calls[0]
	if !strings.HasPrefix(c.id, "msg_") || !strings.HasPrefix(c.signature, "v1,") {
		t.Fatalf("headers id %q signature %q", c.id, c.signature)
	}
	if ts, err := strconv.ParseInt(c.timestamp, 10, 64); err != nil || ts != e.clock.Now().Unix() && ts != e.clock.Now().Unix()-1 {
		t.Fatalf("webhook-timestamp %q, clock %d", c.timestamp, e.clock.Now().Unix())
	}
	var body map[string]any
	if err := json.Unmarshal(c.body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "subject.rectification", "request_id": r.ID, "tenant": e.tenant, "subject_id": "u-42",
		"data": map[string]any{"phone": "+44 20 7946 0000"}}
	if got, _ := json.Marshal(body); string(got) != mustJSON(want) {
		t.Fatalf("body %s, want %s", got, mustJSON(want))
	}
	ds := e.deliveries(t, r.ID, 1)
	if d := ds[0]; d.State != sites.Confirmed || d.Attempts != 1 || d.SystemID != sys.ID || d.Event != "rectification" || d.Name != "shop.example.org" {
		t.Fatalf("delivery %+v", d)
	}
	if ok, failed, err := e.svc.Status(ctx, e.tenant, r.ID); !ok || failed != nil || err != nil {
		t.Fatalf("Status = %v, %v, %v", ok, failed, err)
	}
	if told, err := e.svc.Told(ctx, e.tenant, r.ID); err != nil || len(told) != 1 || told[0] != "shop.example.org" {
		t.Fatalf("Told = %v, %v", told, err)
	}
	// The confirmed delivery keeps nothing of the subject: its sealed body is gone.
	it, err := e.table.Get(ctx, table.Key{PK: "T#" + e.tenant + "#R#" + r.ID, SK: "DLV#" + sys.ID + "#rectification"})
	if err != nil || strings.Contains(string(it.Data), "body_sealed") || strings.Contains(string(it.Data), "u-42") {
		t.Fatalf("stored delivery %s, %v", it.Data, err)
	}
	// Deliver once more (a replay of the step): it answers at once, calling nobody.
	if detail, err := e.svc.Deliver(ctx, r); err != nil || detail != "1 sites confirmed" || len(rc.got()) != 1 {
		t.Fatalf("Deliver again = %q, %v, %d calls", detail, err, len(rc.got()))
	}
}

func testDownThenUp(t *testing.T, e *env) {
	rc := newReceiver(t, func(n int) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	_, secret := e.register(t, "shop.example.org", rc.URL+"/hook")
	rc.setSecret(secret)
	r := e.processing(t, dsr.Erasure, dsr.Input{})
	_, err := e.svc.Deliver(ctx, r)
	w, ok := err.(*sites.Waiting)
	if !ok || w.Pending != 1 || w.Total != 1 {
		t.Fatalf("Deliver = %v, want *sites.Waiting", err)
	}
	// The runner parks the request (the seam: fulfilment recognises WaitingFor).
	if _, err := e.dsr.Wait(ctx, e.tenant, r.ID, w.WaitingFor()); err != nil {
		t.Fatal(err)
	}
	if d := e.deliveries(t, r.ID, 1)[0]; d.State != sites.Pending || d.Attempts != 1 || d.LastError != "HTTP 503" {
		t.Fatalf("after the first call: %+v", d)
	}
	// Nothing is due before the backoff passes.
	if rep := e.job(t); rep.Attempted != 0 {
		t.Fatalf("job before the backoff attempted %d", rep.Attempted)
	}
	for i, wait := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		e.advance(wait)
		if rep := e.job(t); rep.Attempted != 1 {
			t.Fatalf("job %d attempted %d", i+2, rep.Attempted)
		}
	}
	calls := rc.got()
	if len(calls) != 4 {
		t.Fatalf("%d calls, want 4", len(calls))
	}
	for _, c := range calls {
		if c.id != calls[0].id || !c.valid {
			t.Fatalf("call %+v: another webhook-id than %s, or a bad signature", c, calls[0].id)
		}
	}
	if d := e.deliveries(t, r.ID, 1)[0]; d.State != sites.Confirmed || d.Attempts != 4 || d.LastError != "" {
		t.Fatalf("after it came up: %+v", d)
	}
	// The last confirmation woke the request: it is processing, no longer waiting, and its
	// step now answers with a detail.
	got, err := e.dsr.Get(ctx, e.tenant, r.ID)
	if err != nil || got.Status != dsr.Processing || got.Waiting != "" || got.Attempts != 0 {
		t.Fatalf("request after the confirmation = status %s waiting %q attempts %d, %v", got.Status, got.Waiting, got.Attempts, err)
	}
	if detail, err := e.svc.Deliver(ctx, got); err != nil || detail != "1 sites confirmed" {
		t.Fatalf("Deliver after = %q, %v", detail, err)
	}
	// Later runs find nothing more to do.
	e.advance(time.Hour)
	if rep := e.job(t); rep.Attempted != 0 || len(rc.got()) != 4 {
		t.Fatalf("a later job attempted %d", rep.Attempted)
	}
}

// hang is a site that accepts the connection and never answers within the client's time.
func hang(t *testing.T) *httptest.Server {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-req.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv
}

// shortCalls makes the service's calls time out after 200 ms instead of 10 s.
func (e *env) shortCalls() {
	e.svc.Client = sites.Client(sites.Dialer{Local: true})
	e.svc.Client.Timeout = 200 * time.Millisecond
}

func testNeverAnswers(t *testing.T, e *env) {
	e.shortCalls()
	srv := hang(t)
	sys, _ := e.register(t, "slow.example.org", srv.URL+"/hook", sites.Restriction)
	r := e.processing(t, dsr.Restriction, dsr.Input{})
	if _, err := e.svc.Deliver(ctx, r); err == nil {
		t.Fatal("Deliver to a site that never answers succeeded")
	}
	if _, err := e.dsr.Wait(ctx, e.tenant, r.ID, "sites"); err != nil {
		t.Fatal(err)
	}
	if d := e.deliveries(t, r.ID, 1)[0]; d.State != sites.Pending || !strings.HasPrefix(d.LastError, "no answer within") {
		t.Fatalf("after the first call: %+v", d)
	}
	// 71 hours on, it is still tried; past 72 hours the last call fails it.
	e.advance(71 * time.Hour)
	e.job(t)
	if d := e.deliveries(t, r.ID, 1)[0]; d.State != sites.Pending || d.Attempts != 2 {
		t.Fatalf("after 71 hours: %+v", d)
	}
	e.advance(2 * time.Hour)
	if rep := e.job(t); rep.Failed != 1 {
		t.Fatalf("job past the window = %+v", rep)
	}
	d := e.deliveries(t, r.ID, 1)[0]
	if d.State != sites.Failed || d.Attempts != 3 || !strings.HasPrefix(d.LastError, "no answer within") {
		t.Fatalf("after the window: %+v", d)
	}
	ok, failed, err := e.svc.Status(ctx, e.tenant, r.ID)
	if ok || err != nil || len(failed) != 1 || failed[0].SystemID != sys.ID || failed[0].Reason != d.LastError {
		t.Fatalf("Status = %v, %+v, %v", ok, failed, err)
	}
	// The request was woken, and its step fails it for good, naming the system and why.
	got, _ := e.dsr.Get(ctx, e.tenant, r.ID)
	if got.Waiting != "" {
		t.Fatalf("request still waits: %q", got.Waiting)
	}
	_, err = e.svc.Deliver(ctx, got)
	if err == nil || !strings.Contains(err.Error(), "slow.example.org ("+sys.ID+"): no answer within") {
		t.Fatalf("Deliver after the window = %v", err)
	}
	// The failure is audited with its reason.
	entries, _, err := audit.Log{Table: e.table}.List(ctx, e.tenant, audit.Filter{RequestID: r.ID, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, en := range entries {
		if en.Action == "delivery.failed" && en.Detail["system_id"] == sys.ID && en.Detail["reason"] == d.LastError && en.Detail["attempts"] == "3" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no delivery.failed audit entry among %+v", entries)
	}
	// An operator's retry re-queues it, with a new window; the site is up now.
	rc := newReceiver(t, always(http.StatusOK))
	e.replaceURL(t, sys.ID, rc.URL+"/hook")
	rc.setSecret(e.secretOf(t, sys.ID))
	if n, err := e.svc.Requeue(ctx, e.tenant, r.ID, audit.ActorOperator); err != nil || n != 1 {
		t.Fatalf("Requeue = %d, %v", n, err)
	}
	if n, err := e.svc.Requeue(ctx, e.tenant, r.ID, audit.ActorOperator); err != nil || n != 0 {
		t.Fatalf("Requeue again = %d, %v", n, err)
	}
	if rep := e.job(t); rep.Confirmed != 1 {
		t.Fatalf("job after the retry = %+v", rep)
	}
	if calls := rc.got(); len(calls) != 1 || !calls[0].valid {
		t.Fatalf("calls after the retry %+v", calls)
	}
}

func testTwoSystemsOneFailing(t *testing.T, e *env) {
	good := newReceiver(t, always(http.StatusOK))
	bad := newReceiver(t, always(http.StatusInternalServerError))
	g, gs := e.register(t, "good.example.org", good.URL)
	b, bs := e.register(t, "bad.example.org", bad.URL)
	good.setSecret(gs)
	bad.setSecret(bs)
	r := e.processing(t, dsr.Erasure, dsr.Input{})
	if _, err := e.svc.Deliver(ctx, r); err == nil {
		t.Fatal("Deliver with a failing site succeeded")
	}
	e.advance(sites.Window + time.Minute)
	e.job(t)
	states := map[string]sites.Delivery{}
	for _, d := range e.deliveries(t, r.ID, 2) {
		states[d.SystemID] = d
	}
	if d := states[g.ID]; d.State != sites.Confirmed || d.Attempts != 1 {
		t.Fatalf("good: %+v", d)
	}
	if d := states[b.ID]; d.State != sites.Failed || d.LastError != "HTTP 500" || d.Attempts != 2 {
		t.Fatalf("bad: %+v", d)
	}
	if len(good.got()) != 1 {
		t.Fatalf("the good site was called %d times", len(good.got()))
	}
	ok, failed, _ := e.svc.Status(ctx, e.tenant, r.ID)
	if ok || len(failed) != 1 || failed[0].SystemID != b.ID {
		t.Fatalf("Status = %v, %+v", ok, failed)
	}
	if told, _ := e.svc.Told(ctx, e.tenant, r.ID); len(told) != 1 || told[0] != "good.example.org" {
		t.Fatalf("Told = %v", told)
	}
}

func testRotatedSecret(t *testing.T, e *env) {
	rc := newReceiver(t, always(http.StatusOK))
	sys, old := e.register(t, "shop.example.org", rc.URL)
	_, rotated, err := e.svc.RotateSecret(ctx, e.tenant, sys.ID, audit.ActorOperator)
	if err != nil {
		t.Fatal(err)
	}
	// The site still holds the old secret: the call is refused (401), and retried.
	rc.setSecret(old)
	r := e.processing(t, dsr.Erasure, dsr.Input{})
	e.svc.Deliver(ctx, r)
	if d := e.deliveries(t, r.ID, 1)[0]; d.State != sites.Pending || d.LastError != "HTTP 401" {
		t.Fatalf("with the old secret: %+v", d)
	}
	// The site is given the new secret; the retry is signed with it.
	rc.setSecret(rotated)
	e.advance(time.Hour)
	e.job(t)
	calls := rc.got()
	if len(calls) != 2 || calls[0].valid || !calls[1].valid || calls[0].id != calls[1].id {
		t.Fatalf("calls %+v", calls)
	}
	if !verify(rotated, calls[1]) || verify(old, calls[1]) {
		t.Fatal("the retry is not signed with the rotated secret alone")
	}
}

func testDuplicateEnqueue(t *testing.T, e *env) {
	rc := newReceiver(t, always(http.StatusOK))
	_, secret := e.register(t, "shop.example.org", rc.URL, sites.Erasure)
	e.register(t, "other.example.org", rc.URL, sites.Rectification) // does not take erasures
	rc.setSecret(secret)
	r := e.processing(t, dsr.Erasure, dsr.Input{})
	for range 3 {
		n, err := e.svc.Enqueue(ctx, r, sites.Erasure, struct{}{})
		if err != nil || n != 1 {
			t.Fatalf("Enqueue = %d, %v", n, err)
		}
	}
	e.advance(time.Hour)
	e.job(t)
	if calls := rc.got(); len(calls) != 1 {
		t.Fatalf("%d calls for one delivery enqueued three times", len(calls))
	}
	e.deliveries(t, r.ID, 1)
}

func testRedirectNotFollowed(t *testing.T, e *env) {
	target := newReceiver(t, always(http.StatusOK))
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	e.register(t, "shop.example.org", redirect.URL)
	r := e.processing(t, dsr.Erasure, dsr.Input{})
	e.svc.Deliver(ctx, r)
	if d := e.deliveries(t, r.ID, 1)[0]; d.State != sites.Pending || d.LastError != "HTTP 307: redirects are not followed" {
		t.Fatalf("delivery %+v", d)
	}
	if n := len(target.got()); n != 0 {
		t.Fatalf("the redirect was followed: %d calls", n)
	}
}

func testSystemRemoved(t *testing.T, e *env) {
	rc := newReceiver(t, always(http.StatusServiceUnavailable))
	sys, secret := e.register(t, "shop.example.org", rc.URL)
	rc.setSecret(secret)
	r := e.processing(t, dsr.Erasure, dsr.Input{})
	e.svc.Deliver(ctx, r)
	if err := e.svc.Remove(ctx, e.tenant, sys.ID, audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Hour)
	e.job(t)
	if d := e.deliveries(t, r.ID, 1)[0]; d.State != sites.Failed || d.LastError != "system removed" || len(rc.got()) != 1 {
		t.Fatalf("delivery %+v after %d calls", d, len(rc.got()))
	}
}

// testRebinding: in a deployment, a site registered under a name that resolves to a
// loopback address at the time of the call is never connected to.
func testRebinding(t *testing.T, e *env) {
	rc := newReceiver(t, always(http.StatusOK))
	_, port, _ := strings.Cut(strings.TrimPrefix(rc.URL, "http://127.0.0.1"), ":")
	deploy := sites.New(e.table, e.clock, e.secrets, false, slog.New(slog.DiscardHandler))
	deploy.Client = sites.Client(sites.Dialer{Lookup: resolveTo("127.0.0.1")})
	if _, _, err := deploy.Register(ctx, e.tenant, sites.Registration{Name: "shop", URL: "https://shop.example.test:" + port + "/hook", Events: sites.Events}, audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
	r := e.processing(t, dsr.Erasure, dsr.Input{})
	deploy.Deliver(ctx, r)
	if d := e.deliveries(t, r.ID, 1)[0]; d.State != sites.Pending || d.LastError != "address not allowed" || len(rc.got()) != 0 {
		t.Fatalf("delivery %+v, %d calls reached the receiver", d, len(rc.got()))
	}
}

func hasCode(err error, code string) bool {
	return err != nil && strings.HasPrefix(err.Error(), code+":")
}

func ptr[T any](v T) *T { return &v }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// replaceURL points a stored system at another URL (there is no route for it: an operator
// removes and registers again).
func (e *env) replaceURL(t *testing.T, id, url string) {
	t.Helper()
	k := table.Key{PK: "T#" + e.tenant, SK: "SYS#" + id}
	it, err := e.table.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := it.Decode(&m); err != nil {
		t.Fatal(err)
	}
	m["url"] = url
	next, _ := table.NewItem(k, it.Version, m)
	if err := e.table.Put(ctx, next, table.VersionIs(it.Version)); err != nil {
		t.Fatal(err)
	}
}

// secretOf rotates a system's secret and returns the new one.
func (e *env) secretOf(t *testing.T, id string) string {
	t.Helper()
	_, s, err := e.svc.RotateSecret(ctx, e.tenant, id, audit.ActorOperator)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
