package gdprd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.yaml.in/yaml/v3"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/streamimage"
	"github.com/example/gdpr/internal/tenant"
)

// The end-to-end flows of consent and of data subject requests, driven over HTTP against a
// running gdprd as a client written against ../shared/API.md drives it: keys from
// credentials.json, mail read back where the service sent it (the local outbox, or SES).

// client is one tenant's view of a running gdprd.
type client struct {
	url  string
	keys tenant.Keys
	// mail returns every message sent so far, in any order.
	mail func(t *testing.T) []sentMail
}

// sentMail is one message as its transport kept it. body is the text part in the outbox, the
// HTML part in SES (the emulator keeps no more).
type sentMail struct{ to, body string }

func localClient(t *testing.T, s *testServer) client {
	t.Helper()
	return client{url: s.URL(), keys: credentials(t, s.dir), mail: outboxMail(s.URL())}
}

// outboxMail reads GET /_local/outbox.
func outboxMail(url string) func(t *testing.T) []sentMail {
	return func(t *testing.T) []sentMail {
		t.Helper()
		var sent []struct{ To, Text string }
		call(t, "GET", url+"/_local/outbox", "", nil).must(t, http.StatusOK, &sent)
		out := make([]sentMail, len(sent))
		for i, m := range sent {
			out[i] = sentMail{to: m.To, body: m.Text}
		}
		return out
	}
}

// sesMail reads what moto's SES kept of every SendEmail call.
func sesMail(moto *mototest.Server) func(t *testing.T) []sentMail {
	return func(t *testing.T) []sentMail {
		t.Helper()
		var out []sentMail
		for _, m := range moto.SESMessages(t) {
			out = append(out, sentMail{to: strings.Join(m.To, ","), body: m.Body})
		}
		return out
	}
}

