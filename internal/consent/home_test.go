package consent_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/policy"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest"
	"github.com/example/gdpr/internal/tenant"
)

// opener gives each subtest a table of its own on one home.
type opener func(t *testing.T) table.Table

// TestSQLite runs the suite on the embedded home.
func TestSQLite(t *testing.T) {
	run(t, func(t *testing.T) table.Table { return sqlitetest.MustOpen(t) })
}

// TestDynamo runs the suite on DynamoDB as moto emulates it: one server, a table per subtest
// (moto copies a whole table on every transaction, so small tables keep it fast).
//
// Writes reach moto one at a time, through mototest.Writes (moto loses concurrent writes
// otherwise); a transaction that meets another in flight on the same item is cancelled with
// DynamoDB's TransactionConflict answer, which the adapter reads as a conflict. So on this
// home "ConcurrentDecisions" shows the service's retry loop against real conditional writes
// and DynamoDB's conflict answers, with writers racing between their reads and their writes;
// it does not show how DynamoDB itself orders concurrent transactions, which no emulator can.
func TestDynamo(t *testing.T) {
	srv := mototest.Start(t)
	writes := mototest.NewWrites(nil)
	db := dynamodb.NewFromConfig(srv.Config(t), func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: writes}
	})
	def := tabletest.Def(t)
	var n atomic.Int64
	run(t, func(t *testing.T) table.Table {
		name := fmt.Sprintf("consent-%d", n.Add(1))
		if err := dynamo.CreateTable(t.Context(), db, name, def); err != nil {
			t.Fatal(err)
		}
		return dynamo.New(db, name, def)
	})
	t.Logf("transactions cancelled for meeting another in flight: %d", writes.Conflicts())
}

// env is one subtest's world: a table with tenant "acme" (default settings) and "beta", a
// service over it, and a clock the test moves.
type env struct {
	table    table.Table
	svc      *consent.Service
	clock    *clock.Settable
	secrets  secrets.Master
	policies policy.Store
	tenant   string
}

var start = time.Date(2026, 11, 28, 16, 47, 0, 0, time.UTC)

func newEnv(t *testing.T, open opener, settings ...func(*tenant.Tenant)) *env {
	t.Helper()
	tbl := open(t)
	// Frozen: tests compare times to the second, and a slow machine must not move them.
	clk := &clock.Settable{Frozen: true}
	clk.Set(start)
	m, err := secrets.New([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	store := tenant.Store{Table: tbl, Clock: clk}
	for _, id := range []string{"acme", "beta"} {
		if _, _, err := store.Create(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	if len(settings) > 0 {
		// Settings are written before the service first reads them: it caches them.
		tn, err := store.Get(t.Context(), "acme")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range settings {
			f(&tn)
		}
		it, err := table.NewItem(table.Key{PK: "T#acme", SK: "TENANT"}, 1, tn)
		if err != nil {
			t.Fatal(err)
		}
		if err := tbl.Put(t.Context(), it, table.VersionIs(1)); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{table: tbl, clock: clk, secrets: m, tenant: "acme"}
	e.svc = consent.New(consent.Config{Table: tbl, Clock: clk, Secrets: m, Tenants: store})
	return e
}

// withPolicies rebuilds the service with the policies feature on the same table.
func (e *env) withPolicies() {
	tenants := tenant.Store{Table: e.table, Clock: e.clock}
	e.policies = policy.Store{Table: e.table, Clock: e.clock, Tenants: tenants, Audit: audit.Log{Table: e.table}}
	e.svc = consent.New(consent.Config{Table: e.table, Clock: e.clock, Secrets: e.secrets, Tenants: tenants, Policies: policy.NewCache(e.policies, e.clock)})
}

// publish publishes a version taking effect after days.
func (e *env) publish(t *testing.T, version string, material bool, days int) {
	t.Helper()
	_, err := e.policies.Publish(t.Context(), e.tenant, policy.Input{
		Version: version, URL: "https://example.org/privacy/" + version, Summary: "What changes.",
		EffectiveAt: e.clock.Now().Add(time.Duration(days) * 24 * time.Hour), Material: material,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}
