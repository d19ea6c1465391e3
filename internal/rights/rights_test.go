package rights_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/bounces"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/export"
	"github.com/example/gdpr/internal/files"
	"github.com/example/gdpr/internal/fulfilment"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/notify"
	"github.com/example/gdpr/internal/objects"
	"github.com/example/gdpr/internal/policy"
	"github.com/example/gdpr/internal/rights"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest"
	"github.com/example/gdpr/internal/tenant"
)

// TestSQLite and TestDynamo run the suite on each home.
func TestSQLite(t *testing.T) {
	run(t, func(t *testing.T) table.Table { return sqlitetest.MustOpen(t) })
}

func TestDynamo(t *testing.T) {
	srv := mototest.Start(t)
	db := dynamodb.NewFromConfig(srv.Config(t))
	def := tabletest.Def(t)
	var n atomic.Int64
	run(t, func(t *testing.T) table.Table {
		name := fmt.Sprintf("rights-%d", n.Add(1))
		if err := dynamo.CreateTable(t.Context(), db, name, def); err != nil {
			t.Fatal(err)
		}
		return dynamo.New(db, name, def)
	})
}

func run(t *testing.T, open func(t *testing.T) table.Table) {
	t.Run("ErasureCrashAtEveryStep", func(t *testing.T) { testErasureCrashes(t, open) })
	t.Run("ErasureUnknownSubject", func(t *testing.T) { testUnknown(t, open(t)) })
	t.Run("ErasureFailsAfterMaxAttempts", func(t *testing.T) { testFailure(t, open(t)) })
	t.Run("RestrictionLiftTellsFirst", func(t *testing.T) { testRestriction(t, open(t)) })
	t.Run("ObjectionAgreesWithIntake", func(t *testing.T) { testObjection(t, open(t)) })
	t.Run("Rectification", func(t *testing.T) { testRectification(t, open(t)) })
}

var start = time.Date(2026, 11, 28, 16, 47, 0, 0, time.UTC)

// Personal data of the subject under test; none of it may survive an erasure.
const (
	email     = "ann.example@example.org"
	firstName = "Annabel"
	lastName  = "Quixotic"
	phone     = "+44 20 7946 0123"
	ip        = "203.0.113.77"
	userAgent = "Mozilla/5.0 (ErasureTest; rv:146.0)"
)

var personal = []string{email, firstName, lastName, phone, ip, userAgent}

// env is one tenant's fulfilment on a table, with a table that can be made to crash.
type env struct {
	table   *crashable
	clock   *clock.Settable
	secrets secrets.Master
	tenant  string
	mail    *recorder
	objects objects.Store
	consent *consent.Service
	dsr     *dsr.Service
	runner  fulfilment.Runner
}

var tenantSeq atomic.Int64