// mailWith returns the one message sent to to whose body holds every part.
func (c client) mailWith(t *testing.T, to string, parts ...string) sentMail {
	t.Helper()
	var found []sentMail
	for _, m := range c.mail(t) {
		if m.to == to && containsAll(m.body, parts) {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d messages to the address holding %q, want 1", len(found), parts)
	}
	return found[0]
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// codeLine finds the code in the text ("Verification code: X") and in the HTML, where the
// code sits in an element of its own.
var codeLine = regexp.MustCompile(`Verification code: (?:<[^>]*>)*([A-Za-z0-9_-]+)`)

// verificationCode reads the code of request id from the message sent to to.
func (c client) verificationCode(t *testing.T, to, id string) string {
	t.Helper()
	m := c.mailWith(t, to, id, "Verification code: ")
	match := codeLine.FindStringSubmatch(m.body)
	if match == nil {
		t.Fatalf("no code in the verification message of %s", id)
	}
	return match[1]
}

// site, admin and public call the API with the tenant's site key, its admin key, or none.
func (c client) site(t *testing.T, method, path, body string) response {
	t.Helper()
	return call(t, method, c.url+path, c.keys.SiteKey, jsonBody(body))
}

func (c client) admin(t *testing.T, method, path, body string) response {
	t.Helper()
	return call(t, method, c.url+path, c.keys.AdminKey, jsonBody(body))
}

func (c client) public(t *testing.T, method, path, body string) response {
	t.Helper()
	return call(t, method, c.url+path, "", jsonBody(body))
}

func jsonBody(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// must checks the status of a successful answer and decodes its body into v, unless v is nil.
func (r response) must(t *testing.T, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if v != nil {
		r.json(t, v)
	}
}

// code checks a problem answer's status and code.
func (r response) code(t *testing.T, status int, code string) {
	t.Helper()
	if got := r.problem(t, status); got != code {
		t.Fatalf("code = %q, want %q; body %s", got, code, r.body)
	}
}

// step runs one step of a flow; the flow stops at the first step that fails, as every step
// builds on the ones before.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}

// setClock sets the server's clock (POST /_local/clock).
func (c client) setClock(t *testing.T, at string) {
	t.Helper()
	call(t, "POST", c.url+"/_local/clock", "", []byte(`{"now":"`+at+`"}`)).must(t, http.StatusOK, nil)
}

// createTenant makes a tenant the way gdprctl does: a runner of its own on the server's store
// (its data folder, and the server's address for links).
func createTenant(t *testing.T, s *testServer, name string) tenant.Keys {
	t.Helper()
	cfg := gdprd.Config{Addr: strings.TrimPrefix(s.URL(), "http://"), DataDir: s.dir, Env: env(nil)}
	r, err := gdprd.NewRunner(context.Background(), cfg, clock.System{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, keys, err := tenant.Store{Table: r.Ports.Table, Clock: clock.System{}}.Create(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// Answers, as API.md shows them.
type (
	purposeState struct {
		Granted bool      `json:"granted"`
		At      time.Time `json:"at"`
	}
	consentState struct {
		SubjectID         string                  `json:"subject_id"`
		PolicyVersion     string                  `json:"policy_version"`
		Purposes          map[string]purposeState `json:"purposes"`
		LoginAllowed      bool                    `json:"login_allowed"`
		ReconsentRequired bool                    `json:"reconsent_required"`
		Restricted        bool                    `json:"restricted"`
		Objected          bool                    `json:"objected"`
	}
	consentReceipt struct {
		ReceiptID     string          `json:"receipt_id"`
		SubjectID     string          `json:"subject_id"`
		PolicyVersion string          `json:"policy_version"`
		Purposes      map[string]bool `json:"purposes"`
		RecordedAt    time.Time       `json:"recorded_at"`
		GPC           bool            `json:"gpc"`
		State         consentState    `json:"state"`
	}
	historyEntry struct {
		ReceiptID     string          `json:"receipt_id"`
		RecordedAt    time.Time       `json:"recorded_at"`
		PolicyVersion string          `json:"policy_version"`
		Purposes      map[string]bool `json:"purposes"`
		Method        string          `json:"method"`
		GPC           bool            `json:"gpc"`
		Hash          string          `json:"hash"`
		PrevHash      string          `json:"prev_hash"`
	}
	listPage[T any] struct {
		Items      []T    `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	// Times of requests stay strings: the exact form is part of the contract.
	requestReceipt struct {
		ID         string `json:"id"`
		Type       string `json:"type"`
		Status     string `json:"status"`
		ReceivedAt string `json:"received_at"`
		DueAt      string `json:"due_at"`
	}
	requestRecord struct {
		requestReceipt
		Extended bool `json:"extended"`
		Timeline []struct {
			Event string `json:"event"`
			Actor string `json:"actor"`
		} `json:"timeline"`
	}
	verified struct {
		ID          string `json:"id"`
		Status      string `json:"status"`
		AccessToken string `json:"access_token"`
	}
	auditEntry struct {
		Seq       int64  `json:"seq"`
		Action    string `json:"action"`
		Subject   string `json:"subject"`
		RequestID string `json:"request_id"`
		Hash      string `json:"hash"`
		PrevHash  string `json:"prev_hash"`
	}
)

// decision is the body of POST /v1/consents.
func decision(subjectID, email string, terms, rba, marketing bool) string {
	return fmt.Sprintf(`{"subject_id":%q,"email":%q,"policy_version":"2026-01",`+
		`"purposes":{"terms":%t,"rba":%t,"marketing":%t},"method":"web_form",`+
		`"evidence":{"ip":"203.0.113.9","user_agent":"Mozilla/5.0 Firefox/146.0","locale":"en"}}`,
		subjectID, email, terms, rba, marketing)
}

func grants(v consentState) map[string]bool {
	out := map[string]bool{}
	for name, p := range v.Purposes {
		out[name] = p.Granted
	}
	return out
}

func sameGrants(got, want map[string]bool) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestFlowConsent(t *testing.T) {
	s := start(t, gdprd.Config{})
	c := localClient(t, s)
	const (
		sub    = "u-flow"
		email  = "ann@example.org"
		answer = "Rex the dog"
	)
	profile := `{"first_name":"Ann","last_name":"Lee","username":"ann","email":"ann@example.org","phone":"+44 20 7946 0000",` +
		`"company":"Example Ltd","security_questions":[{"question":"First pet?","answer":"` + answer + `"}]}`
	device := `{"ip":"203.0.113.9","location":"London, GB","browser":"Firefox 146","device_type":"desktop","language":"en",` +
		`"user_agent":"Mozilla/5.0 Firefox/146.0","fingerprint":"fp-1","seen_at":"2026-11-28T16:47:00Z"}`
	var receipts []string // receipt ids of the decisions, oldest first

	step(t, "Denied", func(t *testing.T) {
		var rc consentReceipt
		c.site(t, "POST", "/v1/consents", decision(sub, email, false, false, false)).must(t, http.StatusCreated, &rc)
		if rc.ReceiptID == "" || rc.SubjectID != sub || rc.PolicyVersion != "2026-01" || rc.GPC || rc.RecordedAt.IsZero() {
			t.Fatalf("receipt = %+v", rc)
		}
		if want := map[string]bool{"terms": false, "rba": false, "marketing": false}; !sameGrants(rc.Purposes, want) || !sameGrants(grants(rc.State), want) {
			t.Fatalf("purposes = %v, state %v", rc.Purposes, grants(rc.State))
		}
		if rc.State.LoginAllowed {
			t.Fatal("receipt's state allows login with terms denied")
		}
		receipts = append(receipts, rc.ReceiptID)
	})
	step(t, "GateClosed", func(t *testing.T) {
		var v consentState
		c.site(t, "GET", "/v1/consents/"+sub, "").must(t, http.StatusOK, &v)
		if got, want := v.LoginAllowed, false; got != want {
			t.Fatalf("login_allowed = %v, want %v", got, want)
		}
		if v.SubjectID != sub || v.Purposes["terms"].Granted || v.Purposes["terms"].At.IsZero() {
			t.Fatalf("state = %+v", v)
		}
	})
	step(t, "NothingStoredWithoutConsent", func(t *testing.T) {
		c.site(t, "PUT", "/v1/subjects/"+sub+"/profile", profile).code(t, http.StatusConflict, "consent_required")
		c.site(t, "GET", "/v1/subjects/"+sub+"/profile", "").code(t, http.StatusNotFound, "subject_not_found")
		c.site(t, "POST", "/v1/subjects/"+sub+"/devices", device).code(t, http.StatusConflict, "consent_required")
	})
	step(t, "Granted", func(t *testing.T) {
		var rc consentReceipt
		c.site(t, "POST", "/v1/consents", decision(sub, email, true, true, false)).must(t, http.StatusCreated, &rc)
		if !rc.State.LoginAllowed {
			t.Fatalf("receipt's state: login_allowed false after terms granted: %+v", rc.State)
		}
		receipts = append(receipts, rc.ReceiptID)
		var v consentState
		c.site(t, "GET", "/v1/consents/"+sub, "").must(t, http.StatusOK, &v)
		if got, want := v.LoginAllowed, true; got != want {
			t.Fatalf("login_allowed = %v, want %v", got, want)
		}
		if want := map[string]bool{"terms": true, "rba": true, "marketing": false}; !sameGrants(grants(v), want) {
			t.Fatalf("purposes = %v, want %v", grants(v), want)
		}
	})
	step(t, "Profile", func(t *testing.T) {
		type out struct {
			SubjectID         string           `json:"subject_id"`
			FirstName         string           `json:"first_name"`
			Email             string           `json:"email"`
			Phone             string           `json:"phone"`
			SecurityQuestions []map[string]any `json:"security_questions"`
		}
		for _, r := range []response{
			c.site(t, "PUT", "/v1/subjects/"+sub+"/profile", profile),
			c.site(t, "GET", "/v1/subjects/"+sub+"/profile", ""),
		} {
			var p out
			r.must(t, http.StatusOK, &p)
			if p.SubjectID != sub || p.FirstName != "Ann" || p.Email != email || p.Phone != "+44 20 7946 0000" {
				t.Fatalf("profile = %s", r.body)
			}
			if len(p.SecurityQuestions) != 1 || len(p.SecurityQuestions[0]) != 1 || p.SecurityQuestions[0]["question"] != "First pet?" {
				t.Fatalf("security questions = %v, want the question alone", p.SecurityQuestions)
			}
			if bytes.Contains(r.body, []byte(answer)) || bytes.Contains(r.body, []byte(`"answer"`)) {
				t.Fatalf("profile answer holds a security answer: %s", r.body)
			}
		}
	})
	step(t, "Device", func(t *testing.T) {
		c.site(t, "POST", "/v1/subjects/"+sub+"/devices", device).must(t, http.StatusAccepted, nil)
	})
	step(t, "GlobalPrivacyControl", func(t *testing.T) {
		// Without the signal the body's marketing:true is recorded as it is...
		var rc consentReceipt
		c.site(t, "POST", "/v1/consents", decision(sub, email, true, true, true)).must(t, http.StatusCreated, &rc)
		if !rc.Purposes["marketing"] || rc.GPC || !rc.State.Purposes["marketing"].Granted {
			t.Fatalf("without GPC: %+v", rc)
		}
		receipts = append(receipts, rc.ReceiptID)
		// ...with it, marketing is refused whatever the body says.
		r := callHeader(t, "POST", c.url+"/v1/consents", c.keys.SiteKey, []byte(decision(sub, email, true, true, true)), http.Header{"Sec-Gpc": {"1"}})
		rc = consentReceipt{}
		r.must(t, http.StatusCreated, &rc)
		if got, want := rc.Purposes["marketing"], false; got != want {
			t.Fatalf("marketing = %v with Sec-GPC: 1, want %v", got, want)
		}
		if !rc.GPC || rc.State.Purposes["marketing"].Granted || !rc.State.Purposes["terms"].Granted {
			t.Fatalf("with GPC: %+v", rc)
		}
		receipts = append(receipts, rc.ReceiptID)
	})
	step(t, "Withdraw", func(t *testing.T) {
		var v consentState
		c.site(t, "POST", "/v1/consents/"+sub+"/withdraw", "").must(t, http.StatusOK, &v)
		if want := map[string]bool{"terms": false, "rba": false, "marketing": false}; v.LoginAllowed || !sameGrants(grants(v), want) {
			t.Fatalf("after withdrawing everything: %+v", v)
		}
		v = consentState{}
		c.site(t, "GET", "/v1/consents/"+sub, "").must(t, http.StatusOK, &v)
		if got, want := v.LoginAllowed, false; got != want {
			t.Fatalf("login_allowed = %v, want %v", got, want)
		}
		c.site(t, "PUT", "/v1/subjects/"+sub+"/profile", profile).code(t, http.StatusConflict, "consent_required")
	})
	step(t, "History", func(t *testing.T) {
		var h listPage[historyEntry]
		c.site(t, "GET", "/v1/consents/"+sub+"/history", "").must(t, http.StatusOK, &h)
		if got, want := len(h.Items), len(receipts)+1; got != want {
			t.Fatalf("%d entries, want %d", got, want)
		}
		if h.NextCursor != "" {
			t.Fatalf("next_cursor %q on the only page", h.NextCursor)
		}
		// Newest first: the withdrawal, then the decisions from the last to the first.
		if got, want := h.Items[0].Method, "withdrawal"; got != want {
			t.Fatalf("newest entry's method = %q, want %q", got, want)
		}
		for i, id := range receipts {
			e := h.Items[len(h.Items)-1-i]
			if e.ReceiptID != id || e.Method != "web_form" || e.PolicyVersion != "2026-01" {
				t.Fatalf("entry %d = %+v, want receipt %s", len(h.Items)-1-i, e, id)
			}
		}
		if gpc := []bool{h.Items[0].GPC, h.Items[1].GPC, h.Items[2].GPC}; !slices.Equal(gpc, []bool{false, true, false}) {
			t.Fatalf("gpc of the newest three = %v, want [false true false]", gpc)
		}
		seen := map[string]bool{}
		for i, e := range h.Items {
			if !hexHash.MatchString(e.Hash) || seen[e.Hash] {
				t.Fatalf("entry %d: hash %q not a fresh SHA-256", i, e.Hash)
			}
			seen[e.Hash] = true
			if i == len(h.Items)-1 {
				if e.PrevHash != "" {
					t.Fatalf("first entry's prev_hash = %q, want empty", e.PrevHash)
				}
				break
			}
			if got, want := e.PrevHash, h.Items[i+1].Hash; got != want {
				t.Fatalf("entry %d: prev_hash = %q, want the hash of the entry before it, %q", i, got, want)
			}
			if e.RecordedAt.Before(h.Items[i+1].RecordedAt) {
				t.Fatalf("entry %d recorded before the entry after it in the list", i)
			}
		}
		// Pages of two give the same entries in the same order.
		var ids []string
		for cursor, pages := "", 0; ; pages++ {
			if pages > len(h.Items) {
				t.Fatal("cursor does not end")
			}
			var p listPage[historyEntry]
			c.site(t, "GET", "/v1/consents/"+sub+"/history?limit=2&cursor="+cursor, "").must(t, http.StatusOK, &p)
			if len(p.Items) > 2 {
				t.Fatalf("page of %d entries with limit=2", len(p.Items))
			}
			for _, e := range p.Items {
				ids = append(ids, e.ReceiptID)
			}
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
		var want []string
		for _, e := range h.Items {
			want = append(want, e.ReceiptID)
		}
		if !slices.Equal(ids, want) {
			t.Fatalf("paged receipts = %v, want %v", ids, want)
		}
	})
	step(t, "IdempotencyKey", func(t *testing.T) {
		key := http.Header{"Idempotency-Key": {"flow-consent-1"}}
		body := decision(sub, email, true, false, false)
		first := callHeader(t, "POST", c.url+"/v1/consents", c.keys.SiteKey, []byte(body), key)
		first.must(t, http.StatusCreated, nil)
		again := callHeader(t, "POST", c.url+"/v1/consents", c.keys.SiteKey, []byte(body), key)
		if again.status != first.status || !bytes.Equal(again.body, first.body) {
			t.Fatalf("replay = %d %s, want %d %s", again.status, again.body, first.status, first.body)
		}
		var h listPage[historyEntry]
		c.site(t, "GET", "/v1/consents/"+sub+"/history", "").must(t, http.StatusOK, &h)
		if got, want := len(h.Items), len(receipts)+2; got != want {
			t.Fatalf("%d ledger entries after a decision and its replay, want %d", got, want)
		}
		var rc consentReceipt
		first.json(t, &rc)
		if got, want := h.Items[0].ReceiptID, rc.ReceiptID; got != want {
			t.Fatalf("newest entry = %s, want the first answer's receipt %s", got, want)
		}
		other := callHeader(t, "POST", c.url+"/v1/consents", c.keys.SiteKey, []byte(decision(sub, email, true, true, false)), key)
		other.code(t, http.StatusUnprocessableEntity, "idempotency_key_reused")
	})
	step(t, "OtherTenant", func(t *testing.T) {
		acme := client{url: c.url, keys: createTenant(t, s, "acme")}
		unknown := c.site(t, "GET", "/v1/consents/u-nobody", "").problem(t, http.StatusNotFound)
		for _, path := range []string{"/v1/consents/" + sub, "/v1/consents/" + sub + "/history", "/v1/subjects/" + sub + "/profile"} {
			if got := acme.site(t, "GET", path, "").problem(t, http.StatusNotFound); got != unknown {
				t.Fatalf("GET %s with another tenant's key: code %q, want %q as for an unknown subject", path, got, unknown)
			}
		}
		if got := acme.site(t, "POST", "/v1/consents/"+sub+"/withdraw", "").problem(t, http.StatusNotFound); got != unknown {
			t.Fatalf("withdraw with another tenant's key: code %q, want %q", got, unknown)
		}
		// The subject is still there for its own tenant, with the decision of the step before.
		var v consentState
		c.site(t, "GET", "/v1/consents/"+sub, "").must(t, http.StatusOK, &v)
		if !v.LoginAllowed {
			t.Fatalf("own tenant's state = %+v", v)
		}
	})
}

// Times of the requests flow. T0 is a Monday; the first request is received two days before.
const (
	early    = "2030-03-02T09:00:00Z" // Saturday
	t0       = "2030-03-04T09:00:00Z"
	t0Plus8d = "2030-03-12T09:00:00Z"
	// One month after receipt, end of day (UTC); three months once extended.
	earlyDue    = "2030-04-02T23:59:59Z"
	t0Due       = "2030-04-04T23:59:59Z"
	t0Extended  = "2030-06-04T23:59:59Z"
	knownEmail  = "known@example.org"
	nobodyEmail = "nobody@example.org"
	lockEmail   = "lock@example.org"
	extendWhy   = "We are collecting your records from three archived systems."
)

// requests is the path of the tenant's public requests route.
func (c client) requests() string { return "/v1/public/" + c.keys.Tenant + "/requests" }

// submit posts a public request and checks the receipt's constant part.
func (c client) submit(t *testing.T, typ, email string) requestReceipt {
	t.Helper()
	r := c.public(t, "POST", c.requests(), fmt.Sprintf(`{"type":%q,"email":%q}`, typ, email))
	var rc requestReceipt
	r.must(t, http.StatusAccepted, &rc)
	if !strings.HasPrefix(rc.ID, "req_") || rc.Type != typ || rc.Status != "pending_verification" {
		t.Fatalf("receipt = %s", r.body)
	}
	return rc
}

func (c client) verify(t *testing.T, id, code string) response {
	t.Helper()
	return c.public(t, "POST", c.requests()+"/"+id+"/verify", `{"code":"`+code+`"}`)
}

func (c client) record(t *testing.T, id string) requestRecord {
	t.Helper()
	var rec requestRecord
	c.admin(t, "GET", "/v1/requests/"+id, "").must(t, http.StatusOK, &rec)
	return rec
}

func TestFlowRequests(t *testing.T) {
	// Intake and the operator's actions, before fulfilment: without the stream functions,
	// verified requests stay verified (TestFlowExport runs them).
	s := start(t, gdprd.Config{Functions: withoutStreams()})
	c := localClient(t, s)
	var r1, r2, r3, r4, r5 requestReceipt
	var token1, token4 string

	step(t, "KnownSubject", func(t *testing.T) {
		c.setClock(t, early)
		c.site(t, "POST", "/v1/consents", decision("u-known", knownEmail, true, true, false)).must(t, http.StatusCreated, nil)
		r3 = c.submit(t, "erasure", knownEmail)
		if r3.ReceivedAt != early || r3.DueAt != earlyDue {
			t.Fatalf("received %s due %s, want %s and %s", r3.ReceivedAt, r3.DueAt, early, earlyDue)
		}
	})
	step(t, "SameAnswerKnownOrNot", func(t *testing.T) {
		c.setClock(t, t0)
		known := c.public(t, "POST", c.requests(), `{"type":"access","email":"`+knownEmail+`"}`)
		c.setClock(t, t0)
		unknown := c.public(t, "POST", c.requests(), `{"type":"access","email":"`+nobodyEmail+`"}`)
		known.must(t, http.StatusAccepted, &r1)
		unknown.must(t, http.StatusAccepted, &r2)
		var a, b map[string]any
		known.json(t, &a)
		unknown.json(t, &b)
		delete(a, "id")
		delete(b, "id")
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("answers differ beyond the id:\nknown   %s\nunknown %s", known.body, unknown.body)
		}
		if r1.ID == r2.ID || r1.Status != "pending_verification" || r1.ReceivedAt != t0 || r1.DueAt != t0Due {
			t.Fatalf("receipts %+v and %+v", r1, r2)
		}
	})
	var code1 string
	step(t, "VerificationMail", func(t *testing.T) {
		code1 = c.verificationCode(t, knownEmail, r1.ID)
		if code2 := c.verificationCode(t, nobodyEmail, r2.ID); code2 == code1 {
			t.Fatal("two requests got the same code")
		}
	})
	step(t, "Verify", func(t *testing.T) {
		c.verify(t, r1.ID, "AAAAAAAAAAAAAAAAAAAAAA").code(t, http.StatusBadRequest, "invalid_code")
		var v verified
		c.verify(t, r1.ID, code1).must(t, http.StatusOK, &v)
		if v.ID != r1.ID || v.Status != "verified" || len(v.AccessToken) < 22 {
			t.Fatalf("verify = %+v", v)
		}
		token1 = v.AccessToken
		// The code works once.
		c.verify(t, r1.ID, code1).code(t, http.StatusConflict, "invalid_transition")
		// The code of the request received two days ago has lapsed (24 h).
		c.verify(t, r3.ID, c.verificationCode(t, knownEmail, r3.ID)).code(t, http.StatusGone, "code_expired")
	})
	step(t, "OtherTenantsVerifyRoute", func(t *testing.T) {
		createTenant(t, s, "acme")
		c.public(t, "POST", "/v1/public/acme/requests/"+r2.ID+"/verify", `{"code":"`+c.verificationCode(t, nobodyEmail, r2.ID)+`"}`).
			code(t, http.StatusNotFound, "request_not_found")
	})
	step(t, "Status", func(t *testing.T) {
		r4 = c.submit(t, "portability", knownEmail)
		var v verified
		c.verify(t, r4.ID, c.verificationCode(t, knownEmail, r4.ID)).must(t, http.StatusOK, &v)
		token4 = v.AccessToken

		var st requestReceipt
		call(t, "GET", c.url+c.requests()+"/"+r1.ID, token1, nil).must(t, http.StatusOK, &st)
		if want := (requestReceipt{ID: r1.ID, Type: "access", Status: "verified", ReceivedAt: t0, DueAt: t0Due}); st != want {
			t.Fatalf("status = %+v, want %+v", st, want)
		}
		call(t, "GET", c.url+c.requests()+"/"+r1.ID, token4, nil).code(t, http.StatusUnauthorized, "unauthenticated")
		call(t, "GET", c.url+c.requests()+"/"+r1.ID, "", nil).code(t, http.StatusUnauthorized, "unauthenticated")
	})
	step(t, "Locked", func(t *testing.T) {
		r5 = c.submit(t, "access", lockEmail)
		for i := 1; i < 5; i++ {
			c.verify(t, r5.ID, fmt.Sprintf("wrong-code-%d", i)).code(t, http.StatusBadRequest, "invalid_code")
		}
		c.verify(t, r5.ID, "wrong-code-5").code(t, http.StatusLocked, "verification_locked")
		c.verify(t, r5.ID, c.verificationCode(t, lockEmail, r5.ID)).code(t, http.StatusLocked, "verification_locked")
	})
	step(t, "OperatorList", func(t *testing.T) {
		c.site(t, "GET", "/v1/requests", "").code(t, http.StatusForbidden, "forbidden")
		c.site(t, "POST", "/v1/requests/"+r1.ID+"/extend", `{"reason":"x"}`).code(t, http.StatusForbidden, "forbidden")
		checkQueue(t, c, r3.ID, r1.ID, r2.ID, r4.ID, r5.ID)
	})
	step(t, "Extend", func(t *testing.T) {
		var rec requestRecord
		c.admin(t, "POST", "/v1/requests/"+r1.ID+"/extend", `{"reason":"`+extendWhy+`"}`).must(t, http.StatusOK, &rec)
		if rec.DueAt != t0Extended || !rec.Extended || rec.Status != "verified" {
			t.Fatalf("extended: due %s extended %v status %s, want due %s", rec.DueAt, rec.Extended, rec.Status, t0Extended)
		}
		c.mailWith(t, knownEmail, r1.ID, extendWhy)
		c.admin(t, "POST", "/v1/requests/"+r1.ID+"/extend", `{"reason":"again"}`).code(t, http.StatusConflict, "cannot_extend")
		// The extended request is now due last.
		checkQueue(t, c, r3.ID, r2.ID, r4.ID, r5.ID, r1.ID)
	})
	step(t, "Reject", func(t *testing.T) {
		var rec requestRecord
		c.admin(t, "POST", "/v1/requests/"+r3.ID+"/reject", `{"reason":"identity_unverified","detail":"The code was never entered."}`).
			must(t, http.StatusOK, &rec)
		if rec.Status != "rejected" {
			t.Fatalf("status = %q, want rejected", rec.Status)
		}
		c.mailWith(t, knownEmail, r3.ID, "supervisory authority", "The code was never entered.")
		c.admin(t, "POST", "/v1/requests/"+r3.ID+"/reject", `{"reason":"excessive"}`).code(t, http.StatusConflict, "invalid_transition")
	})
	step(t, "Timeline", func(t *testing.T) {
		var events []string
		for _, e := range c.record(t, r1.ID).Timeline {
			events = append(events, e.Event)
		}
		if want := []string{"received", "verification_sent", "verified", "extended"}; !slices.Equal(events, want) {
			t.Fatalf("timeline = %v, want %v", events, want)
		}
	})
	var entries int
	step(t, "Audit", func(t *testing.T) {
		var mine listPage[auditEntry]
		c.admin(t, "GET", "/v1/audit?request_id="+r1.ID, "").must(t, http.StatusOK, &mine)
		var actions []string
		for _, e := range mine.Items {
			actions = append(actions, e.Action)
		}
		if want := []string{"request.extended", "request.verified", "request.received"}; !slices.Equal(actions, want) {
			t.Fatalf("audit of %s, newest first = %v, want %v", r1.ID, actions, want)
		}
		entries = checkAuditChain(t, c)
	})
	step(t, "ExpireUnverified", func(t *testing.T) {
		c.setClock(t, t0Plus8d)
		r := call(t, "POST", c.url+"/_local/jobs/retention", "", nil)
		var rep struct {
			Job     string         `json:"job"`
			Expired map[string]int `json:"expired"`
		}
		r.must(t, http.StatusOK, &rep)
		// r2 and the locked r5 were never verified; r1 and r4 were, r3 is rejected.
		if rep.Job != "retention" || rep.Expired["requests"] != 2 {
			t.Fatalf("report = %s, want 2 requests expired", r.body)
		}
		for id, want := range map[string]string{r1.ID: "verified", r2.ID: "expired", r3.ID: "rejected", r4.ID: "verified", r5.ID: "expired"} {
			if got := c.record(t, id).Status; got != want {
				t.Errorf("%s: status %q, want %q", id, got, want)
			}
		}
		c.verify(t, r2.ID, c.verificationCode(t, nobodyEmail, r2.ID)).code(t, http.StatusGone, "code_expired")
		var expired listPage[requestRecord]
		c.admin(t, "GET", "/v1/requests?status=expired", "").must(t, http.StatusOK, &expired)
		var ids []string
		for _, e := range expired.Items {
			ids = append(ids, e.ID)
		}
		want := []string{r2.ID, r5.ID}
		slices.Sort(ids)
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Fatalf("expired requests = %v, want %v", ids, want)
		}
		// A second run finds nothing more to expire.
		r = call(t, "POST", c.url+"/_local/jobs/retention", "", nil)
		r.must(t, http.StatusOK, &rep)
		if rep.Expired["requests"] != 0 {
			t.Fatalf("second run: %s, want 0 requests expired", r.body)
		}
		if got, want := checkAuditChain(t, c), entries+2; got != want {
			t.Fatalf("%d audit entries after two expiries, want %d", got, want)
		}
	})
}

// checkQueue checks the operator's list: every request, soonest due first, in the order
// given (requests due at the same time may come in any order among themselves).
func checkQueue(t *testing.T, c client, order ...string) {
	t.Helper()
	var l listPage[requestRecord]
	c.admin(t, "GET", "/v1/requests", "").must(t, http.StatusOK, &l)
	if len(l.Items) != len(order) {
		t.Fatalf("%d requests listed, want %d", len(l.Items), len(order))
	}
	due := map[string]string{}
	for i, it := range l.Items {
		due[it.ID] = it.DueAt
		if i > 0 && it.DueAt < l.Items[i-1].DueAt {
			t.Fatalf("item %d due %s after item %d due %s", i, it.DueAt, i-1, l.Items[i-1].DueAt)
		}
	}
	for i, id := range order {
		got := l.Items[i].ID
		if got != id && due[got] != due[id] {
			t.Fatalf("item %d = %s (due %s), want %s (due %s)", i, got, due[got], id, due[id])
		}
	}
}

// checkAuditChain reads the whole audit trail, checks its links and that the server verifies
// it, and returns how many entries it has.
func checkAuditChain(t *testing.T, c client) int {
	t.Helper()
	var all []auditEntry
	var raw []byte
	for cursor := ""; ; {
		r := c.admin(t, "GET", "/v1/audit?limit=500&cursor="+cursor, "")
		var p listPage[auditEntry]
		r.must(t, http.StatusOK, &p)
		raw = append(raw, r.body...)
		all = append(all, p.Items...)
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if bytes.Contains(raw, []byte("@example.org")) {
		t.Fatal("the audit trail holds an email address")
	}
	for i, e := range all {
		if got, want := e.Seq, int64(len(all)-i); got != want {
			t.Fatalf("entry %d: seq %d, want %d (newest first, no gap)", i, got, want)
		}
		if i+1 < len(all) && e.PrevHash != all[i+1].Hash {
			t.Fatalf("seq %d does not link to seq %d", e.Seq, all[i+1].Seq)
		}
	}
	var v struct {
		OK      bool  `json:"ok"`
		Entries int64 `json:"entries"`
	}
	c.admin(t, "GET", "/v1/audit/verify", "").must(t, http.StatusOK, &v)
	if !v.OK || v.Entries != int64(len(all)) {
		t.Fatalf("verify = %+v, want ok with %d entries", v, len(all))
	}
	return len(all)
}

// changeSpy is a stream function that keeps every change it is given.
type changeSpy struct {
	mu      sync.Mutex
	changes []delivery
}

// delivery is one delivered record: its event name and its images' data.
type delivery struct {
	event    string
	old, new map[string]any
}

func (s *changeSpy) handle(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range ev.Records {
		c, err := streamimage.Change(rec)
		if err != nil {
			return events.DynamoDBEventResponse{}, err
		}
		d := delivery{event: c.Event}
		if c.Old != nil {
			if err := json.Unmarshal(c.Old.Data, &d.old); err != nil {
				return events.DynamoDBEventResponse{}, err
			}
		}
		if c.New != nil {
			if err := json.Unmarshal(c.New.Data, &d.new); err != nil {
				return events.DynamoDBEventResponse{}, err
			}
		}
		s.changes = append(s.changes, d)
	}
	return events.DynamoDBEventResponse{}, nil
}

// of returns the events delivered for request id.
func (s *changeSpy) of(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.changes {
		if c.new["id"] == id || c.old["id"] == id {
			out = append(out, fmt.Sprintf("%s %v→%v", c.event, c.old["status"], c.new["status"]))
		}
	}
	return out
}

// verifiedTrigger is a stream function on the service's table that gets requests once they
// are verified: where the fulfilment of a request starts.
const verifiedTrigger = `
Type: AWS::Serverless::Function
Properties:
  Events:
    Verified:
      Type: DynamoDB
      Properties:
        Stream: !GetAtt Table.StreamArn
        StartingPosition: TRIM_HORIZON
        BatchSize: 10
        FilterCriteria:
          Filters:
            - Pattern: '{"dynamodb":{"NewImage":{"status":{"S":["verified"]}}}}'
`

// withFunction returns the service's template with one more resource.
func withFunction(t *testing.T, id, resource string) []byte {
	t.Helper()
	var doc, res yaml.Node
	if err := yaml.Unmarshal(gdpr.Template, &doc); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(resource), &res); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "Resources" {
			root.Content[i+1].Content = append(root.Content[i+1].Content, &yaml.Node{Kind: yaml.ScalarNode, Value: id}, res.Content[0])
			out, err := yaml.Marshal(&doc)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	t.Fatal("template has no Resources")
	return nil
}

// TestFlowChangeFeed: a request that becomes verified reaches a stream function on the
// service's table as a MODIFY from pending_verification to verified, as DynamoDB Streams
// would deliver it through Lambda's event source mapping.
func TestFlowChangeFeed(t *testing.T) {
	spy := &changeSpy{}
	fns := append(slices.Clone(gdprd.Functions), gdprd.Stream("VerifiedFunction", func(*ports.Ports) (lambdamain.StreamHandler, error) {
		return spy.handle, nil
	}))
	s := start(t, gdprd.Config{Template: withFunction(t, "VerifiedFunction", verifiedTrigger), Functions: fns})
	c := localClient(t, s)
	pending := c.submit(t, "access", nobodyEmail)
	other := c.submit(t, "erasure", lockEmail)
	var v verified
	c.verify(t, pending.ID, c.verificationCode(t, nobodyEmail, pending.ID)).must(t, http.StatusOK, &v)
	// A marker verified after both: the feed delivers in order, so once the marker's change
	// is in, any wrong delivery of the other two (an INSERT, a second copy) would be too.
	marker := c.submit(t, "access", knownEmail)
	c.verify(t, marker.ID, c.verificationCode(t, knownEmail, marker.ID)).must(t, http.StatusOK, &verified{})
	waitFor(t, "the marker request delivered", func() bool { return len(spy.of(marker.ID)) > 0 })
	if got, want := spy.of(pending.ID), []string{"MODIFY pending_verification→verified"}; !slices.Equal(got, want) {
		t.Fatalf("delivered for the verified request: %v, want %v", got, want)
	}
	if got := spy.of(other.ID); len(got) != 0 {
		t.Fatalf("delivered for the unverified request: %v, want nothing", got)
	}
}

// TestAWSFlow runs the consent gate and a request's submission and verification with gdprd
// on DynamoDB, S3 and SES, emulated by moto_server. SES has a moto_server of its own, whose
// data.json the mail is read back from (see ../shared/TOOLING.md).
func TestAWSFlow(t *testing.T) {
	vars := motoEnv(t, "gdpr-flow")
	mailer := mototest.Start(t)
	t.Setenv("AWS_ENDPOINT_URL_SESV2", mailer.Endpoint)
	vars["AWS_ENDPOINT_URL_SESV2"] = mailer.Endpoint
	dir := t.TempDir()
	s := start(t, gdprd.Config{DataDir: dir, Env: env(vars)})
	c := client{url: s.URL(), keys: credentials(t, dir), mail: sesMail(mailer)}

	step(t, "ConsentGate", func(t *testing.T) {
		c.site(t, "POST", "/v1/consents", decision("u-aws", knownEmail, false, false, false)).must(t, http.StatusCreated, nil)
		var v consentState
		c.site(t, "GET", "/v1/consents/u-aws", "").must(t, http.StatusOK, &v)
		if v.LoginAllowed {
			t.Fatal("login allowed with terms denied")
		}
		c.site(t, "PUT", "/v1/subjects/u-aws/profile", `{"first_name":"Ann"}`).code(t, http.StatusConflict, "consent_required")
		c.site(t, "POST", "/v1/consents", decision("u-aws", knownEmail, true, true, false)).must(t, http.StatusCreated, nil)
		v = consentState{}
		c.site(t, "GET", "/v1/consents/u-aws", "").must(t, http.StatusOK, &v)
		if !v.LoginAllowed || !v.Purposes["rba"].Granted || v.Purposes["marketing"].Granted {
			t.Fatalf("state after granting terms and rba = %+v", v)
		}
	})
	step(t, "SubmitAndVerify", func(t *testing.T) {
		rc := c.submit(t, "access", knownEmail)
		code := c.verificationCode(t, knownEmail, rc.ID)
		c.verify(t, rc.ID, "AAAAAAAAAAAAAAAAAAAAAA").code(t, http.StatusBadRequest, "invalid_code")
		var v verified
		c.verify(t, rc.ID, code).must(t, http.StatusOK, &v)
		if v.ID != rc.ID || v.Status != "verified" {
			t.Fatalf("verify = %+v", v)
		}
		var st requestReceipt
		call(t, "GET", c.url+c.requests()+"/"+rc.ID, v.AccessToken, nil).must(t, http.StatusOK, &st)
		// ExportFunction may have taken the request up already.
		if st.ID != rc.ID || !slices.Contains([]string{"verified", "processing", "completed"}, st.Status) || st.DueAt != rc.DueAt {
			t.Fatalf("status = %+v, want verified (or on its way) and due %s", st, rc.DueAt)
		}
	})
}
