package notifyfn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/bounces"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/handlers/notifyfn"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/notify"
	"github.com/example/gdpr/internal/outbox"
	"github.com/example/gdpr/internal/policy"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/ses"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest"
	"github.com/example/gdpr/internal/tenant"
)

const sender = "privacy@example.org"

// home is one home's table and mail for a subtest: the transport is wrapped by a test's own
// decorator (a kill, a rejection), and sent reads back what the transport kept.
type home struct {
	table table.Table
	mail  mail.Sender
	sent  func(t *testing.T) []string // recipients of every message, in any order
	// throttle makes the next n sends fail with the transport's own throttling answer.
	throttle func(n int64)
}

type opener func(t *testing.T) home

// TestSQLite runs the suite on the embedded home: SQLite and the outbox. Throttling is a
// decorator answering mail.ErrThrottled, as the outbox never throttles.
func TestSQLite(t *testing.T) {
	run(t, func(t *testing.T) home {
		box, err := outbox.New(t.TempDir(), sender, clock.System{})
		if err != nil {
			t.Fatal(err)
		}
		box.SetSendRate(500)
		th := &throttled{Sender: box}
		return home{
			table: sqlitetest.MustOpen(t),
			mail:  th,
			sent: func(t *testing.T) []string {
				list, err := box.List(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				var to []string
				for _, m := range list {
					to = append(to, m.To)
				}
				return to
			},
			throttle: func(n int64) { th.left.Store(n) },
		}
	})
}

// TestAWS runs the suite on DynamoDB and SES as moto emulates them, SES on a server of its
// own per subtest (its sent mail is read back). Throttling is SES's own Throttling answer,
// given by the HTTP transport under the SDK, so the adapter's reading of it is tested too.
func TestAWS(t *testing.T) {
	db := mototest.Start(t)
	client := dynamodb.NewFromConfig(db.Config(t))
	def := tabletest.Def(t)
	var n atomic.Int64
	run(t, func(t *testing.T) home {
		name := fmt.Sprintf("notify-%d", n.Add(1))
		if err := dynamo.CreateTable(t.Context(), client, name, def); err != nil {
			t.Fatal(err)
		}
		mailer := mototest.Start(t)
		tr := &sesThrottle{next: http.DefaultTransport}
		cfg := mailer.Config(t)
		cfg.HTTPClient = &http.Client{Transport: tr}
		sesClient := sesv2.NewFromConfig(cfg)
		if _, err := sesClient.CreateEmailIdentity(t.Context(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(sender)}); err != nil {
			t.Fatal(err)
		}
		return home{
			table: &oneWriter{Table: dynamo.New(client, name, def)},
			mail:  ses.New(sesClient, sender, ""),
			sent: func(t *testing.T) []string {
				var to []string
				for _, m := range mailer.SESMessages(t) {
					to = append(to, m.To...)
				}
				return to
			},
			throttle: func(n int64) { tr.left.Store(n) },
		}
	})
}

// oneWriter lets one write at a time reach moto: a cancelled TransactWriteItems there
// restores a copy of the whole table taken when it began, undoing what other threads wrote
// meanwhile (moto 5.2.1; see consent's suite and ../shared/TOOLING.md). DynamoDB serialises
// writes on an item and cancels a transaction that meets another in flight; a transaction
// that finds another in flight here fails its first condition the same way.
type oneWriter struct {
	table.Table
	mu sync.Mutex
}

func (o *oneWriter) Transact(ctx context.Context, ws []table.Write) error {
	if !o.mu.TryLock() {
		return &table.ConflictError{Index: 0, Key: ws[0].Item.Key}
	}
	defer o.mu.Unlock()
	return o.Table.Transact(ctx, ws)
}

func (o *oneWriter) Put(ctx context.Context, it table.Item, c table.Cond) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.Table.Put(ctx, it, c)
}

func (o *oneWriter) Delete(ctx context.Context, k table.Key, c table.Cond) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.Table.Delete(ctx, k, c)
}

// throttled answers mail.ErrThrottled instead of sending while left > 0.
type throttled struct {
	mail.Sender
	left atomic.Int64
}

func (s *throttled) Send(ctx context.Context, m mail.Message) (string, error) {
	if s.left.Add(-1) >= 0 {
		return "", fmt.Errorf("test transport: %w", mail.ErrThrottled)
	}
	return s.Sender.Send(ctx, m)
}

