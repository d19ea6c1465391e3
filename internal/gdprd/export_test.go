package gdprd_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/export"
	"github.com/example/gdpr/internal/export/exporttest"
	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/objects"
	"github.com/example/gdpr/internal/ports"
)

// The export flow of API.md's Export section, end to end over HTTP on a running gdprd: a
// subject's data through the site routes, an access and a portability request verified by
// the subject, ExportFunction fed the change feed, the emailed link, the redirect, and the ZIP
// read back from where the objects port keeps it.

// exportFixture is what seedSubject stores, as the package checks expect it.
func exportFixture(tenantID string) exporttest.Fixture {
	return exporttest.Fixture{
		Tenant: tenantID, SubjectID: "u-export", FirstName: "Ann", Email: "export@example.org",
		Question: "First pet?", Answer: "Rex the dog, 1999",
		FormulaLocation: "=HYPERLINK(1)", Markup: "<b>Fox</b>", FormulaUserAgent: "@SUM(1+1)",
		DeviceRetentionDays: 90, LinkDays: 7,
	}
}

// seedSubject stores the fixture's subject through the site routes; f counts what it stored.
func seedSubject(t *testing.T, c client, f *exporttest.Fixture) {
	t.Helper()
	for i, ua := range []string{"Mozilla/5.0", f.FormulaUserAgent, "-1+2"} {
		body := fmt.Sprintf(`{"subject_id":%q,"email":%q,"policy_version":"2026-01","purposes":{"terms":true,"rba":true,"marketing":%t},`+
			`"method":"web_form","evidence":{"ip":"203.0.113.9","user_agent":%q,"locale":"en"}}`, f.SubjectID, f.Email, i == 1, ua)
		c.site(t, "POST", "/v1/consents", body).must(t, http.StatusCreated, nil)
		f.Decisions++
	}
	profile := fmt.Sprintf(`{"first_name":%q,"last_name":"Lee","email":%q,"phone":"+44 20 7946 0000",`+
		`"security_questions":[{"question":%q,"answer":%q}]}`, f.FirstName, f.Email, f.Question, f.Answer)
	c.site(t, "PUT", "/v1/subjects/"+f.SubjectID+"/profile", profile).must(t, http.StatusOK, nil)
	for i, d := range []string{
		`"ip":"203.0.113.9","location":"London, GB","browser":"Firefox 146"`,
		`"ip":"2001:db8::1","location":"` + f.FormulaLocation + `","browser":"Safari"`,
		`"ip":"198.51.100.7","location":"+44 Leeds","browser":"` + f.Markup + `","fingerprint":"-fp"`,
	} {
		seen := time.Now().UTC().Add(-time.Duration(i+1) * time.Hour).Format(time.RFC3339)
		c.site(t, "POST", "/v1/subjects/"+f.SubjectID+"/devices", `{`+d+`,"seen_at":"`+seen+`"}`).must(t, http.StatusAccepted, nil)
		f.Devices++
	}
}

// publicStatus is the status route's answer.
type publicStatus struct {
	ID                string `json:"id"`
	Type              string `json:"type"`
	Status            string `json:"status"`
	CompletedAt       string `json:"completed_at"`
	DownloadURL       string `json:"download_url"`
	DownloadExpiresAt string `json:"download_expires_at"`
}

// verifiedRequest submits a public request and verifies it; it returns its id and token.
func verifiedRequest(t *testing.T, c client, typ, email string) (string, string) {
	t.Helper()
	rc := c.submit(t, typ, email)
	var v verified
	c.verify(t, rc.ID, c.verificationCode(t, email, rc.ID)).must(t, http.StatusOK, &v)
	return rc.ID, v.AccessToken
}

