package consentapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/handlers/consentapi"
	"github.com/example/gdpr/internal/handlers/retentionjob"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest"
	"github.com/example/gdpr/internal/table/tabletest/tablecount"
	"github.com/example/gdpr/internal/tenant"
)

// csOpener gives each subtest a table of its own on one home.
type csOpener func(tb testing.TB) table.Table

func csSQLite(tb testing.TB) table.Table {
	tb.Helper()
	return sqlitetest.MustOpen(tb)
}

func TestConsentSQLite(t *testing.T) { runCSSuite(t, csSQLite) }

// TestConsentDynamo runs the same suite on DynamoDB as moto emulates it, a table per subtest.
// The suite writes one call at a time, so moto's unguarded concurrency does not matter here.
func TestConsentDynamo(t *testing.T) {
	srv := mototest.Start(t)
	db := dynamodb.NewFromConfig(srv.Config(t))
	def := tabletest.Def(t)
	var n atomic.Int64
	runCSSuite(t, func(tb testing.TB) table.Table {
		name := fmt.Sprintf("handlers-%d", n.Add(1))
		if err := dynamo.CreateTable(tb.Context(), db, name, def); err != nil {
			tb.Fatal(err)
		}
		return dynamo.New(db, name, def)
	})
}

func runCSSuite(t *testing.T, open csOpener) {
	cases := []struct {
		name string
		fn   func(*testing.T, *csFixture)
	}{
		{"RecordAndGate", testRecordAndGate},
		{"GPCHeader", testGPCHeader},
		{"UnknownPurpose", testHTTPUnknownPurpose},
		{"BadInput", testBadInput},
		{"MarketingObjected", testMarketingObjected},
		{"DeniedTerms", testHTTPDeniedTerms},
		{"Restricted", testHTTPRestricted},
		{"Withdraw", testHTTPWithdraw},
		{"History", testHTTPHistory},
		{"Idempotency", testIdempotency},
		{"TenantIsolation", testHTTPTenantIsolation},
		{"Unauthenticated", testUnauthenticated},
		{"Profile", testHTTPProfile},
		{"Devices", testHTTPDevices},
		{"NoPersonalDataInLogsOrErrors", testNoPersonalData},
		{"TableOperations", testTableOps},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newCSFixture(t, open)) })
	}
}

// csFixture is ConsentFunction on one home, with tenants "acme" and "beta".
type csFixture struct {
	api   *httpapi.API
	table *tablecount.Table
	clock *clock.Settable
	// svc shares the table: it plays the request fulfilment that restricts and objects.
	svc  *consent.Service
	logs *csLogs
	// retention is RetentionFunction's job on the same ports.
	retention lambdamain.ScheduleHandler
	keys      map[string]tenant.Keys // by tenant
}

// csLogs collects log output from concurrent handlers.
type csLogs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *csLogs) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *csLogs) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var csStart = time.Date(2026, 11, 28, 16, 47, 0, 0, time.UTC)

func newCSFixture(tb testing.TB, open csOpener) *csFixture {
	tb.Helper()
	counted := tablecount.New(open(tb))
	// Frozen: tests compare times to the second, and a slow machine must not move them.
	clk := &clock.Settable{Frozen: true}
	clk.Set(csStart)
	m, err := secrets.New([]byte(strings.Repeat("m", 32)))
	if err != nil {
		tb.Fatal(err)
	}
	logs := &csLogs{}
	p := &ports.Ports{Table: counted, Clock: clk, Secrets: m, Log: slog.New(slog.NewJSONHandler(logs, nil))}
	keys := map[string]tenant.Keys{}
	for _, id := range []string{"acme", "beta"} {
		_, k, err := (tenant.Store{Table: counted, Clock: clk}).Create(tb.Context(), id)
		if err != nil {
			tb.Fatal(err)
		}
		keys[id] = k
	}
	retention, err := retentionjob.New(p)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := consentapi.New(p)
	if err != nil {
		tb.Fatal(err)
	}
	return &csFixture{
		api:       a,
		table:     counted,
		clock:     clk,
		svc:       consent.New(consent.Config{Table: counted, Clock: clk, Secrets: m, Tenants: tenant.Store{Table: counted, Clock: clk}}),
		logs:      logs,
		retention: retention,
		keys:      keys,
	}
}

// csCall is one request as API Gateway hands it over, with the key of tenant's role.
type csCall struct {
	method, path, body string
	tenant, role       string
	headers            map[string]string
}

type csResponse struct {
	status  int
	headers map[string]string
	body    string
}

func (r csResponse) decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		tb.Fatalf("body %q: %v", r.body, err)
	}
}

// csRoute maps a path to its route key and path parameters.
func csRoute(method, path string) (string, map[string]string) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case len(parts) == 2 && parts[1] == "consents":
		return method + " /v1/consents", nil
	case len(parts) == 3 && parts[1] == "consents":
		return method + " /v1/consents/{subject_id}", map[string]string{"subject_id": parts[2]}
	case len(parts) == 4 && parts[1] == "consents":
		return method + " /v1/consents/{subject_id}/" + parts[3], map[string]string{"subject_id": parts[2]}
	case len(parts) == 4 && parts[1] == "subjects":
		return method + " /v1/subjects/{subject_id}/" + parts[3], map[string]string{"subject_id": parts[2]}
	}
	return method + " " + path, nil
}