// SendRate passes the outbox's rate through the decorator.
func (s *throttled) SendRate(ctx context.Context) (float64, error) {
	return s.Sender.(mail.RateSource).SendRate(ctx)
}

// sesThrottle answers SendEmail calls with SES v2's throttling error (TooManyRequestsException)
// while left > 0.
type sesThrottle struct {
	next http.RoundTripper
	left atomic.Int64
}

const throttlingBody = `{"message":"Maximum sending rate exceeded."}`

func (s *sesThrottle) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.URL.Path == "/v2/email/outbound-emails" {
		if s.left.Add(-1) >= 0 {
			return &http.Response{
				StatusCode: http.StatusTooManyRequests,
				Header:     http.Header{"Content-Type": {"application/json"}, "X-Amzn-Errortype": {"TooManyRequestsException"}},
				Body:       io.NopCloser(strings.NewReader(throttlingBody)),
				Request:    r,
			}, nil
		}
	}
	return s.next.RoundTrip(r)
}

var start = time.Date(2026, 11, 28, 16, 47, 0, 0, time.UTC)

// env is one subtest's service: the function on a home, its clock, and the subjects made.
type env struct {
	home
	clock   *clock.Settable
	fn      *notifyfn.Function
	consent *consent.Service
	master  secrets.Master
	tenant  string
	// emails are the addresses that must be told, one notice each.
	emails []string
}

func run(t *testing.T, open opener) {
	for _, c := range []struct {
		name string
		f    func(t *testing.T, e *env)
	}{
		{"ExactlyOnceWithDuplicateRecords", testDuplicates},
		{"KillThenResume", testKillResume},
		{"Throttling", testThrottling},
		{"StopsBeforeDeadline", testDeadline},
		{"InterruptedClaimNotResent", testInterrupted},
		{"RejectedAddress", testRejected},
		{"LateRun", testLate},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(t, newEnv(t, open(t))) })
	}
}