func newEnv(t *testing.T, tbl table.Table, settings ...func(*tenant.Tenant)) *env {
	t.Helper()
	clk := &clock.Settable{}
	clk.Set(start)
	m, err := secrets.New([]byte(strings.Repeat("r", 32)))
	if err != nil {
		t.Fatal(err)
	}
	store, err := files.New(t.TempDir(), "http://127.0.0.1:1", []byte(strings.Repeat("f", 32)), clk)
	if err != nil {
		t.Fatal(err)
	}
	crash := &crashable{Table: tbl}
	e := &env{table: crash, clock: clk, secrets: m, mail: &recorder{table: crash}, objects: store,
		tenant: fmt.Sprintf("t%d", tenantSeq.Add(1))}
	tenants := tenant.Store{Table: tbl, Clock: clk}
	if _, _, err := tenants.Create(t.Context(), e.tenant); err != nil {
		t.Fatal(err)
	}
	if len(settings) > 0 {
		k := table.Key{PK: "T#" + e.tenant, SK: "TENANT"}
		it, err := tbl.Get(t.Context(), k)
		if err != nil {
			t.Fatal(err)
		}
		var tn tenant.Tenant
		if err := it.Decode(&tn); err != nil {
			t.Fatal(err)
		}
		for _, f := range settings {
			f(&tn)
		}
		next, _ := table.NewItem(k, it.Version, tn)
		if err := tbl.Put(t.Context(), next, table.VersionIs(it.Version)); err != nil {
			t.Fatal(err)
		}
	}
	e.consent = consent.New(consent.Config{Table: e.table, Clock: clk, Secrets: m, Tenants: tenants})
	e.dsr = dsr.New(e.table, tenants, e.mail, clk, m)
	svc := &rights.Service{Table: e.table, Clock: clk, Secrets: m, Tenants: tenants, Consent: e.consent, Requests: e.dsr, Objects: store}
	e.runner = fulfilment.Runner{Requests: e.dsr, Work: svc.Work, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return e
}

// addSubject gives subject id everything an erasure must remove.
func (e *env) addSubject(t *testing.T, id, addr string, devices int) {
	t.Helper()
	ctx := t.Context()
	d := consent.Decision{SubjectID: id, Email: addr, PolicyVersion: "2026-01", Method: consent.MethodWebForm,
		Purposes: map[string]bool{"terms": true, "rba": true, "marketing": true},
		Evidence: consent.Evidence{IP: ip, UserAgent: userAgent, Locale: "en"}}
	if _, err := e.consent.Record(ctx, e.tenant, d); err != nil {
		t.Fatal(err)
	}
	if _, err := e.consent.PutProfile(ctx, e.tenant, id, consent.ProfileInput{FirstName: firstName, LastName: lastName, Email: addr, Phone: phone}); err != nil {
		t.Fatal(err)
	}
	for range devices {
		if _, err := e.consent.RecordDevice(ctx, e.tenant, id, consent.Device{IP: ip, UserAgent: userAgent, Location: "London"}); err != nil {
			t.Fatal(err)
		}
	}
}

// noticed publishes a policy version and runs its notification run to the end, with the
// subject's address marked as bouncing first: every subject then has a notice marker, and the
// address a bounce mark. It returns the version.
func (e *env) noticed(t *testing.T) string {
	t.Helper()
	ctx := t.Context()
	const version = "2027-01"
	tenants := tenant.Store{Table: e.table, Clock: e.clock}
	policies := policy.Store{Table: e.table, Clock: e.clock, Tenants: tenants, Audit: audit.Log{Table: e.table}}
	in := policy.Input{Version: version, URL: "https://example.org/privacy", Summary: "Logs are kept 60 days.", EffectiveAt: start.Add(40 * 24 * time.Hour)}
	if _, err := policies.Publish(ctx, e.tenant, in, func(p policy.Policy) ([]table.Write, error) { return notify.StartWrites(e.tenant, p) }); err != nil {
		t.Fatal(err)
	}
	if err := (bounces.Store{Table: e.table, Secrets: e.secrets}).Mark(ctx, e.tenant, email, "MessageRejected", start); err != nil {
		t.Fatal(err)
	}
	runner := &notify.Runner{Table: e.table, Clock: e.clock, Secrets: e.secrets, Mail: e.mail, Pacer: notify.NewPacer(nil, 1000, nil),
		Tenants: tenants, Policies: policies, Audit: audit.Log{Table: e.table}}
	if rep, err := runner.Work(ctx, e.tenant, version); err != nil || rep.State != notify.StateDone {
		t.Fatalf("notification run: %+v, %v", rep, err)
	}
	return version
}

var codeLine = regexp.MustCompile(`Verification code: (\S+)`)

// verified submits a request for subject id as its site does, and verifies it.
func (e *env) verified(t *testing.T, in dsr.Input) dsr.Request {
	t.Helper()
	r, err := e.dsr.Submit(t.Context(), e.tenant, in, dsr.Caller{Actor: audit.ActorSite})
	if err != nil {
		t.Fatal(err)
	}
	c := codeLine.FindStringSubmatch(e.mail.last(t).Text)
	if c == nil {
		t.Fatal("no verification code")
	}
	r, _, err = e.dsr.Verify(t.Context(), e.tenant, r.ID, c[1])
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *env) get(t *testing.T, id string) dsr.Request {
	t.Helper()
	r, err := e.dsr.Get(t.Context(), e.tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// crashable is a table that dies (every write after fails) at a chosen point: the write that
// records a request's nth step, before it (the step's work done, its record lost) or after it.
type crashable struct {
	table.Table
	mu      sync.Mutex
	request table.Key
	step    int
	before  bool
	dead    bool
}

var errCrash = errors.New("injected crash")

func (c *crashable) arm(request table.Key, step int, before bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.request, c.step, c.before, c.dead = request, step, before, false
}

func (c *crashable) disarm() { c.arm(table.Key{}, 0, false) }

func (c *crashable) isDead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

// write runs w unless the table is dead; items are the items it writes.
func (c *crashable) write(items []table.Item, w func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return errCrash
	}
	hit := false
	for _, it := range items {
		if it.Key != c.request || c.step == 0 {
			continue
		}
		var r struct {
			Steps []string `json:"steps"`
		}
		if json.Unmarshal(it.Data, &r) == nil && len(r.Steps) == c.step {
			hit = true
		}
	}
	if hit && c.before {
		c.dead = true
		return errCrash
	}
	err := w()
	if hit && err == nil {
		c.dead = true
	}
	return err
}

func (c *crashable) Put(ctx context.Context, it table.Item, cond table.Cond) error {
	return c.write([]table.Item{it}, func() error { return c.Table.Put(ctx, it, cond) })
}

func (c *crashable) Delete(ctx context.Context, k table.Key, cond table.Cond) error {
	return c.write(nil, func() error { return c.Table.Delete(ctx, k, cond) })
}

func (c *crashable) Transact(ctx context.Context, ws []table.Write) error {
	var items []table.Item
	for _, w := range ws {
		if w.Op == table.OpPut {
			items = append(items, w.Item)
		}
	}
	return c.write(items, func() error { return c.Table.Transact(ctx, ws) })
}

// recorder keeps the mail it is given, unless the process is dead (crashable): a crash stops
// everything after it.
type recorder struct {
	mu    sync.Mutex
	sent  []mail.Message
	table *crashable
}

func (r *recorder) Send(_ context.Context, m mail.Message) (string, error) {
	if r.table != nil && r.table.isDead() {
		return "", errCrash
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return fmt.Sprintf("m%d", len(r.sent)), nil
}

func (r *recorder) last(t *testing.T) mail.Message {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sent) == 0 {
		t.Fatal("no mail sent")
	}
	return r.sent[len(r.sent)-1]
}

// to lists the mail sent to addr since mark, in order.
func (r *recorder) to(addr string, mark int) []mail.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []mail.Message
	for _, m := range r.sent[mark:] {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

// subjects lists the subject lines of the mail sent to addr since mark, in order.
func (r *recorder) subjects(addr string, mark int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.sent[mark:] {
		if m.To == addr {
			out = append(out, m.Subject)
		}
	}
	return out
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sent)
}

const (
	receiptSubject = "Your personal data has been erased"
	erasureSteps   = 9 // gate, notices, profile, devices, exports, consent, requests, receipt, contact
)

// testErasureCrashes crashes an erasure at every step, before and after the step is recorded,
// replays it, and checks the end state each time: completed, one receipt (two when the crash
// fell between sending it and recording it: mail is at least once), nothing personal left.
func testErasureCrashes(t *testing.T, open func(t *testing.T) table.Table) {
	for step := 0; step <= erasureSteps; step++ {
		for _, before := range []bool{true, false} {
			if step == 0 && before {
				continue // step 0: no crash at all
			}
			t.Run(fmt.Sprintf("Step%dBefore%v", step, before), func(t *testing.T) {
				t.Parallel() // each case has a table of its own
				e := newEnv(t, open(t), func(tn *tenant.Tenant) {
					tn.Retained = []tenant.RetainedCategory{{Category: "billing", Reason: "invoices are kept 10 years (tax law)"}}
				})
				ctx := t.Context()
				e.addSubject(t, "u-42", email, 30)
				e.addSubject(t, "u-7", "bob@example.org", 2)
				access := e.verified(t, dsr.Input{Type: dsr.Access, SubjectID: "u-42", Note: "from " + firstName})
				exportKey := export.ObjectKey(e.tenant, access.ID)
				if err := e.objects.Put(ctx, exportKey, "application/zip", strings.NewReader(email)); err != nil {
					t.Fatal(err)
				}
				version := e.noticed(t)
				r := e.verified(t, dsr.Input{Type: dsr.Erasure, SubjectID: "u-42"})
				mark := e.mail.count()

				if step > 0 {
					e.table.arm(table.Key{PK: "T#" + e.tenant + "#R#" + r.ID, SK: "REQUEST"}, step, before)
					if err := e.runner.Run(ctx, e.tenant, r.ID); !errors.Is(err, errCrash) {
						t.Fatalf("crashed run = %v; want the crash", err)
					}
					e.table.disarm()
				}
				if err := e.runner.Run(ctx, e.tenant, r.ID); err != nil {
					t.Fatal(err)
				}
				// A duplicated stream record changes nothing.
				if err := e.runner.Run(ctx, e.tenant, r.ID); err != nil {
					t.Fatal(err)
				}

				got := e.get(t, r.ID)
				if got.Status != dsr.Completed {
					t.Fatalf("status %s (%s); want completed", got.Status, got.Failure)
				}
				if !slices.Equal(got.Steps, []string{"gate", "notices", "profile", "devices", "exports", "consent", "requests", "receipt", "contact"}) {
					t.Fatalf("steps %v", got.Steps)
				}
				receipts := 0
				var receipt mail.Message
				for _, m := range e.mail.to(email, mark) {
					if m.Subject == receiptSubject {
						receipts++
						receipt = m
					}
				}
				if want := 1; receipts != want && !(step == 8 && before && receipts == 2) {
					t.Fatalf("%d receipts; want %d", receipts, want)
				}
				for _, want := range []string{r.ID, "billing", "invoices are kept 10 years (tax law)", "your profile", "the devices"} {
					if !strings.Contains(receipt.Text, want) {
						t.Fatalf("receipt lacks %q:\n%s", want, receipt.Text)
					}
				}

				e.wantErased(t, "u-42", []string{r.ID, access.ID})
				if _, err := e.objects.Get(ctx, exportKey); !errors.Is(err, objects.ErrNotFound) {
					t.Fatalf("export still there: %v", err)
				}
				// The notice markers name the subject: u-42's is gone, u-7's stays; and the
				// address's bounce mark went with its lookup.
				markers := map[string]bool{}
				for _, it := range all(t, e.table, table.Query{PK: "T#" + e.tenant + "#P#" + version}) {
					markers[it.Key.SK] = true
				}
				if markers["S#u-42"] || !markers["S#u-7"] || len(markers) != 1 {
					t.Fatalf("notice markers after the erasure: %v; want only S#u-7", markers)
				}
				if left := all(t, e.table, table.Query{PK: subject.EmailKey(e.secrets, e.tenant, email).PK}); len(left) != 0 {
					t.Fatalf("%d items left beside the erased address's lookup (a bounce mark?)", len(left))
				}
				// The other subject keeps everything.
				if v, err := e.consent.Get(ctx, e.tenant, "u-7"); err != nil || !v.LoginAllowed {
					t.Fatalf("u-7: %+v, %v", v, err)
				}
				if p, err := e.consent.GetProfile(ctx, e.tenant, "u-7"); err != nil || p.Email != "bob@example.org" {
					t.Fatalf("u-7 profile: %+v, %v", p, err)
				}
			})
		}
	}
}

// wantErased checks that nothing about subject id is left but its pseudonym's records, and
// that the proof of its consent still verifies.
func (e *env) wantErased(t *testing.T, id string, requests []string) {
	t.Helper()
	ctx := t.Context()
	if _, err := e.consent.Get(ctx, e.tenant, id); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("consent after erasure: %v; want not found", err)
	}
	if _, err := e.consent.GetProfile(ctx, e.tenant, id); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("profile after erasure: %v; want not found", err)
	}
	if _, err := subject.FindByEmail(ctx, e.table, e.secrets, e.tenant, email); !errors.Is(err, subject.ErrNotFound) {
		t.Fatalf("email lookup after erasure: %v", err)
	}
	ps := subject.Pseudonym(e.secrets, e.tenant, id)
	pks := []string{subject.PK(e.tenant, id), consent.ErasedPK(e.tenant, ps), "T#" + e.tenant + "#AUDIT"}
	for _, r := range requests {
		pks = append(pks, "T#"+e.tenant+"#R#"+r)
	}
	for _, pk := range pks {
		items := all(t, e.table, table.Query{PK: pk})
		if pk == subject.PK(e.tenant, id) && len(items) > 0 {
			t.Fatalf("the subject's partition holds %d items", len(items))
		}
		for _, it := range items {
			for _, pd := range personal {
				if bytes.Contains(it.Data, []byte(pd)) {
					t.Fatalf("%s holds personal data", it.Key)
				}
			}
		}
	}
	entries, heads, err := e.consent.ErasedLedger(ctx, e.tenant, ps)
	if err != nil || len(entries) == 0 || len(heads) != 1 {
		t.Fatalf("erased ledger: %d entries, %d heads, %v", len(entries), len(heads), err)
	}
	if err := consent.Verify(entries); err != nil {
		t.Fatal(err)
	}
	if heads[0].Hash != entries[len(entries)-1].Hash {
		t.Fatal("the kept head is not the chain's last entry")
	}
	for _, r := range requests {
		if got := e.get(t, r); got.Pseudonym != ps || got.SubjectID != "" || got.SealedContact != "" || got.Note != "" {
			t.Fatalf("request %s keeps more than the pseudonym: %+v", r, got)
		}
	}
}

