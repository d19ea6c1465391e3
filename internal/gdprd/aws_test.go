package gdprd_test

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/tenant"
)

// motoEnv starts moto_server and returns the environment that points gdprd at it.
func motoEnv(t *testing.T, table string) map[string]string {
	t.Helper()
	moto := mototest.Start(t)
	vars := map[string]string{
		"TABLE_NAME":        table,
		"BUCKET_NAME":       table + "-exports",
		"SENDER_EMAIL":      "no-reply@example.org",
		"GDPR_CREATE_TABLE": "1",
		// The flows read the clock, jobs and mail through /_local/*, asked for here.
		gdprd.EnvLocalRoutes: "1",
	}
	// config.LoadDefaultConfig reads the process environment: SetEnv clears what the shell
	// says of AWS first, so that no AWS_ENDPOINT_URL_<SERVICE> sends the calls elsewhere.
	moto.SetEnv(t)
	for _, kv := range moto.Env() {
		name, value, _ := strings.Cut(kv, "=")
		vars[name] = value
	}
	return vars
}

// TestAWS runs the same server on DynamoDB, S3 and SES, emulated by moto_server, into
// which it provisions the table and bucket itself (GDPR_CREATE_TABLE=1).
func TestAWS(t *testing.T) {
	vars := motoEnv(t, "gdpr-test")
	dir := t.TempDir()
	var banner bytes.Buffer
	s := start(t, gdprd.Config{DataDir: dir, Env: env(vars), Out: &banner})
	keys := credentials(t, dir)

	t.Run("Banner", func(t *testing.T) {
		if !strings.Contains(banner.String(), "DynamoDB gdpr-test") {
			t.Fatalf("banner does not name the table:\n%s", banner.String())
		}
	})
	t.Run("Health", func(t *testing.T) {
		if r := call(t, "GET", s.URL()+"/v1/health", "", nil); r.status != http.StatusOK {
			t.Fatalf("status = %d: %s", r.status, r.body)
		}
	})
	t.Run("DemoTenantInDynamoDB", func(t *testing.T) {
		if _, err := (tenant.Store{Table: s.Ports().Table, Clock: clock.System{}}).Get(context.Background(), gdprd.DemoTenant); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Keys", func(t *testing.T) {
		call(t, "GET", s.URL()+"/v1/consents/u-1", "", nil).problem(t, http.StatusUnauthorized)
		call(t, "GET", s.URL()+"/v1/requests", keys.SiteKey, nil).problem(t, http.StatusForbidden)
		if r := call(t, "GET", s.URL()+"/v1/requests", keys.AdminKey, nil); r.status != http.StatusOK {
			t.Fatalf("admin key: status = %d: %s", r.status, r.body)
		}
	})
	t.Run("TenantCreate", func(t *testing.T) {
		r, err := gdprd.NewRunner(context.Background(), gdprd.Config{DataDir: dir, Env: env(vars)}, clock.System{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		_, k, err := tenant.Store{Table: r.Ports.Table, Clock: clock.System{}}.Create(context.Background(), "acme")
		if err != nil {
			t.Fatal(err)
		}
		// The server sees the tenant the operator made: one store.
		if r := call(t, "GET", s.URL()+"/v1/requests", k.AdminKey, nil); r.status != http.StatusOK {
			t.Fatalf("new tenant's admin key: status = %d: %s", r.status, r.body)
		}
	})
	t.Run("NoLocalOutbox", func(t *testing.T) {
		if got, want := call(t, "GET", s.URL()+"/_local/outbox", "", nil).problem(t, http.StatusNotFound), "outbox_not_local"; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
	t.Run("NoLocalRoutesUnlessAsked", func(t *testing.T) {
		unasked := maps.Clone(vars)
		delete(unasked, gdprd.EnvLocalRoutes)
		s := start(t, gdprd.Config{DataDir: t.TempDir(), Env: env(unasked)})
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/_local/outbox", ""}, {"POST", "/_local/clock", `{"now":"2030-01-01T00:00:00Z"}`}, {"POST", "/_local/jobs/retention", ""},
		} {
			if got := call(t, r.method, s.URL()+r.path, "", jsonBody(r.body)).problem(t, http.StatusNotFound); got != "not_found" {
				t.Fatalf("%s %s: code = %q, want not_found", r.method, r.path, got)
			}
		}
	})
}

// TestAWSFeed feeds a stream function from DynamoDB Streams, as Lambda's event source
// mapping does in AWS.
func TestAWSFeed(t *testing.T) {
	vars := motoEnv(t, "gdpr-feed")
	spy := newSpy()
	dir := t.TempDir()
	s := start(t, gdprd.Config{DataDir: dir, Env: env(vars), Template: []byte(testTemplate), Functions: testFunctions(spy)})
	key := credentials(t, dir).SiteKey
	for id, status := range map[string]string{"a": "verified", "b": "pending"} {
		if r := call(t, "POST", s.URL()+"/test/items/"+id, key, []byte(`{"status":"`+status+`"}`)); r.status != http.StatusCreated {
			t.Fatalf("write %s: %d %s", id, r.status, r.body)
		}
	}
	waitFor(t, "record a delivered, failed once and delivered again", func() bool { return spy.count("TEST#a") >= 2 })
	if got := spy.count("TEST#b"); got != 0 {
		t.Fatalf("filtered-out record delivered %d times", got)
	}
}
