package requestsapi_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/handlers/requestsapi"
	"github.com/example/gdpr/internal/handlers/retentionjob"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/outbox"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest"
	"github.com/example/gdpr/internal/tenant"
)

// rqStore is one home's table and change feed.
type rqStore struct {
	table table.Table
	feed  table.Feed
}

func rqSQLite(t testing.TB) rqStore {
	t.Helper()
	db := sqlitetest.MustOpen(t)
	return rqStore{table: db, feed: db}
}

// rqDynamoDB starts moto_server and returns a function that makes a new table on it for
// each case, so that jobs which visit every tenant see only the case's own.
func rqDynamoDB(t *testing.T) func(t *testing.T) rqStore {
	t.Helper()
	srv := mototest.Start(t)
	cfg := srv.Config(t)
	db := dynamodb.NewFromConfig(cfg)
	streams := dynamodbstreams.NewFromConfig(cfg)
	n := 0
	return func(t *testing.T) rqStore {
		t.Helper()
		n++
		name := fmt.Sprintf("gdpr-handlers-%d", n)
		if err := dynamo.CreateTable(context.Background(), db, name, tabletest.Def(t)); err != nil {
			t.Fatal(err)
		}
		return rqStore{table: dynamo.New(db, name, tabletest.Def(t)), feed: dynamo.NewFeed(streams, db, name)}
	}
}

// rqStart is when every case begins: Saturday 31 January 2026.
var rqStart = time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)

// rqEnv is the requests and retention functions on one home, with two tenants.
type rqEnv struct {
	ports     *ports.Ports
	outbox    *outbox.Outbox
	clock     *clock.Settable
	api       lambdamain.HTTPHandler
	retention lambdamain.ScheduleHandler
	tenant    string // "acme-" and a random suffix
	other     string
	keys      map[string]tenant.Keys // by tenant
}

func newRQEnv(t testing.TB, s rqStore) *rqEnv {
	t.Helper()
	// Frozen: tests compare times to the second, and a slow machine must not move them.
	clk := &clock.Settable{Frozen: true}
	clk.Set(rqStart)
	master, err := secrets.New([]byte(strings.Repeat("m", 32)))
	if err != nil {
		t.Fatal(err)
	}
	// The outbox orders its messages by the time it dates them: it keeps a clock that moves,
	// so that the newest message is the one sent last.
	mailClock := &clock.Settable{}
	mailClock.Set(rqStart)
	out, err := outbox.New(filepath.Join(t.TempDir(), "outbox"), "Privacy <privacy@example.org>", mailClock)
	if err != nil {
		t.Fatal(err)
	}
	p := &ports.Ports{
		Table:   s.table,
		Feed:    s.feed,
		Mail:    out,
		Clock:   clk,
		Secrets: master,
		Log:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	a, err := requestsapi.New(p)
	if err != nil {
		t.Fatal(err)
	}
	retention, err := retentionjob.New(p)
	if err != nil {
		t.Fatal(err)
	}
	suffix := hex.EncodeToString(secrets.Random(6))
	e := &rqEnv{ports: p, outbox: out, clock: clk, api: a.Handle, retention: retention,
		tenant: "acme-" + suffix, other: "other-" + suffix, keys: map[string]tenant.Keys{}}
	ts := tenant.Store{Table: s.table, Clock: clk}
	for _, id := range []string{e.tenant, e.other} {
		_, k, err := ts.Create(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		e.keys[id] = k
	}
	return e
}

// caller is who sends an event: no key, or a tenant's site or admin key, and from which
// address.
type caller struct {
	tenant, role string
	source       string
	token        string // Authorization: Bearer, for the public status route
	idemKey      string
}

// rqResponse is an answer with its body decoded.
type rqResponse struct {
	status  int
	headers map[string]string
	raw     string
	body    map[string]any
}

// call sends one event to the requests function. route is the route key; path fills its
// parameters in order.
func (e *rqEnv) call(t testing.TB, c caller, route string, query url.Values, body string, params ...string) rqResponse {
	t.Helper()
	method, tpl, _ := strings.Cut(route, " ")
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       route,
		Headers:        map[string]string{"content-type": "application/json"},
		PathParameters: map[string]string{},
		Body:           body,
	}
	if method == "PATCH" { // the settings route takes a JSON merge patch (RFC 7396)
		ev.Headers["content-type"] = "application/merge-patch+json"
	}
	path := tpl
	for _, name := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(tpl, -1) {
		if len(params) == 0 {
			t.Fatalf("no value for {%s}", name[1])
		}
		ev.PathParameters[name[1]] = params[0]
		path = strings.Replace(path, name[0], url.PathEscape(params[0]), 1)
		params = params[1:]
	}
	ev.RawPath = path
	if len(query) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k := range query {
			ev.QueryStringParameters[k] = query.Get(k)
		}
		ev.RawQueryString = query.Encode()
	}
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.HTTP.Path = path
	ev.RequestContext.HTTP.SourceIP = c.source
	switch c.role {
	case tenant.RoleSite:
		ev.Headers["authorization"] = "Bearer " + e.keys[c.tenant].SiteKey
	case tenant.RoleAdmin:
		ev.Headers["authorization"] = "Bearer " + e.keys[c.tenant].AdminKey
	case "":
	default:
		t.Fatalf("caller role %q", c.role)
	}
	if c.token != "" {
		ev.Headers["authorization"] = "Bearer " + c.token
	}
	if c.idemKey != "" {
		ev.Headers["idempotency-key"] = c.idemKey
	}
	resp, err := e.api(context.Background(), ev)
	if err != nil {
		t.Fatalf("%s: handler error %v", route, err)
	}
	r := rqResponse{status: resp.StatusCode, headers: resp.Headers, raw: resp.Body}
	if resp.Body != "" {
		if err := json.Unmarshal([]byte(resp.Body), &r.body); err != nil {
			t.Fatalf("%s: body %q is not a JSON object: %v", route, resp.Body, err)
		}
	}
	return r
}

// want fails unless the answer has status (and, for errors, code).
func (r rqResponse) want(t testing.TB, status int, code string) rqResponse {
	t.Helper()
	if r.status != status || (code != "" && r.body["code"] != code) {
		t.Fatalf("answer %d %s, want %d %s", r.status, r.raw, status, code)
	}
	return r
}

func (r rqResponse) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// mail returns the newest message the outbox holds for an address.
func (e *rqEnv) mail(t testing.TB, to string) outbox.Sent {
	t.Helper()
	sent, err := e.outbox.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sent {
		if m.To == to {
			return m
		}
	}
	t.Fatalf("no email to %s among %d", to, len(sent))
	return outbox.Sent{}
}

var rqCodeLine = regexp.MustCompile(`(?m)^Verification code: (\S+)$`)

func rqCode(t testing.TB, m outbox.Sent) string {
	t.Helper()
	c := rqCodeLine.FindStringSubmatch(m.Text)
	if c == nil {
		t.Fatalf("no verification code line in %q", m.Text)
	}
	return c[1]
}