func all(t *testing.T, tbl table.Table, q table.Query) []table.Item {
	t.Helper()
	var out []table.Item
	for {
		p, err := tbl.Query(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Items...)
		if p.Next == "" {
			return out
		}
		q.Cursor = p.Next
	}
}

// testUnknown: an erasure about nobody completes with the no personal data email.
func testUnknown(t *testing.T, tbl table.Table) {
	e := newEnv(t, tbl)
	for _, in := range []dsr.Input{
		{Type: dsr.Erasure, Email: "nobody@example.org"},
		{Type: dsr.Erasure, SubjectID: "u-ghost", Email: "ghost@example.org"},
		{Type: dsr.Objection, SubjectID: "u-ghost2", Email: "ghost2@example.org"},
		{Type: dsr.Restriction, SubjectID: "u-ghost3", Email: "ghost3@example.org"},
	} {
		r := e.verified(t, in)
		mark := e.mail.count()
		if err := e.runner.Run(t.Context(), e.tenant, r.ID); err != nil {
			t.Fatal(err)
		}
		if got := e.get(t, r.ID); got.Status != dsr.Completed {
			t.Fatalf("%s: status %s", in.Type, got.Status)
		}
		if s := e.mail.subjects(in.Email, mark); len(s) != 1 || !strings.Contains(s[0], "we hold no personal data") {
			t.Fatalf("%s: mail %v; want one no_data email", in.Type, s)
		}
	}
}

