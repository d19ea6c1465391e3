package dsr_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest"
	"github.com/example/gdpr/internal/tenant"
)

// store is one home's table and change feed.
type store struct {
	table table.Table
	feed  table.Feed
}

// TestSQLite runs the suite on the embedded home, a new database per case.
func TestSQLite(t *testing.T) {
	runSuite(t, func(t *testing.T) store {
		db := sqlitetest.MustOpen(t)
		return store{table: db, feed: db}
	})
}

// TestDynamoDB runs the suite on DynamoDB (moto_server), a table per case: moto copies the
// whole table on every transaction, so a table shared by every case makes the later cases'
// transactions slow. Writes reach moto one at a time through mototest.Writes, which cancels a
// transaction that meets another in flight on the same item with DynamoDB's
// TransactionConflict answer (moto loses concurrent writes otherwise).
func TestDynamoDB(t *testing.T) {
	srv := mototest.Start(t)
	cfg := srv.Config(t)
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: mototest.NewWrites(nil)}
	})
	streams := dynamodbstreams.NewFromConfig(cfg)
	def := tabletest.Def(t)
	var n atomic.Int64
	runSuite(t, func(t *testing.T) store {
		name := fmt.Sprintf("gdpr-dsr-%d", n.Add(1))
		if err := dynamo.CreateTable(context.Background(), db, name, def); err != nil {
			t.Fatal(err)
		}
		return store{table: dynamo.New(db, name, def), feed: dynamo.NewFeed(streams, db, name)}
	})
}

// start is when every case begins: a Saturday, the last day of a month.
var start = time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)

// env is one case's service, in a tenant of its own.
type env struct {
	store
	tenant  string
	clock   *clock.Settable
	mail    *recorder
	secrets secrets.Master
	svc     *dsr.Service
	tenants tenant.Store
}

// sweep runs the retention job's walk of the tenant's expiry index at now.
func (e *env) sweep(now time.Time) (expiry.Report, error) {
	sw := expiry.Sweeper{Table: e.table, Deadlines: e.svc.Deadlines(), Owners: e.svc.Owners()}
	return sw.Sweep(ctx, e.tenant, start, now)
}

// expireAt sweeps at now and returns how many requests expired.
func (e *env) expireAt(now time.Time) (int, error) {
	rep, err := e.sweep(now)
	return rep.Expired[dsr.KindRequests], err
}

func newEnv(t *testing.T, s store) *env {
	t.Helper()
	// Frozen: tests compare times to the second, and a slow machine must not move them.
	clk := &clock.Settable{Frozen: true}
	clk.Set(start)
	master, err := secrets.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: s, clock: clk, mail: &recorder{}, secrets: master, tenant: newTenantID(t)}
	e.tenants = tenant.Store{Table: s.table, Clock: clk}
	if _, _, err := e.tenants.Create(context.Background(), e.tenant); err != nil {
		t.Fatal(err)
	}
	e.svc = &dsr.Service{Table: s.table, Tenants: e.tenants, Mail: e.mail, Clock: clk, Secrets: master}
	return e
}

func newTenantID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "t-" + hex.EncodeToString(b)
}

// setTenant changes the tenant's stored settings (tenant.Store has no update yet).
func (e *env) setTenant(t *testing.T, change func(*tenant.Tenant)) {
	t.Helper()
	k := table.Key{PK: "T#" + e.tenant, SK: "TENANT"}
	it, err := e.table.Get(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	var tn tenant.Tenant
	if err := it.Decode(&tn); err != nil {
		t.Fatal(err)
	}
	change(&tn)
	next, err := table.NewItem(k, it.Version, tn)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.table.Put(context.Background(), next, table.VersionIs(it.Version)); err != nil {
		t.Fatal(err)
	}
}

// addSubject stores a profile, and the email lookup when email is set, through the profile's
// owner as the consent function does.
func (e *env) addSubject(t *testing.T, id, email string) {
	t.Helper()
	ws, err := subject.NewProfileWrite(e.secrets, e.tenant, id).Writes(subject.Profile{}, 0, subject.Profile{FirstName: "Ann", Email: email, UpdatedAt: start})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.table.Transact(context.Background(), ws); err != nil {
		t.Fatal(err)
	}
}

// recorder is a mail sender that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	sent []mail.Message
	fail error
}

func (r *recorder) Send(_ context.Context, m mail.Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return "", r.fail
	}
	r.sent = append(r.sent, m)
	return fmt.Sprint(len(r.sent)), nil
}

func (r *recorder) all() []mail.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mail.Message(nil), r.sent...)
}

// last returns the newest message, which must exist.
func (r *recorder) last(t *testing.T) mail.Message {
	t.Helper()
	all := r.all()
	if len(all) == 0 {
		t.Fatal("no email sent")
	}
	return all[len(all)-1]
}

var codeLine = regexp.MustCompile(`(?m)^Verification code: (\S+)$`)

// codeIn returns the verification code of a message's text.
func codeIn(t *testing.T, m mail.Message) string {
	t.Helper()
	c := codeLine.FindStringSubmatch(m.Text)
	if c == nil {
		t.Fatalf("no verification code line in %q", m.Text)
	}
	return c[1]
}