// waitStatus polls the status route until the request reaches status (30 s at most).
func waitStatus(t *testing.T, c client, id, token, status string) publicStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st publicStatus
		call(t, "GET", c.url+c.requests()+"/"+id, token, nil).must(t, http.StatusOK, &st)
		if st.Status == status {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s is %s after 30 s, want %s", id, st.Status, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// noRedirect answers 3xx as they are.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// download follows the link one hop and returns the redirect's target.
func download(t *testing.T, link string) string {
	t.Helper()
	resp, err := noRedirect.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("download link: status %d, want 302: %s", resp.StatusCode, b)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("redirect may be cached: Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	return resp.Header.Get("Location")
}

// fetchZip downloads the link and unzips the package.
func fetchZip(t *testing.T, link string) map[string][]byte {
	t.Helper()
	resp, err := http.Get(download(t, link))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("package: status %d, %v", resp.StatusCode, err)
	}
	return exporttest.Unzip(t, b)
}

// mailsAbout counts the messages to to that name the request and hold every part.
func (c client) mailsAbout(t *testing.T, to, id string, parts ...string) int {
	t.Helper()
	n := 0
	for _, m := range c.mail(t) {
		if m.to == to && strings.Contains(m.body, id) && containsAll(m.body, parts) {
			n++
		}
	}
	return n
}

// timeline returns the events of a request's timeline.
func (c client) timeline(t *testing.T, id string) []string {
	t.Helper()
	var out []string
	for _, e := range c.record(t, id).Timeline {
		out = append(out, e.Event)
	}
	return out
}

func count(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// redeliver invokes ExportFunction in a runner of its own on the server's stores with a
// stream record of the request, as a duplicated delivery would.
func redeliver(t *testing.T, cfg gdprd.Config, tenantID, id string) {
	t.Helper()
	r, err := gdprd.NewRunner(context.Background(), cfg, clock.System{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ev := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{{EventName: "MODIFY", EventSource: "aws:dynamodb",
		Change: events.DynamoDBStreamRecord{SequenceNumber: "1", Keys: map[string]events.DynamoDBAttributeValue{
			"pk": events.NewStringAttribute("T#" + tenantID + "#R#" + id), "sk": events.NewStringAttribute("REQUEST")}}}}}
	payload, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Invoke(context.Background(), "ExportFunction", payload)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.DynamoDBEventResponse
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery answered %s", out)
	}
}

// exportFlow is the flow on whichever home s runs; runner is how a second process reaches
// the same stores (for a duplicated delivery).
func exportFlow(t *testing.T, s *testServer, c client, runner gdprd.Config) {
	f := exportFixture(c.keys.Tenant)
	var accessID, accessToken string
	var st publicStatus
	step(t, "Seed", func(t *testing.T) { seedSubject(t, c, &f) })
	step(t, "Access", func(t *testing.T) {
		accessID, accessToken = verifiedRequest(t, c, "access", f.Email)
		st = waitStatus(t, c, accessID, accessToken, "completed")
		if st.DownloadURL == "" || st.DownloadExpiresAt == "" || st.CompletedAt == "" {
			t.Fatalf("completed status without its download: %+v", st)
		}
		exp, err := time.Parse(time.RFC3339, st.DownloadExpiresAt)
		if err != nil || time.Until(exp) < 7*24*time.Hour-time.Minute || time.Until(exp) > 7*24*time.Hour+time.Minute {
			t.Fatalf("download_expires_at %s, want 7 days from now", st.DownloadExpiresAt)
		}
		if !strings.HasPrefix(st.DownloadURL, c.url+"/v1/public/"+f.Tenant+"/requests/"+accessID+"/export?") {
			t.Fatalf("download_url %s is not the absolute download route", st.DownloadURL)
		}
		if n := c.mailsAbout(t, f.Email, accessID, "signature="+mustQuery(t, st.DownloadURL, "signature")); n != 1 {
			t.Fatalf("%d export_ready emails with the link, want 1", n)
		}
		f.RequestID = accessID
		exporttest.CheckAccess(t, fetchZip(t, st.DownloadURL), f)
	})
	step(t, "TimelineAndAudit", func(t *testing.T) {
		tl := c.timeline(t, accessID)
		for _, want := range []string{"verified", "processing", export.StepStored, export.StepRecorded, export.StepLinkSent, "completed"} {
			if count(tl, want) != 1 {
				t.Fatalf("timeline %v: %q not there once", tl, want)
			}
		}
		var page listPage[auditEntry]
		c.admin(t, "GET", "/v1/audit?request_id="+accessID, "").must(t, http.StatusOK, &page)
		var actions []string
		for _, e := range page.Items {
			actions = append(actions, e.Action)
			if e.Subject != "" && !strings.HasPrefix(e.Subject, "ps_") {
				t.Fatalf("audit subject %q is not a pseudonym", e.Subject)
			}
		}
		if count(actions, "request.step") != 3 || count(actions, "request.completed") != 1 || count(actions, "request.processing") != 1 {
			t.Fatalf("audit of the export: %v", actions)
		}
		checkAuditChain(t, c)
	})
	step(t, "DuplicateDelivery", func(t *testing.T) {
		redeliver(t, runner, f.Tenant, accessID)
		redeliver(t, runner, f.Tenant, accessID)
		if n := c.mailsAbout(t, f.Email, accessID, "signature="); n != 1 {
			t.Fatalf("%d export_ready emails after duplicated records, want 1", n)
		}
		if tl := c.timeline(t, accessID); count(tl, export.StepStored) != 1 || count(tl, "processing") != 1 {
			t.Fatalf("timeline after duplicated records: %v", tl)
		}
	})
	step(t, "Links", func(t *testing.T) {
		u, err := url.Parse(st.DownloadURL)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		tamper := func(name, value string) string {
			v := url.Values{}
			for k := range q {
				v.Set(k, q.Get(k))
			}
			v.Set(name, value)
			return c.url + u.Path + "?" + v.Encode()
		}
		sig := q.Get("signature")
		flipped := "A" + sig[1:]
		if sig[0] == 'A' {
			flipped = "B" + sig[1:]
		}
		exp := q.Get("expires")
		for name, link := range map[string]string{
			"Signature":     tamper("signature", flipped),
			"LongerExpiry":  tamper("expires", exp+"0"),
			"NoSignature":   tamper("signature", ""),
			"OtherRequest":  strings.Replace(st.DownloadURL, accessID, "req_AAAAAAAAAAAAAAAAAAAAAA", 1),
			"GarbageExpiry": tamper("expires", "soon"),
		} {
			t.Run(name, func(t *testing.T) {
				call(t, "GET", link, "", nil).code(t, http.StatusForbidden, "invalid_signature")
			})
		}
	})
	var portID string
	step(t, "Portability", func(t *testing.T) {
		var token string
		portID, token = verifiedRequest(t, c, "portability", f.Email)
		pst := waitStatus(t, c, portID, token, "completed")
		pf := f
		pf.RequestID = portID
		exporttest.CheckPortability(t, fetchZip(t, pst.DownloadURL), pf)
	})
	step(t, "UnknownSubject", func(t *testing.T) {
		id, token := verifiedRequest(t, c, "access", "stranger@example.org")
		ust := waitStatus(t, c, id, token, "completed")
		if ust.DownloadURL != "" {
			t.Fatalf("an export for nobody: %+v", ust)
		}
		if n := c.mailsAbout(t, "stranger@example.org", id, "no personal data"); n != 1 {
			t.Fatalf("%d no_data emails, want 1", n)
		}
		if _, err := s.Ports().Objects.Get(context.Background(), export.ObjectKey(f.Tenant, id)); !errors.Is(err, objects.ErrNotFound) {
			t.Fatalf("package of an unknown subject: err = %v, want none", err)
		}
	})
	step(t, "Expired", func(t *testing.T) {
		exp, _ := time.Parse(time.RFC3339, st.DownloadExpiresAt)
		c.setClock(t, exp.Add(time.Second).Format(time.RFC3339))
		call(t, "GET", st.DownloadURL, "", nil).code(t, http.StatusGone, "export_expired")
		// Closed over 7 days ago and its export gone: the token reads nothing any more.
		call(t, "GET", c.url+c.requests()+"/"+accessID, accessToken, nil).code(t, http.StatusUnauthorized, "unauthenticated")
		c.setClock(t, time.Now().UTC().Format(time.RFC3339))
	})
}

func TestFlowExport(t *testing.T) {
	s := start(t, gdprd.Config{})
	c := localClient(t, s)
	exportFlow(t, s, c, gdprd.Config{Addr: strings.TrimPrefix(s.URL(), "http://"), DataDir: s.dir, Env: env(nil)})
}

// TestAWSFlowExport runs the export flow on DynamoDB, S3 and SES (moto_server; SES on a
// server of its own, see TestAWSFlow): the ZIP is read back from moto's S3 through the
// presigned URL the download route redirects to. moto does not check presigned signatures,
// so the tampered and expired links are the download route's own checks.
func TestAWSFlowExport(t *testing.T) {
	vars := motoEnv(t, "gdpr-export")
	mailer := mototest.Start(t)
	t.Setenv("AWS_ENDPOINT_URL_SES", mailer.Endpoint)
	vars["AWS_ENDPOINT_URL_SES"] = mailer.Endpoint
	dir := t.TempDir()
	s := start(t, gdprd.Config{DataDir: dir, Env: env(vars)})
	c := client{url: s.URL(), keys: credentials(t, dir), mail: sesMail(mailer)}
	exportFlow(t, s, c, gdprd.Config{Addr: strings.TrimPrefix(s.URL(), "http://"), DataDir: dir, Env: env(vars)})
}

// withFailingObjects builds the functions on an objects store whose uploads break part-way
// while fail counts down.
func withFailingObjects(fail, failures *atomic.Int64) []gdprd.Function {
	return onPorts(func(p ports.Ports) ports.Ports {
		p.Objects = exporttest.FailingStore{Store: p.Objects, After: 1500, Fail: fail, Failures: failures}
		return p
	})
}

// TestExportUploadFailure breaks the objects port mid-upload: once (the record is retried and
// the export completes), then on every try (the request fails visibly, the subject is told,
// and an operator's retry completes it once the store works again). No link is sent and no
// object is readable while uploads fail.
func TestExportUploadFailure(t *testing.T) {
	var fail, failures atomic.Int64
	s := start(t, gdprd.Config{Functions: withFailingObjects(&fail, &failures)})
	c := localClient(t, s)
	f := exportFixture(c.keys.Tenant)
	seedSubject(t, c, &f)

	step(t, "OnceThenRetried", func(t *testing.T) {
		fail.Store(1)
		id, token := verifiedRequest(t, c, "access", f.Email)
		st := waitStatus(t, c, id, token, "completed")
		if failures.Load() != 1 {
			t.Fatalf("%d failed uploads, want 1", failures.Load())
		}
		if n := c.mailsAbout(t, f.Email, id, "signature="); n != 1 {
			t.Fatalf("%d export_ready emails, want 1", n)
		}
		if tl := c.timeline(t, id); count(tl, "resumed") != 1 || count(tl, export.StepStored) != 1 {
			t.Fatalf("timeline %v: want one resumed attempt and one stored package", tl)
		}
		ff := f
		ff.RequestID = id
		exporttest.CheckAccess(t, fetchZip(t, st.DownloadURL), ff)
	})
	step(t, "EveryTryThenOperatorRetry", func(t *testing.T) {
		failures.Store(0)
		fail.Store(1000)
		id, token := verifiedRequest(t, c, "access", f.Email)
		waitStatus(t, c, id, token, "failed")
		rec := c.record(t, id)
		var full struct {
			Failure  string `json:"failure"`
			Attempts int    `json:"attempts"`
		}
		c.admin(t, "GET", "/v1/requests/"+id, "").must(t, http.StatusOK, &full)
		if !strings.Contains(full.Failure, export.StepStored) || full.Attempts != 3 || failures.Load() != 3 {
			t.Fatalf("failed request: failure %q after %d attempts (%d failed uploads), want step %s named after 3", full.Failure, full.Attempts, failures.Load(), export.StepStored)
		}
		if rec.Status != "failed" {
			t.Fatalf("status %s", rec.Status)
		}
		if n := c.mailsAbout(t, f.Email, id, "signature="); n != 0 {
			t.Fatalf("%d links sent for a failed export", n)
		}
		if n := c.mailsAbout(t, f.Email, id); n != 2 { // the verification code, and that it failed
			t.Fatalf("%d emails about the request, want the code and the failure notice", n)
		}
		if _, err := s.Ports().Objects.Get(context.Background(), export.ObjectKey(f.Tenant, id)); !errors.Is(err, objects.ErrNotFound) {
			t.Fatalf("object after failed uploads: err = %v, want none readable", err)
		}
		var page listPage[auditEntry]
		c.admin(t, "GET", "/v1/audit?request_id="+id, "").must(t, http.StatusOK, &page)
		if len(page.Items) == 0 || page.Items[0].Action != "request.failed" {
			t.Fatalf("newest audit entry of the failed request: %+v", page.Items)
		}

		fail.Store(0)
		c.admin(t, "POST", "/v1/requests/"+id+"/retry", "").must(t, http.StatusOK, nil)
		st := waitStatus(t, c, id, token, "completed")
		if n := c.mailsAbout(t, f.Email, id, "signature="); n != 1 {
			t.Fatalf("%d export_ready emails after the retry, want 1", n)
		}
		ff := f
		ff.RequestID = id
		exporttest.CheckAccess(t, fetchZip(t, st.DownloadURL), ff)
	})
}

// mustQuery is one query parameter of a URL.
func mustQuery(t *testing.T, link, name string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(name)
}