// failingMail refuses every message: a fulfilment that cannot tell the subject fails.
type failingMail struct{ *recorder }

func (f failingMail) Send(_ context.Context, m mail.Message) (string, error) {
	if strings.Contains(m.Subject, "needs a person") {
		return f.recorder.Send(context.Background(), m)
	}
	return "", errors.New("mail refused")
}

// testFailure: a step that keeps failing ends the request failed after dsr.MaxAttempts, with a
// reason naming the step and no personal data, audited, in the failed queue, the subject told.
func testFailure(t *testing.T, tbl table.Table) {
	e := newEnv(t, tbl)
	e.addSubject(t, "u-42", email, 1)
	r := e.verified(t, dsr.Input{Type: dsr.Erasure, SubjectID: "u-42"})
	mark := e.mail.count()
	e.dsr.Mail = failingMail{e.mail}
	for i := 1; i <= dsr.MaxAttempts; i++ {
		err := e.runner.Run(t.Context(), e.tenant, r.ID)
		if i < dsr.MaxAttempts && err == nil {
			t.Fatalf("attempt %d: no error; the record must be retried", i)
		}
		if i == dsr.MaxAttempts && err != nil {
			t.Fatalf("last attempt: %v; want the request failed and the record done", err)
		}
	}
	got := e.get(t, r.ID)
	if got.Status != dsr.Failed || !strings.Contains(got.Failure, "receipt") {
		t.Fatalf("status %s, failure %q; want failed at the receipt", got.Status, got.Failure)
	}
	for _, pd := range personal {
		if strings.Contains(got.Failure, pd) {
			t.Fatal("failure reason holds personal data")
		}
	}
	if s := e.mail.subjects(email, mark); len(s) != 1 || !strings.Contains(s[0], "needs a person") {
		t.Fatalf("mail %v; want the failed email", s)
	}
	queue, _, err := e.dsr.List(t.Context(), e.tenant, dsr.Filter{Status: dsr.Failed, Limit: 10})
	if err != nil || len(queue) != 1 || queue[0].ID != r.ID {
		t.Fatalf("failed queue %v, %v", queue, err)
	}
	entries, _, err := (audit.Log{Table: tbl}).List(t.Context(), e.tenant, audit.Filter{RequestID: r.ID, Limit: 100})
	if err != nil || !slices.ContainsFunc(entries, func(en audit.Entry) bool { return en.Action == "request.failed" }) {
		t.Fatalf("no request.failed audit entry: %v", err)
	}
}