func (f *csFixture) do(tb testing.TB, c csCall) csResponse {
	tb.Helper()
	key, params := csRoute(c.method, strings.SplitN(c.path, "?", 2)[0])
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: key, RawPath: strings.SplitN(c.path, "?", 2)[0],
		Headers: map[string]string{"content-type": "application/json"}, PathParameters: params, Body: c.body,
	}
	if _, q, ok := strings.Cut(c.path, "?"); ok {
		ev.QueryStringParameters = map[string]string{}
		for _, kv := range strings.Split(q, "&") {
			k, v, _ := strings.Cut(kv, "=")
			ev.QueryStringParameters[k] = v
		}
	}
	for k, v := range c.headers {
		ev.Headers[strings.ToLower(k)] = v
	}
	ev.RequestContext.HTTP.Method = c.method
	ev.RequestContext.HTTP.SourceIP = "198.51.100.1"
	role := c.role
	if role == "" {
		role = "site"
	}
	t := c.tenant
	if t == "" {
		t = "acme"
	}
	if _, set := ev.Headers["authorization"]; !set {
		ev.Headers["authorization"] = "Bearer " + f.key(tb, t, role)
	}
	out, err := f.api.Handle(tb.Context(), ev)
	if err != nil {
		tb.Fatalf("Handle returned an error: %v", err)
	}
	if out.Headers["X-Request-Id"] == "" {
		tb.Fatalf("%s %s: no X-Request-Id", c.method, c.path)
	}
	return csResponse{status: out.StatusCode, headers: out.Headers, body: out.Body}
}

// key is the API key of tenant's role.
func (f *csFixture) key(tb testing.TB, tenantID, role string) string {
	tb.Helper()
	switch role {
	case tenant.RoleSite:
		return f.keys[tenantID].SiteKey
	case tenant.RoleAdmin:
		return f.keys[tenantID].AdminKey
	}
	tb.Fatalf("role %q", role)
	return ""
}

// want checks the status, and for an error the problem's code.
func (r csResponse) want(tb testing.TB, status int, code string) {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status = %d (%s); want %d", r.status, r.body, status)
	}
	if code == "" {
		return
	}
	if got := r.headers["Content-Type"]; got != "application/problem+json" {
		tb.Fatalf("Content-Type = %q; want problem+json", got)
	}
	var p struct {
		Code   string `json:"code"`
		Status int    `json:"status"`
	}
	r.decode(tb, &p)
	if p.Code != code || p.Status != status {
		tb.Fatalf("problem = %s; want code %s", r.body, code)
	}
}

const csDecisionJSON = `{"subject_id":"u-42","email":"ann@example.org","policy_version":"2026-01",
	"purposes":{"terms":true,"rba":true,"marketing":false},
	"method":"web_form","evidence":{"ip":"203.0.113.9","user_agent":"Mozilla/5.0 (Ann's laptop)","locale":"en"}}`

func csDecision(subjectID string, terms, rba, marketing bool) string {
	return fmt.Sprintf(`{"subject_id":%q,"policy_version":"2026-01","purposes":{"terms":%v,"rba":%v,"marketing":%v},"method":"web_form"}`, subjectID, terms, rba, marketing)
}

func (f *csFixture) decide(tb testing.TB, subjectID string, terms, rba, marketing bool) {
	tb.Helper()
	f.do(tb, csCall{method: "POST", path: "/v1/consents", body: csDecision(subjectID, terms, rba, marketing)}).want(tb, 201, "")
}

type csState struct {
	SubjectID     string `json:"subject_id"`
	PolicyVersion string `json:"policy_version"`
	Purposes      map[string]struct {
		Granted bool    `json:"granted"`
		At      *string `json:"at"`
	} `json:"purposes"`
	LoginAllowed      bool `json:"login_allowed"`
	ReconsentRequired bool `json:"reconsent_required"`
	Restricted        bool `json:"restricted"`
	Objected          bool `json:"objected"`
}

func (f *csFixture) state(tb testing.TB, subjectID string) csState {
	tb.Helper()
	r := f.do(tb, csCall{method: "GET", path: "/v1/consents/" + subjectID})
	r.want(tb, 200, "")
	var s csState
	r.decode(tb, &s)
	return s
}