func newEnv(t *testing.T, h home) *env {
	t.Helper()
	clk := &clock.Settable{}
	clk.Set(start)
	m, err := secrets.New([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{home: h, clock: clk, master: m, tenant: "acme"}
	p := &ports.Ports{Table: h.table, Mail: h.mail, Clock: clk, Secrets: m, Log: slog.New(slog.DiscardHandler)}
	if e.fn, err = notifyfn.NewWith(p, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	e.fn.Runner.PageSize = 4 // several pages per shard, so checkpoints matter
	// moto's SES tells a send rate of 1 a second; the suite paces faster on both homes.
	e.fn.Runner.Pacer = notify.NewPacer(nil, 200, nil)
	tenants := tenant.Store{Table: h.table, Clock: clk}
	if _, _, err := tenants.Create(t.Context(), e.tenant); err != nil {
		t.Fatal(err)
	}
	e.consent = consent.New(consent.Config{Table: h.table, Clock: clk, Secrets: m, Tenants: tenants,
		Policies: policy.NewCache(policy.Store{Table: h.table, Clock: clk, Tenants: tenants}, clk)})
	return e
}

// subjects makes n subjects who must be told, and the ones who must not: an erased one, one
// without an address, one whose address bounced; and a restricted one, who is told.
func (e *env) subjects(t *testing.T, n int) {
	t.Helper()
	ctx := t.Context()
	decide := func(id, email string) {
		t.Helper()
		_, err := e.consent.Record(ctx, e.tenant, consent.Decision{SubjectID: id, Email: email, PolicyVersion: "2026-01",
			Purposes: map[string]bool{"terms": true}, Method: consent.MethodWebForm})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		email := fmt.Sprintf("s%03d@example.org", i)
		decide(fmt.Sprintf("u-%03d", i), email)
		e.emails = append(e.emails, email)
	}
	decide("u-restricted", "restricted@example.org")
	e.emails = append(e.emails, "restricted@example.org")
	if _, err := e.consent.SetRestricted(ctx, e.tenant, "u-restricted", true); err != nil {
		t.Fatal(err)
	}
	decide("u-noemail", "")
	if _, err := e.consent.PutProfile(ctx, e.tenant, "u-noemail", consent.ProfileInput{FirstName: "Bo"}); err != nil {
		t.Fatal(err)
	}
	decide("u-bounced", "bounced@example.org")
	if err := (bounces.Store{Table: e.table, Secrets: e.master}).Mark(ctx, e.tenant, "bounced@example.org", "test", start); err != nil {
		t.Fatal(err)
	}
	decide("u-erased", "erased@example.org")
	k := table.Key{PK: "T#" + e.tenant + "#S#u-erased", SK: "CONSENT"}
	it, err := e.table.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	var st consent.State
	if err := it.Decode(&st); err != nil {
		t.Fatal(err)
	}
	st.Erased = true
	erased, _ := table.NewItem(k, it.Version, st)
	if err := e.table.Put(ctx, erased, table.VersionIs(it.Version)); err != nil {
		t.Fatal(err)
	}
}

// suppressedSubjects are the subjects that subjects makes and no notice may reach.
const suppressedSubjects = 3

// publish publishes version as the API does (with its run) and returns the stream record of
// its new item.
func (e *env) publish(t *testing.T, version string, days int) events.DynamoDBEventRecord {
	t.Helper()
	store := policy.Store{Table: e.table, Clock: e.clock, Tenants: tenant.Store{Table: e.table, Clock: e.clock}, Audit: audit.Log{Table: e.table}}
	_, err := store.Publish(t.Context(), e.tenant, policy.Input{
		Version: version, URL: "https://example.org/privacy/" + version, Summary: "We now keep device logs for 60 days.\nNothing else changes.",
		EffectiveAt: e.clock.Now().Add(time.Duration(days) * 24 * time.Hour), Material: true,
	}, func(p policy.Policy) ([]table.Write, error) { return notify.StartWrites(e.tenant, p) })
	if err != nil {
		t.Fatal(err)
	}
	k := policy.Key(e.tenant, version)
	return events.DynamoDBEventRecord{
		EventID: "ev-" + version, EventName: "INSERT", EventSource: "aws:dynamodb",
		Change: events.DynamoDBStreamRecord{
			Keys:           map[string]events.DynamoDBAttributeValue{"pk": events.NewStringAttribute(k.PK), "sk": events.NewStringAttribute(k.SK)},
			SequenceNumber: "1",
		},
	}
}

func (e *env) status(t *testing.T, version string) notify.Status {
	t.Helper()
	st, err := notify.ReadStatus(t.Context(), e.table, e.tenant, version, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// checkAllToldOnce checks that every address that must be told got exactly one message and
// nobody else got any, and that the counts add up to the subjects.
func (e *env) checkAllToldOnce(t *testing.T, version string, wantFailed int64) {
	t.Helper()
	got := map[string]int{}
	for _, to := range e.sent(t) {
		got[to]++
	}
	for _, email := range e.emails {
		if got[email] != 1 {
			t.Errorf("%s got %d notices, want 1", email, got[email])
		}
		delete(got, email)
	}
	for to, n := range got {
		t.Errorf("%s got %d notices, want none", to, n)
	}
	st := e.status(t, version)
	subjects := int64(len(e.emails) + suppressedSubjects)
	if st.State != notify.StateDone || st.Total != subjects || st.Pending != 0 {
		t.Fatalf("status %+v; want done with %d subjects", st, subjects)
	}
	if st.Sent+st.Failed+st.Suppressed+st.Pending != st.Total {
		t.Fatalf("counts do not add up: %+v", st)
	}
	if st.Sent != int64(len(e.emails))-wantFailed || st.Failed != wantFailed || st.Suppressed != suppressedSubjects {
		t.Fatalf("status %+v; want %d sent, %d failed, %d suppressed", st, int64(len(e.emails))-wantFailed, wantFailed, suppressedSubjects)
	}
	for _, r := range []string{notify.ReasonErased, notify.ReasonNoEmail, notify.ReasonBouncing} {
		if st.Reasons[r] != 1 {
			t.Errorf("reasons %v: want one %s", st.Reasons, r)
		}
	}
	// No marker names the erased subject (its key would hold the id); the others have one.
	k := table.Key{PK: policy.PK(e.tenant) + "#" + version, SK: "S#u-erased"}
	if _, err := e.table.Get(t.Context(), k); !errors.Is(err, table.ErrNotFound) {
		t.Errorf("a notice marker names the erased subject: %v", err)
	}
	if _, err := e.table.Get(t.Context(), table.Key{PK: k.PK, SK: "S#u-bounced"}); err != nil {
		t.Errorf("the bounced subject's marker: %v", err)
	}
}

func testDuplicates(t *testing.T, e *env) {
	e.subjects(t, 12)
	rec := e.publish(t, "2026-02", 31)
	// The same record twice in a batch, two batches at once, and once more afterwards.
	batch := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{rec, rec}}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := e.fn.Stream(t.Context(), batch)
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Errorf("stream: %v, failures %v", err, resp.BatchItemFailures)
			}
		}()
	}
	wg.Wait()
	// The invocation that found the run leased left it to the other; the schedule finishes
	// whatever is left (nothing, unless the leases interleaved).
	if _, err := e.fn.Schedule(t.Context(), json.RawMessage(`{"job":"notifications"}`)); err != nil {
		t.Fatal(err)
	}
	if resp, err := e.fn.Stream(t.Context(), batch); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("stream again: %v, %v", err, resp.BatchItemFailures)
	}
	e.checkAllToldOnce(t, "2026-02", 0)
	entries, _, err := audit.Log{Table: e.table}.List(t.Context(), e.tenant, audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var completed, published int
	for _, en := range entries {
		switch en.Action {
		case "policy.published":
			published++
		case "policy.notices_completed":
			completed++
			if en.Detail["sent"] != fmt.Sprint(len(e.emails)) || en.Detail["suppressed"] != "3" {
				t.Errorf("completion audit %v", en.Detail)
			}
		}
	}
	if published != 1 || completed != 1 {
		t.Fatalf("audit: %d publications, %d completions; want 1 and 1", published, completed)
	}
}

// killer cancels the invocation after its n-th send, as a process that dies right after
// it: nothing the invocation holds in memory survives.
type killer struct {
	mail.Sender
	after  int64
	sent   atomic.Int64
	cancel context.CancelFunc
}

func (k *killer) Send(ctx context.Context, m mail.Message) (string, error) {
	id, err := k.Sender.Send(ctx, m)
	if err == nil && k.sent.Add(1) == k.after {
		k.cancel()
	}
	return id, err
}

func testKillResume(t *testing.T, e *env) {
	e.subjects(t, 16)
	e.publish(t, "2026-02", 31)
	ctx, cancel := context.WithCancel(t.Context())
	k := &killer{Sender: e.mail, after: 7, cancel: cancel}
	e.fn.Runner.Mail = k
	if _, err := e.fn.Runner.Work(ctx, e.tenant, "2026-02"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Work = %v; want it killed", err)
	}
	if got := len(e.sent(t)); got < 7 || got >= len(e.emails) {
		t.Fatalf("%d sent before the kill, want 7 and not every one", got)
	}
	// The killed invocation's lease holds the run until it runs out.
	rep, err := e.fn.Runner.Work(t.Context(), e.tenant, "2026-02")
	if err != nil || !rep.Busy {
		t.Fatalf("Work while the dead invocation's lease holds = %+v, %v; want busy", rep, err)
	}
	e.clock.Set(e.clock.Now().Add(11 * time.Minute))
	e.fn.Runner.Mail = e.mail
	if _, err := e.fn.Schedule(t.Context(), json.RawMessage(`{"job":"notifications"}`)); err != nil {
		t.Fatal(err)
	}
	e.checkAllToldOnce(t, "2026-02", 0)
}

func testThrottling(t *testing.T, e *env) {
	e.subjects(t, 6)
	e.throttle(5)
	e.publish(t, "2026-02", 31)
	if _, err := e.fn.Schedule(t.Context(), json.RawMessage(`{"job":"notifications"}`)); err != nil {
		t.Fatal(err)
	}
	e.checkAllToldOnce(t, "2026-02", 0)
}

func testDeadline(t *testing.T, e *env) {
	e.subjects(t, 10)
	e.publish(t, "2026-02", 31)
	// Paced to 2 a second, an invocation with 6 s (1 s after the margin) sends about two.
	e.fn.Runner.Pacer = notify.NewPacer(nil, 2, nil)
	ctx, cancel := context.WithTimeout(t.Context(), notify.DefaultMargin+time.Second)
	defer cancel()
	rep, err := e.fn.Runner.Work(ctx, e.tenant, "2026-02")
	if err != nil {
		t.Fatal(err)
	}
	if rep.State != notify.StateRunning {
		t.Fatalf("report %+v; want the run stopped unfinished", rep)
	}
	if ctx.Err() != nil {
		t.Fatal("the invocation ran to its deadline instead of stopping before it")
	}
	st := e.status(t, "2026-02")
	if st.Sent == 0 || st.Pending == 0 || st.Sent+st.Pending+st.Failed+st.Suppressed != st.Total {
		t.Fatalf("status after the first invocation %+v", st)
	}
	e.fn.Runner.Pacer = notify.NewPacer(nil, 500, nil)
	if _, err := e.fn.Schedule(t.Context(), json.RawMessage(`{"job":"notifications"}`)); err != nil {
		t.Fatal(err)
	}
	e.checkAllToldOnce(t, "2026-02", 0)
}

// testInterrupted plants the claim a crash between a send and its record leaves behind: the
// subject is not sent a second notice, and is counted failed, interrupted.
func testInterrupted(t *testing.T, e *env) {
	e.subjects(t, 4)
	e.publish(t, "2026-02", 31)
	claim, _ := table.NewItem(table.Key{PK: "T#" + e.tenant + "#P#2026-02", SK: "S#u-001"}, 0, map[string]any{"state": "sending", "at": start})
	if err := e.table.Put(t.Context(), claim, table.Cond{Kind: table.IfAbsent}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fn.Schedule(t.Context(), json.RawMessage(`{"job":"notifications"}`)); err != nil {
		t.Fatal(err)
	}
	e.emails = append(e.emails[:1], e.emails[2:]...) // s001 is not told again
	got := map[string]int{}
	for _, to := range e.sent(t) {
		got[to]++
	}
	if got["s001@example.org"] != 0 {
		t.Fatal("an interrupted claim was sent again")
	}
	st := e.status(t, "2026-02")
	if st.Failed != 1 || st.Reasons[notify.ReasonInterrupted] != 1 || st.Sent != int64(len(e.emails)) {
		t.Fatalf("status %+v; want one failed, interrupted", st)
	}
}

// rejecting refuses the message to one address as a transport does a refused recipient.
type rejecting struct {
	mail.Sender
	to string
}

func (r rejecting) Send(ctx context.Context, m mail.Message) (string, error) {
	if m.To == r.to {
		return "", fmt.Errorf("test transport: %w", mail.ErrRejected)
	}
	return r.Sender.Send(ctx, m)
}

func testRejected(t *testing.T, e *env) {
	e.subjects(t, 5)
	e.publish(t, "2026-02", 31)
	e.fn.Runner.Mail = rejecting{Sender: e.mail, to: "s002@example.org"}
	if _, err := e.fn.Schedule(t.Context(), json.RawMessage(`{"job":"notifications"}`)); err != nil {
		t.Fatal(err)
	}
	st := e.status(t, "2026-02")
	if st.Failed != 1 || st.Reasons["rejected"] != 1 {
		t.Fatalf("status %+v; want one failed, rejected", st)
	}
	// The address is known to bounce now: the next version's run skips it.
	e.fn.Runner.Mail = e.mail
	e.publish(t, "2026-03", 40)
	if _, err := e.fn.Schedule(t.Context(), json.RawMessage(`{"job":"notifications"}`)); err != nil {
		t.Fatal(err)
	}
	if st := e.status(t, "2026-03"); st.Suppressed != suppressedSubjects+1 || st.Reasons[notify.ReasonBouncing] != 2 || st.Failed != 0 {
		t.Fatalf("next run %+v; want the rejected address suppressed as bouncing", st)
	}
}

func testLate(t *testing.T, e *env) {
	e.subjects(t, 3)
	e.publish(t, "2026-02", 31)
	e.clock.Set(e.clock.Now().Add(32 * 24 * time.Hour)) // nothing ran before it took effect
	if _, err := e.fn.Schedule(t.Context(), json.RawMessage(`{"job":"notifications"}`)); err != nil {
		t.Fatal(err)
	}
	st := e.status(t, "2026-02")
	if st.Late == nil || st.Late.Sent != int64(len(e.emails)) || st.State != notify.StateDone {
		t.Fatalf("status %+v; want done and every notice late", st)
	}
	entries, _, err := audit.Log{Table: e.table}.List(t.Context(), e.tenant, audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var late, completedLate bool
	for _, en := range entries {
		late = late || en.Action == "policy.notices_late"
		completedLate = completedLate || (en.Action == "policy.notices_completed" && en.Detail["late_sent"] == fmt.Sprint(len(e.emails)))
	}
	if !late || !completedLate {
		t.Fatalf("audit does not report the late run: %+v", entries)
	}
}