// testRestriction: restriction flags the subject (intake refused, the gate still open); a lift
// emails the subject before the flag comes off.
func testRestriction(t *testing.T, tbl table.Table) {
	e := newEnv(t, tbl)
	ctx := t.Context()
	e.addSubject(t, "u-42", email, 0)
	r := e.verified(t, dsr.Input{Type: dsr.Restriction, SubjectID: "u-42"})
	for range 2 {
		if err := e.runner.Run(ctx, e.tenant, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	v, err := e.consent.Get(ctx, e.tenant, "u-42")
	if err != nil || !v.Restricted || !v.LoginAllowed {
		t.Fatalf("after restriction: %+v, %v; want restricted and the login gate open", v, err)
	}
	_, err = e.consent.PutProfile(ctx, e.tenant, "u-42", consent.ProfileInput{FirstName: "New"})
	if ae, ok := err.(interface{ Error() string }); !ok || !strings.Contains(ae.Error(), "restricted") {
		t.Fatalf("profile intake while restricted: %v", err)
	}

	lift := true
	l := e.verified(t, dsr.Input{Type: dsr.Restriction, SubjectID: "u-42", Lift: &lift})
	mark := e.mail.count()
	// The lift crashes right after the notice is recorded: still restricted, subject told.
	e.table.arm(table.Key{PK: "T#" + e.tenant + "#R#" + l.ID, SK: "REQUEST"}, 1, false)
	if err := e.runner.Run(ctx, e.tenant, l.ID); !errors.Is(err, errCrash) {
		t.Fatalf("crashed lift = %v", err)
	}
	e.table.disarm()
	if s := e.mail.subjects(email, mark); len(s) != 1 || !strings.Contains(s[0], "about to be lifted") {
		t.Fatalf("mail before the lift: %v", s)
	}
	if v, _ := e.consent.Get(ctx, e.tenant, "u-42"); !v.Restricted {
		t.Fatal("the restriction came off before the notice was recorded")
	}
	if err := e.runner.Run(ctx, e.tenant, l.ID); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.consent.Get(ctx, e.tenant, "u-42"); v.Restricted {
		t.Fatal("still restricted after the lift")
	}
	if s := e.mail.subjects(email, mark); len(s) != 2 || !strings.Contains(s[1], "is done") {
		t.Fatalf("mail of the lift: %v; want the notice, then the confirmation", s)
	}
	if got := e.get(t, l.ID); !slices.Equal(got.Steps, []string{"lifting_notice", "lift", "told"}) {
		t.Fatalf("lift steps %v", got.Steps)
	}
}

// testObjection: an objection withdraws marketing with a ledger entry of method objection and
// marks the subject; the consent intake then refuses marketing but by an explicit opt-in.
func testObjection(t *testing.T, tbl table.Table) {
	e := newEnv(t, tbl)
	ctx := t.Context()
	e.addSubject(t, "u-42", email, 0)
	r := e.verified(t, dsr.Input{Type: dsr.Objection, SubjectID: "u-42"})
	mark := e.mail.count()
	for range 2 {
		if err := e.runner.Run(ctx, e.tenant, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	v, err := e.consent.Get(ctx, e.tenant, "u-42")
	if err != nil || !v.Objected || v.Purposes["marketing"].Granted {
		t.Fatalf("after objection: %+v, %v", v, err)
	}
	entries, _, err := e.consent.History(ctx, e.tenant, "u-42", 10, "")
	if err != nil || entries[0].Method != consent.MethodObjection || entries[0].RequestID != r.ID || len(entries) != 2 {
		t.Fatalf("ledger %+v, %v; want one objection entry naming the request", entries, err)
	}
	if s := e.mail.subjects(email, mark); len(s) != 1 || !strings.Contains(s[0], "no more direct marketing") {
		t.Fatalf("mail %v", s)
	}
	plain := consent.Decision{SubjectID: "u-42", PolicyVersion: "2026-01", Method: consent.MethodWebForm, Purposes: map[string]bool{"marketing": true}}
	if _, err := e.consent.Record(ctx, e.tenant, plain); !errors.Is(err, consent.ErrMarketingObjected) {
		t.Fatalf("plain consent after objection: %v; want marketing_objected", err)
	}
	plain.Method = consent.MethodExplicitOptIn
	if rc, err := e.consent.Record(ctx, e.tenant, plain); err != nil || !rc.State.Purposes["marketing"].Granted || rc.State.Objected {
		t.Fatalf("explicit opt-in after objection: %+v, %v", rc.State, err)
	}
}

// testRectification: the fields are applied by the profile's rules, the email lookup moves,
// the shard index stays, the subject is told; a new address another subject holds fails.
func testRectification(t *testing.T, tbl table.Table) {
	e := newEnv(t, tbl)
	ctx := t.Context()
	e.addSubject(t, "u-42", email, 0)
	e.addSubject(t, "u-7", "bob@example.org", 0)
	before, err := tbl.Get(ctx, subject.ProfileKey(e.tenant, "u-42"))
	if err != nil {
		t.Fatal(err)
	}
	newEmail, newPhone := "ann.new@example.org", "+44 20 7946 0999"
	r := e.verified(t, dsr.Input{Type: dsr.Rectification, SubjectID: "u-42", Rectification: &dsr.ProfileFields{Email: &newEmail, Phone: &newPhone}})
	for range 2 {
		if err := e.runner.Run(ctx, e.tenant, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	p, err := e.consent.GetProfile(ctx, e.tenant, "u-42")
	if err != nil || p.Email != newEmail || p.Phone != newPhone || p.FirstName != firstName {
		t.Fatalf("profile %+v, %v", p, err)
	}
	if id, err := subject.FindByEmail(ctx, tbl, e.secrets, e.tenant, newEmail); err != nil || id != "u-42" {
		t.Fatalf("new lookup: %q, %v", id, err)
	}
	if _, err := subject.FindByEmail(ctx, tbl, e.secrets, e.tenant, email); !errors.Is(err, subject.ErrNotFound) {
		t.Fatalf("old lookup: %v", err)
	}
	after, err := tbl.Get(ctx, subject.ProfileKey(e.tenant, "u-42"))
	if err != nil {
		t.Fatal(err)
	}
	var b, a struct {
		GSI1PK string `json:"gsi1pk"`
		GSI1SK string `json:"gsi1sk"`
	}
	_ = before.Decode(&b)
	_ = after.Decode(&a)
	if a.GSI1PK == "" || a != b {
		t.Fatalf("shard index keys %+v, were %+v", a, b)
	}
	if s := e.mail.subjects(email, 0); !slices.Contains(s, "Your personal data has been corrected") {
		t.Fatalf("mail %v", s)
	}

	taken := "bob@example.org"
	r2 := e.verified(t, dsr.Input{Type: dsr.Rectification, SubjectID: "u-42", Rectification: &dsr.ProfileFields{Email: &taken}})
	if err := e.runner.Run(ctx, e.tenant, r2.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t, r2.ID); got.Status != dsr.Failed || strings.Contains(got.Failure, "bob") {
		t.Fatalf("rectification to a taken address: %s %q; want failed, without the address", got.Status, got.Failure)
	}
}