// csKeys returns the sorted top-level keys of a JSON object.
func csKeys(tb testing.TB, body string) []string {
	tb.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		tb.Fatal(err)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func testRecordAndGate(t *testing.T, f *csFixture) {
	r := f.do(t, csCall{method: "POST", path: "/v1/consents", body: csDecisionJSON})
	r.want(t, 201, "")
	if got, want := strings.Join(csKeys(t, r.body), ","), "gpc,policy_version,purposes,receipt_id,recorded_at,state,subject_id"; got != want {
		t.Fatalf("receipt fields = %s; want %s", got, want)
	}
	var rc struct {
		ReceiptID  string          `json:"receipt_id"`
		SubjectID  string          `json:"subject_id"`
		Purposes   map[string]bool `json:"purposes"`
		RecordedAt time.Time       `json:"recorded_at"`
		GPC        bool            `json:"gpc"`
		State      csState         `json:"state"`
	}
	r.decode(t, &rc)
	if !strings.HasPrefix(rc.ReceiptID, "rcpt_") || rc.SubjectID != "u-42" || rc.GPC || !rc.Purposes["terms"] || rc.Purposes["marketing"] {
		t.Fatalf("receipt = %+v", rc)
	}
	var raw struct {
		RecordedAt string `json:"recorded_at"`
	}
	r.decode(t, &raw)
	if !strings.HasSuffix(raw.RecordedAt, "Z") || rc.RecordedAt.Before(csStart) {
		t.Fatalf("recorded_at = %q; want RFC 3339 in UTC", raw.RecordedAt)
	}
	if !rc.State.LoginAllowed {
		t.Fatalf("state in receipt = %+v", rc.State)
	}

	s := f.state(t, "u-42")
	gate := f.do(t, csCall{method: "GET", path: "/v1/consents/u-42"})
	if got, want := strings.Join(csKeys(t, gate.body), ","), "login_allowed,objected,policy_version,purposes,reconsent_required,restricted,subject_id"; got != want {
		t.Fatalf("state fields = %s; want %s", got, want)
	}
	if !s.LoginAllowed || s.ReconsentRequired || s.Restricted || s.Objected || s.PolicyVersion != "2026-01" {
		t.Fatalf("state = %+v", s)
	}
	for _, p := range []string{"terms", "rba", "marketing"} {
		if s.Purposes[p].At == nil || !strings.HasSuffix(*s.Purposes[p].At, "Z") {
			t.Fatalf("purposes[%s] = %+v; want a UTC time", p, s.Purposes[p])
		}
	}
	f.do(t, csCall{method: "GET", path: "/v1/consents/nobody"}).want(t, 404, "subject_not_found")
}

func testGPCHeader(t *testing.T, f *csFixture) {
	r := f.do(t, csCall{method: "POST", path: "/v1/consents", body: csDecision("u-1", true, true, true), headers: map[string]string{"Sec-GPC": "1"}})
	r.want(t, 201, "")
	var rc struct {
		Purposes map[string]bool `json:"purposes"`
		GPC      bool            `json:"gpc"`
	}
	r.decode(t, &rc)
	if !rc.GPC || rc.Purposes["marketing"] {
		t.Fatalf("receipt = %+v; want gpc and marketing false", rc)
	}
	if f.state(t, "u-1").Purposes["marketing"].Granted {
		t.Fatal("marketing granted under Sec-GPC: 1")
	}
	// Any other value is not the signal.
	r = f.do(t, csCall{method: "POST", path: "/v1/consents", body: csDecision("u-2", true, true, true), headers: map[string]string{"Sec-GPC": "0"}})
	r.decode(t, &rc)
	if rc.GPC || !rc.Purposes["marketing"] {
		t.Fatalf("receipt with Sec-GPC: 0 = %+v", rc)
	}
	var h struct {
		Items []struct {
			GPC bool `json:"gpc"`
		} `json:"items"`
	}
	f.do(t, csCall{method: "GET", path: "/v1/consents/u-1/history"}).decode(t, &h)
	if len(h.Items) != 1 || !h.Items[0].GPC {
		t.Fatalf("history = %+v; want the entry with gpc true", h)
	}
}

func testHTTPUnknownPurpose(t *testing.T, f *csFixture) {
	r := f.do(t, csCall{method: "POST", path: "/v1/consents", body: `{"subject_id":"u-1","policy_version":"2026-01","purposes":{"terms":true,"newsletter":true},"method":"web_form"}`})
	r.want(t, 422, "unknown_purpose")
	var p struct {
		Errors []struct{ Field string } `json:"errors"`
	}
	r.decode(t, &p)
	if len(p.Errors) != 1 || p.Errors[0].Field != "purposes.newsletter" {
		t.Fatalf("errors = %+v", p.Errors)
	}
	f.do(t, csCall{method: "GET", path: "/v1/consents/u-1"}).want(t, 404, "subject_not_found")
	f.decide(t, "u-1", true, true, true)
	f.do(t, csCall{method: "POST", path: "/v1/consents/u-1/withdraw", body: `{"purposes":["newsletter"]}`}).want(t, 422, "unknown_purpose")
}

func testBadInput(t *testing.T, f *csFixture) {
	for name, c := range map[string]struct {
		csCall
		status int
		code   string
	}{
		"UnknownField":     {csCall{method: "POST", path: "/v1/consents", body: `{"subject_id":"u-1","policy_version":"1","purposes":{"terms":true},"method":"web_form","extra":1}`}, 400, "invalid_json"},
		"WrongType":        {csCall{method: "POST", path: "/v1/consents", body: `{"subject_id":"u-1","policy_version":"1","purposes":{"terms":"yes"},"method":"web_form"}`}, 400, "invalid_json"},
		"NoBody":           {csCall{method: "POST", path: "/v1/consents"}, 400, "invalid_json"},
		"BadMethod":        {csCall{method: "POST", path: "/v1/consents", body: `{"subject_id":"u-1","policy_version":"1","purposes":{"terms":true},"method":"telepathy"}`}, 400, "validation_failed"},
		"NoPurposes":       {csCall{method: "POST", path: "/v1/consents", body: `{"subject_id":"u-1","policy_version":"1","purposes":{},"method":"web_form"}`}, 400, "validation_failed"},
		"BadPathSubject":   {csCall{method: "GET", path: "/v1/consents/a%23b"}, 400, "validation_failed"},
		"BadLimit":         {csCall{method: "GET", path: "/v1/consents/u-1/history?limit=501"}, 400, "validation_failed"},
		"ProfileNoBody":    {csCall{method: "PUT", path: "/v1/subjects/u-1/profile"}, 400, "invalid_json"},
		"DeviceBadSeenAt":  {csCall{method: "POST", path: "/v1/subjects/u-1/devices", body: `{"browser":"x","seen_at":"yesterday"}`}, 400, "validation_failed"},
		"WithdrawNotArray": {csCall{method: "POST", path: "/v1/consents/u-1/withdraw", body: `{"purposes":"rba"}`}, 400, "invalid_json"},
		"TooLarge":         {csCall{method: "POST", path: "/v1/consents", body: `{"subject_id":"` + strings.Repeat("a", 70<<10) + `"}`}, 413, "payload_too_large"},
	} {
		t.Run(name, func(t *testing.T) { f.do(t, c.csCall).want(t, c.status, c.code) })
	}
}

func testMarketingObjected(t *testing.T, f *csFixture) {
	f.decide(t, "u-1", true, true, true)
	if _, err := f.svc.Object(t.Context(), "acme", "u-1", "req_1"); err != nil {
		t.Fatal(err)
	}
	s := f.state(t, "u-1")
	if !s.Objected || s.Purposes["marketing"].Granted {
		t.Fatalf("state after objection = %+v", s)
	}
	f.do(t, csCall{method: "POST", path: "/v1/consents", body: csDecision("u-1", true, true, true)}).want(t, 409, "marketing_objected")
	body := `{"subject_id":"u-1","policy_version":"2026-01","purposes":{"marketing":true},"method":"explicit_opt_in"}`
	f.do(t, csCall{method: "POST", path: "/v1/consents", body: body}).want(t, 201, "")
	if s := f.state(t, "u-1"); !s.Purposes["marketing"].Granted || s.Objected {
		t.Fatalf("state after explicit opt-in = %+v", s)
	}
}

func testHTTPDeniedTerms(t *testing.T, f *csFixture) {
	f.decide(t, "u-1", false, false, false)
	if f.state(t, "u-1").LoginAllowed {
		t.Fatal("login_allowed with terms refused")
	}
	f.do(t, csCall{method: "PUT", path: "/v1/subjects/u-1/profile", body: `{"first_name":"Ann","email":"ann@example.org"}`}).want(t, 409, "consent_required")
	f.do(t, csCall{method: "GET", path: "/v1/subjects/u-1/profile"}).want(t, 404, "subject_not_found")
	f.do(t, csCall{method: "POST", path: "/v1/subjects/u-1/devices", body: `{"ip":"203.0.113.9"}`}).want(t, 409, "consent_required")
	f.do(t, csCall{method: "PUT", path: "/v1/subjects/u-new/profile", body: `{"first_name":"Bo"}`}).want(t, 409, "consent_required")
}

func testHTTPRestricted(t *testing.T, f *csFixture) {
	f.decide(t, "u-1", true, true, false)
	if _, err := f.svc.SetRestricted(t.Context(), "acme", "u-1", true); err != nil {
		t.Fatal(err)
	}
	if !f.state(t, "u-1").Restricted {
		t.Fatal("restricted = false")
	}
	f.do(t, csCall{method: "PUT", path: "/v1/subjects/u-1/profile", body: `{"first_name":"Ann"}`}).want(t, 423, "processing_restricted")
	f.do(t, csCall{method: "POST", path: "/v1/subjects/u-1/devices", body: `{"ip":"203.0.113.9"}`}).want(t, 423, "processing_restricted")
	f.do(t, csCall{method: "GET", path: "/v1/subjects/u-1/profile"}).want(t, 404, "subject_not_found")
	// Consent decisions, withdrawals above all, stay possible.
	f.do(t, csCall{method: "POST", path: "/v1/consents/u-1/withdraw"}).want(t, 200, "")
}

func testHTTPWithdraw(t *testing.T, f *csFixture) {
	f.decide(t, "u-1", true, true, true)
	r := f.do(t, csCall{method: "POST", path: "/v1/consents/u-1/withdraw", body: `{"purposes":["marketing"]}`})
	r.want(t, 200, "")
	var s csState
	r.decode(t, &s)
	if s.Purposes["marketing"].Granted || !s.Purposes["terms"].Granted || !s.LoginAllowed {
		t.Fatalf("state = %+v", s)
	}
	for _, body := range []string{"", "{}", `{"purposes":[]}`} {
		f.decide(t, "u-1", true, true, true)
		r := f.do(t, csCall{method: "POST", path: "/v1/consents/u-1/withdraw", body: body})
		r.want(t, 200, "")
		r.decode(t, &s)
		for p, ps := range s.Purposes {
			if ps.Granted {
				t.Fatalf("body %q: %s still granted", body, p)
			}
		}
		if s.LoginAllowed {
			t.Fatalf("body %q: login still allowed", body)
		}
	}
	f.do(t, csCall{method: "POST", path: "/v1/consents/nobody/withdraw"}).want(t, 404, "subject_not_found")
}

type csHistory struct {
	Items []struct {
		ReceiptID     string          `json:"receipt_id"`
		RecordedAt    time.Time       `json:"recorded_at"`
		PolicyVersion string          `json:"policy_version"`
		Purposes      map[string]bool `json:"purposes"`
		Method        string          `json:"method"`
		GPC           bool            `json:"gpc"`
		Hash          string          `json:"hash"`
		PrevHash      string          `json:"prev_hash"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func testHTTPHistory(t *testing.T, f *csFixture) {
	var receipts []string
	for i := range 5 {
		r := f.do(t, csCall{method: "POST", path: "/v1/consents", body: csDecision("u-1", true, i%2 == 0, false)})
		var rc struct {
			ReceiptID string `json:"receipt_id"`
		}
		r.decode(t, &rc)
		receipts = append(receipts, rc.ReceiptID)
		f.clock.Set(f.clock.Now().Add(time.Minute))
	}
	f.do(t, csCall{method: "POST", path: "/v1/consents/u-1/withdraw", body: `{"purposes":["rba"]}`}).want(t, 200, "")
	f.decide(t, "u-2", true, true, true)

	var got []string
	var items []string
	cursor := ""
	for pages := 1; ; pages++ {
		path := "/v1/consents/u-1/history?limit=4"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := f.do(t, csCall{method: "GET", path: path})
		r.want(t, 200, "")
		if pages == 1 && strings.Join(csKeys(t, r.body), ",") != "items,next_cursor" {
			t.Fatalf("page fields = %v", csKeys(t, r.body))
		}
		var p csHistory
		r.decode(t, &p)
		for i, it := range p.Items {
			got = append(got, it.ReceiptID)
			items = append(items, it.Hash+"<"+it.PrevHash)
			if it.Method == "" || it.PolicyVersion != "2026-01" || len(it.Hash) != 64 {
				t.Fatalf("item %d = %+v", i, it)
			}
		}
		if p.NextCursor == "" {
			if pages != 2 {
				t.Fatalf("%d pages; want 2", pages)
			}
			if len(p.Items) != 2 {
				t.Fatalf("last page has %d items; want 2", len(p.Items))
			}
			if p.Items[len(p.Items)-1].PrevHash != "" {
				t.Fatal("the oldest entry has a prev_hash")
			}
			break
		}
		cursor = p.NextCursor
		// A cursor is bound to its subject's ledger.
		f.do(t, csCall{method: "GET", path: "/v1/consents/u-2/history?cursor=" + cursor}).want(t, 400, "invalid_cursor")
		f.do(t, csCall{method: "GET", path: "/v1/consents/u-1/history?cursor=" + cursor, tenant: "beta"}).want(t, 400, "invalid_cursor")
	}
	if len(got) != 6 {
		t.Fatalf("%d entries; want 6", len(got))
	}
	// Newest first: the withdrawal, then the decisions in reverse.
	for i, id := range receipts {
		if got[5-i] != id {
			t.Fatalf("history order = %v; want the decisions %v newest first after the withdrawal", got, receipts)
		}
	}
	for i := 0; i+1 < len(items); i++ {
		hash, _, _ := strings.Cut(items[i+1], "<")
		if _, prev, _ := strings.Cut(items[i], "<"); prev != hash {
			t.Fatalf("entry %d does not link to the one after it in the list", i)
		}
	}
	f.do(t, csCall{method: "GET", path: "/v1/consents/u-1/history?cursor=forged"}).want(t, 400, "invalid_cursor")
	f.do(t, csCall{method: "GET", path: "/v1/consents/nobody/history"}).want(t, 404, "subject_not_found")
}

func testIdempotency(t *testing.T, f *csFixture) {
	key := map[string]string{"Idempotency-Key": "k-123"}
	first := f.do(t, csCall{method: "POST", path: "/v1/consents", body: csDecisionJSON, headers: key})
	first.want(t, 201, "")
	again := f.do(t, csCall{method: "POST", path: "/v1/consents", body: csDecisionJSON, headers: key})
	if again.status != 201 || again.body != first.body || again.headers["Idempotent-Replayed"] != "true" {
		t.Fatalf("replay = %d %s; want the first answer replayed", again.status, again.body)
	}
	var h csHistory
	f.do(t, csCall{method: "GET", path: "/v1/consents/u-42/history"}).decode(t, &h)
	if len(h.Items) != 1 {
		t.Fatalf("ledger has %d entries after a replay; want 1", len(h.Items))
	}
	f.do(t, csCall{method: "POST", path: "/v1/consents", body: csDecision("u-42", true, false, false), headers: key}).want(t, 422, "idempotency_key_reused")
	// The key is the tenant's: another tenant may use the same one.
	f.do(t, csCall{method: "POST", path: "/v1/consents", body: csDecisionJSON, headers: key, tenant: "beta"}).want(t, 201, "")

	dev := map[string]string{"Idempotency-Key": "dev-1"}
	d1 := f.do(t, csCall{method: "POST", path: "/v1/subjects/u-42/devices", body: `{"browser":"Firefox"}`, headers: dev})
	d1.want(t, 202, "")
	if d2 := f.do(t, csCall{method: "POST", path: "/v1/subjects/u-42/devices", body: `{"browser":"Firefox"}`, headers: dev}); d2.body != d1.body {
		t.Fatalf("device replay = %s; want %s", d2.body, d1.body)
	}
	w := map[string]string{"Idempotency-Key": "w-1"}
	w1 := f.do(t, csCall{method: "POST", path: "/v1/consents/u-42/withdraw", headers: w})
	w1.want(t, 200, "")
	f.do(t, csCall{method: "POST", path: "/v1/consents/u-42/withdraw", headers: w}).want(t, 200, "")
	f.do(t, csCall{method: "GET", path: "/v1/consents/u-42/history"}).decode(t, &h)
	if len(h.Items) != 2 {
		t.Fatalf("ledger has %d entries after a replayed withdrawal; want 2", len(h.Items))
	}
}

func testHTTPTenantIsolation(t *testing.T, f *csFixture) {
	f.do(t, csCall{method: "POST", path: "/v1/consents", body: csDecisionJSON}).want(t, 201, "")
	f.do(t, csCall{method: "PUT", path: "/v1/subjects/u-42/profile", body: `{"first_name":"Ann"}`}).want(t, 200, "")
	for _, role := range []string{"site", "admin"} {
		b := func(method, path, body string) csCall {
			return csCall{method: method, path: path, body: body, tenant: "beta", role: role}
		}
		f.do(t, b("GET", "/v1/consents/u-42", "")).want(t, 404, "subject_not_found")
		f.do(t, b("GET", "/v1/consents/u-42/history", "")).want(t, 404, "subject_not_found")
		f.do(t, b("POST", "/v1/consents/u-42/withdraw", "")).want(t, 404, "subject_not_found")
		f.do(t, b("GET", "/v1/subjects/u-42/profile", "")).want(t, 404, "subject_not_found")
		// As for any subject tenant B has never seen: nothing to consent with.
		f.do(t, b("PUT", "/v1/subjects/u-42/profile", `{"first_name":"Eve"}`)).want(t, 409, "consent_required")
		f.do(t, b("POST", "/v1/subjects/u-42/devices", `{"browser":"x"}`)).want(t, 409, "consent_required")
	}
	s := f.state(t, "u-42")
	if !s.LoginAllowed || !s.Purposes["rba"].Granted {
		t.Fatalf("tenant A's subject changed: %+v", s)
	}
	var p struct {
		FirstName string `json:"first_name"`
	}
	f.do(t, csCall{method: "GET", path: "/v1/subjects/u-42/profile"}).decode(t, &p)
	if p.FirstName != "Ann" {
		t.Fatalf("profile = %+v", p)
	}
}

func testUnauthenticated(t *testing.T, f *csFixture) {
	for _, key := range []string{"POST /v1/consents", "GET /v1/consents/{subject_id}", "GET /v1/consents/{subject_id}/history",
		"POST /v1/consents/{subject_id}/withdraw", "PUT /v1/subjects/{subject_id}/profile", "GET /v1/subjects/{subject_id}/profile",
		"POST /v1/subjects/{subject_id}/devices"} {
		ev := events.APIGatewayV2HTTPRequest{RouteKey: key, PathParameters: map[string]string{"subject_id": "u-1"}, Body: "{}"}
		for _, auth := range []string{"", "Bearer gk_site_acme_" + strings.Repeat("A", 43), "Basic " + f.keys["acme"].SiteKey} {
			ev.Headers = map[string]string{"authorization": auth}
			out, _ := f.api.Handle(t.Context(), ev)
			csResponse{status: out.StatusCode, headers: out.Headers, body: out.Body}.want(t, 401, "unauthenticated")
		}
	}
	if got := len(f.api.RouteKeys()); got != 7 {
		t.Fatalf("%d routes; want 7", got)
	}
}

func testHTTPProfile(t *testing.T, f *csFixture) {
	f.decide(t, "u-1", true, true, false)
	body := `{"first_name":"Ann","last_name":"Lee","username":"ann","email":"Ann@Example.org","phone":"+44 20 7946 0000","company":"Acme",
		"security_questions":[{"question":"First pet?","answer":"Rex the dog"}]}`
	r := f.do(t, csCall{method: "PUT", path: "/v1/subjects/u-1/profile", body: body})
	r.want(t, 200, "")
	if strings.Contains(r.body, "Rex") || strings.Contains(r.body, "answer") || strings.Contains(r.body, "gsi1") {
		t.Fatalf("profile answer shows the answer or storage fields: %s", r.body)
	}
	var p struct {
		SubjectID         string `json:"subject_id"`
		Email             string `json:"email"`
		SecurityQuestions []struct {
			Question string `json:"question"`
		} `json:"security_questions"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	r.decode(t, &p)
	if p.SubjectID != "u-1" || p.Email != "ann@example.org" || len(p.SecurityQuestions) != 1 || p.SecurityQuestions[0].Question != "First pet?" || p.UpdatedAt.IsZero() {
		t.Fatalf("profile = %+v", p)
	}
	g := f.do(t, csCall{method: "GET", path: "/v1/subjects/u-1/profile"})
	g.want(t, 200, "")
	if g.body != r.body {
		t.Fatalf("GET = %s; want what PUT answered %s", g.body, r.body)
	}
	f.decide(t, "u-2", true, true, false)
	f.do(t, csCall{method: "PUT", path: "/v1/subjects/u-2/profile", body: `{"email":"ann@example.org"}`}).want(t, 409, "email_in_use")
	f.do(t, csCall{method: "GET", path: "/v1/subjects/u-2/profile"}).want(t, 404, "subject_not_found")
	f.do(t, csCall{method: "PUT", path: "/v1/subjects/u-1/profile", body: `{"security_questions":[{"question":"q"}]}`}).want(t, 400, "validation_failed")
}

func testHTTPDevices(t *testing.T, f *csFixture) {
	f.decide(t, "u-1", true, true, false)
	r := f.do(t, csCall{method: "POST", path: "/v1/subjects/u-1/devices", body: `{"ip":"203.0.113.9","location":"London, GB","browser":"Firefox 146",
		"device_type":"desktop","language":"en-GB","user_agent":"Mozilla/5.0","fingerprint":"abc","seen_at":"2026-11-28T16:00:00Z"}`})
	r.want(t, 202, "")
	if got, want := strings.Join(csKeys(t, r.body), ","), "expires_at,id,seen_at"; got != want {
		t.Fatalf("device receipt fields = %s; want %s", got, want)
	}
	var rc struct {
		ID        string    `json:"id"`
		SeenAt    time.Time `json:"seen_at"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	r.decode(t, &rc)
	if !rc.SeenAt.Equal(time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC)) || !rc.ExpiresAt.Equal(rc.SeenAt.Add(90*24*time.Hour)) {
		t.Fatalf("receipt = %+v", rc)
	}
	f.do(t, csCall{method: "POST", path: "/v1/subjects/u-1/devices", body: `{}`}).want(t, 400, "validation_failed")
	f.do(t, csCall{method: "POST", path: "/v1/subjects/u-1/devices", body: `{"browser":"x","seen_at":"2027-01-01T00:00:00Z"}`}).want(t, 400, "validation_failed")

	// The retention job deletes the observation once the tenant's period has passed, not before.
	devices := func() int {
		t.Helper()
		page, err := f.table.Query(t.Context(), table.Query{PK: subject.PK("acme", "u-1"), Prefix: subject.SKDevicePrefix})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Items)
	}
	retention := func(at time.Time) map[string]int {
		t.Helper()
		f.clock.Set(at)
		out, err := f.retention(t.Context(), []byte(`{"job":"retention"}`))
		if err != nil {
			t.Fatal(err)
		}
		var rep struct{ Deleted map[string]int }
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatal(err)
		}
		return rep.Deleted
	}
	if got := retention(rc.ExpiresAt.Add(-time.Minute))[consent.KindDevices]; got != 0 || devices() != 1 {
		t.Fatalf("before the retention period: deleted %d, %d left", got, devices())
	}
	if got := retention(rc.ExpiresAt.Add(time.Minute))[consent.KindDevices]; got != 1 || devices() != 0 {
		t.Fatalf("after the retention period: deleted %d, %d left; want 1, 0", got, devices())
	}
}

// testNoPersonalData: addresses, names and user agents reach neither the logs nor an error.
func testNoPersonalData(t *testing.T, f *csFixture) {
	f.do(t, csCall{method: "POST", path: "/v1/consents", body: csDecisionJSON}).want(t, 201, "")
	f.do(t, csCall{method: "PUT", path: "/v1/subjects/u-42/profile", body: `{"first_name":"Annabel","email":"ann@example.org","phone":"+44 20 7946 0000"}`}).want(t, 200, "")
	f.do(t, csCall{method: "POST", path: "/v1/subjects/u-42/devices", body: `{"ip":"203.0.113.9","user_agent":"Mozilla/5.0 (Ann's laptop)"}`}).want(t, 202, "")
	f.decide(t, "u-43", true, true, false)
	var bodies []string
	for _, c := range []csCall{
		{method: "POST", path: "/v1/consents", body: `{"subject_id":"u-43","email":"ann@example.org","policy_version":"1","purposes":{"terms":true},"method":"web_form"}`},
		{method: "PUT", path: "/v1/subjects/u-43/profile", body: `{"email":"ann@example.org"}`},
		{method: "PUT", path: "/v1/subjects/u-43/profile", body: `{"email":"ann@@example.org","phone":"Annabel's phone"}`},
		{method: "POST", path: "/v1/subjects/u-43/devices", body: `{"ip":"203.0.113.999","user_agent":"Mozilla/5.0 (Ann's laptop)\u0000"}`},
		{method: "POST", path: "/v1/consents", body: `{"subject_id":"u-43","policy_version":"1","purposes":{"terms":true},"method":"web_form","evidence":{"ip":"203.0.113.9","user_agent":"Mozilla/5.0 (Ann's laptop)","shoe_size":"ann@example.org"}}`},
	} {
		r := f.do(t, c)
		if r.status < 400 {
			t.Fatalf("%s: status %d; want a refusal", c.body, r.status)
		}
		bodies = append(bodies, r.body)
	}
	out := f.logs.String() + strings.Join(bodies, "\n")
	if !strings.Contains(f.logs.String(), `"route"`) {
		t.Fatalf("no request logged: %s", f.logs.String())
	}
	for _, pd := range []string{"ann@example.org", "ann@@example.org", "203.0.113.9", "Ann's laptop", "Annabel", "7946"} {
		if strings.Contains(out, pd) {
			t.Fatalf("%q appears in logs or errors:\n%s", pd, out)
		}
	}
}

// testTableOps pins the table operations of each route (tenant settings cached, no
// Idempotency-Key): a change that adds one shows here. The tenant has published no policy, so
// every decision reads its versions once (1 Query) to learn it still has none: a version
// published a moment ago must be enforced at once.
func testTableOps(t *testing.T, f *csFixture) {
	f.decide(t, "u-0", true, true, false) // warms the tenant cache
	withEmail := `{"subject_id":"u-1","email":"ann@example.org","policy_version":"2026-01","purposes":{"terms":true,"rba":true},"method":"web_form"}`
	for _, c := range []struct {
		name   string
		call   csCall
		status int
		want   tablecount.Counts
	}{
		{"RecordDecision", csCall{method: "POST", path: "/v1/consents", body: csDecision("u-1", true, true, false)}, 201,
			tablecount.Counts{Get: 1, Transact: 1, TransactWrites: 2, Query: 1}},
		{"RecordDecisionWithNewEmail", csCall{method: "POST", path: "/v1/consents", body: withEmail}, 201,
			tablecount.Counts{Get: 2, Transact: 1, TransactWrites: 4, Query: 1}},
		{"RecordDecisionEmailOnFile", csCall{method: "POST", path: "/v1/consents", body: withEmail}, 201,
			tablecount.Counts{Get: 2, Transact: 1, TransactWrites: 2, Query: 1}},
		{"LoginGate", csCall{method: "GET", path: "/v1/consents/u-1"}, 200,
			tablecount.Counts{Get: 1}},
		{"History", csCall{method: "GET", path: "/v1/consents/u-1/history"}, 200,
			tablecount.Counts{Get: 1, Query: 1}},
		{"Withdraw", csCall{method: "POST", path: "/v1/consents/u-1/withdraw", body: `{"purposes":["marketing"]}`}, 200,
			tablecount.Counts{Get: 1, Transact: 1, TransactWrites: 2}},
		{"PutProfile", csCall{method: "PUT", path: "/v1/subjects/u-1/profile", body: `{"first_name":"Ann","email":"ann@example.org"}`}, 200,
			tablecount.Counts{Get: 2, Transact: 1, TransactWrites: 2}},
		{"PutProfileNewEmail", csCall{method: "PUT", path: "/v1/subjects/u-1/profile", body: `{"first_name":"Ann","email":"ann@example.net"}`}, 200,
			tablecount.Counts{Get: 2, Transact: 1, TransactWrites: 4}},
		{"PutProfileRefused", csCall{method: "PUT", path: "/v1/subjects/u-9/profile", body: `{"first_name":"Bo"}`}, 409,
			tablecount.Counts{Get: 1}},
		{"GetProfile", csCall{method: "GET", path: "/v1/subjects/u-1/profile"}, 200,
			tablecount.Counts{Get: 1}},
		{"RecordDevice", csCall{method: "POST", path: "/v1/subjects/u-1/devices", body: `{"browser":"Firefox"}`}, 202,
			tablecount.Counts{Get: 1, Transact: 1, TransactWrites: 2}},
		{"RecordDecisionIdempotent", csCall{method: "POST", path: "/v1/consents", body: csDecision("u-1", true, true, false), headers: map[string]string{"Idempotency-Key": "ops-1"}}, 201,
			tablecount.Counts{Get: 2, Put: 2, Transact: 1, TransactWrites: 2, Query: 1}},
		{"RecordDecisionReplayed", csCall{method: "POST", path: "/v1/consents", body: csDecision("u-1", true, true, false), headers: map[string]string{"Idempotency-Key": "ops-1"}}, 201,
			tablecount.Counts{Get: 1}},
	} {
		f.table.Reset()
		f.do(t, c.call).want(t, c.status, "")
		if got := f.table.Counts(); got != c.want {
			t.Errorf("%s: %v; want %v", c.name, got, c.want)
		}
	}
}

// FuzzConsentDecoders feeds every body-taking route arbitrary bodies: whatever comes in, the
// answer is a documented status with a JSON body, never a 5xx.
func FuzzConsentDecoders(f *testing.F) {
	fx := newCSFixture(f, csSQLite)
	fx.decide(f, "u-1", true, true, false)
	seeds := []struct {
		route byte
		body  string
	}{
		{0, csDecisionJSON},
		{0, `{"subject_id":"u-1","policy_version":"v","purposes":{"marketing":true},"method":"explicit_opt_in","evidence":{"ip":"::1"}}`},
		{1, `{"purposes":["rba","marketing"]}`},
		{1, ``},
		{2, `{"first_name":"A","email":"a@b.c","phone":"+1 555","security_questions":[{"question":"q","answer":"a"}]}`},
		{3, `{"ip":"203.0.113.9","seen_at":"2026-11-28T16:00:00Z","language":"en-GB"}`},
		{0, `{"purposes":{"terms":1e999}}`},
		{2, `{"email":"\u0000@x"}`},
		{3, `[]`},
	}
	for _, s := range seeds {
		f.Add(s.route, s.body, false)
		f.Add(s.route, s.body, true)
	}
	routes := []struct{ method, path string }{
		{"POST", "/v1/consents"},
		{"POST", "/v1/consents/u-1/withdraw"},
		{"PUT", "/v1/subjects/u-1/profile"},
		{"POST", "/v1/subjects/u-1/devices"},
	}
	allowed := map[int]bool{200: true, 201: true, 202: true, 400: true, 404: true, 409: true, 413: true, 422: true, 423: true}
	f.Fuzz(func(t *testing.T, route byte, body string, gpc bool) {
		rt := routes[int(route)%len(routes)]
		c := csCall{method: rt.method, path: rt.path, body: body}
		if gpc {
			c.headers = map[string]string{"Sec-GPC": "1"}
		}
		r := fx.do(t, c)
		if !allowed[r.status] {
			t.Fatalf("%s %s %q: status %d %s", rt.method, rt.path, body, r.status, r.body)
		}
		if !json.Valid([]byte(r.body)) {
			t.Fatalf("answer is not JSON: %q", r.body)
		}
		if r.status >= 400 && r.headers["Content-Type"] != "application/problem+json" {
			t.Fatalf("error without problem+json: %d %s", r.status, r.body)
		}
		if rt.method == "POST" && rt.path == "/v1/consents" && gpc && r.status == 201 {
			var rc struct {
				Purposes map[string]bool `json:"purposes"`
				GPC      bool            `json:"gpc"`
			}
			r.decode(t, &rc)
			if !rc.GPC || rc.Purposes["marketing"] {
				t.Fatalf("GPC not applied: %s", r.body)
			}
		}
	})
}
