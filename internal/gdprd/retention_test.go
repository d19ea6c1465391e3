package gdprd_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/export"
	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/objects"
	"github.com/example/gdpr/internal/tenant"
)

// The retention job end to end, on both homes, with the server's clock moved: expired
// exports lose their object and record, housekeeping deletes what TTL would, the DPO is
// reminded once per threshold and told once of an overdue request, and an inactive subject
// gets an erasure opened by the system while an active one is left alone. Nothing fulfils
// requests here (withoutStreams), so that requests stay unanswered as long as the flow needs.

func TestFlowRetention(t *testing.T) {
	s := start(t, gdprd.Config{Functions: withoutStreams()})
	retentionFlow(t, s, localClient(t, s), true)
}

func TestAWSFlowRetention(t *testing.T) {
	vars := motoEnv(t, "gdpr-retention")
	mailer := mototest.Start(t)
	t.Setenv("AWS_ENDPOINT_URL_SES", mailer.Endpoint)
	vars["AWS_ENDPOINT_URL_SES"] = mailer.Endpoint
	dir := t.TempDir()
	s := start(t, gdprd.Config{DataDir: dir, Env: env(vars), Functions: withoutStreams()})
	// moto restores a snapshot of the table when a transaction is cancelled, so overlapping
	// runs are tested on SQLite (and in dsr's suite) only.
	retentionFlow(t, s, client{url: s.URL(), keys: credentials(t, dir), mail: sesMail(mailer)}, false)
}

// retentionReport is the job's answer.
type retentionReport struct {
	Job       string         `json:"job"`
	Finished  bool           `json:"finished"`
	Deleted   map[string]int `json:"deleted"`
	Expired   map[string]int `json:"expired"`
	Deadlines map[string]int `json:"deadlines"`
}

func (r retentionReport) total() int {
	n := 0
	for _, m := range []map[string]int{r.Deleted, r.Expired, r.Deadlines} {
		for _, v := range m {
			n += v
		}
	}
	return n
}

// runRetention moves the clock to at and runs the job.
func runRetention(t *testing.T, c client, at time.Time) retentionReport {
	t.Helper()
	c.setClock(t, at.Format(time.RFC3339))
	var rep retentionReport
	call(t, "POST", c.url+"/_local/jobs/retention", "", nil).must(t, http.StatusOK, &rep)
	if rep.Job != "retention" || !rep.Finished {
		t.Fatalf("report %+v", rep)
	}
	return rep
}

// dpoMails counts the messages to the DPO about request id.
func (c client) dpoMails(t *testing.T, id string) int {
	t.Helper()
	n := 0
	for _, m := range c.mail(t) {
		if m.to == "dpo@example.com" && strings.Contains(m.body, id) {
			n++
		}
	}
	return n
}

func retentionFlow(t *testing.T, s *testServer, c client, overlap bool) {
	ctx := context.Background()
	p := s.Ports()
	t0 := time.Now().UTC().Truncate(time.Second).Add(time.Minute)
	step(t, "Settings", func(t *testing.T) {
		patchSettings(t, c.url, c.keys.AdminKey, `{"dpo_email":"dpo@example.com","reminder_days":[7,2],"inactive_days":60,"export_link_days":3}`).must(t, http.StatusOK, nil)
		// Past the functions' 30 s settings cache.
		c.setClock(t, t0.Format(time.RFC3339))
	})

	var exportID, exportToken, lateID, lateDue string
	step(t, "Seed", func(t *testing.T) {
		for _, id := range []string{"u-idle", "u-busy"} {
			c.site(t, "POST", "/v1/consents", decision(id, id+"@example.org", true, false, false)).must(t, http.StatusCreated, nil)
		}
		// An access request answered with an export that lives 3 days (its fulfilment done
		// here through the domain's own calls: no stream function runs).
		exportID, exportToken = verifiedRequest(t, c, "access", "reader@example.org")
		svc := dsr.New(p.Table, tenant.Store{Table: p.Table, Clock: p.Clock}, p.Mail, p.Clock, p.Secrets)
		if _, _, err := svc.Claim(ctx, c.keys.Tenant, exportID); err != nil {
			t.Fatal(err)
		}
		key := export.ObjectKey(c.keys.Tenant, exportID)
		if err := p.Objects.Put(ctx, key, "application/zip", strings.NewReader("PK zip")); err != nil {
			t.Fatal(err)
		}
		rec := export.Record{RequestID: exportID, Type: dsr.Access, ObjectKey: key, CreatedAt: t0, ExpiresAt: t0.Add(3 * 24 * time.Hour)}
		if err := (export.Records{Table: p.Table, Clock: p.Clock}).Put(ctx, c.keys.Tenant, rec); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Complete(ctx, c.keys.Tenant, exportID, ""); err != nil {
			t.Fatal(err)
		}
		var st publicStatus
		call(t, "GET", c.url+c.requests()+"/"+exportID, exportToken, nil).must(t, http.StatusOK, &st)
		if st.DownloadURL == "" {
			t.Fatalf("status without its download: %+v", st)
		}
		// An objection nobody answers, one request never verified, and an idempotency record.
		var rc requestReceipt
		lateID, _ = verifiedRequest(t, c, "objection", "late@example.org")
		c.record(t, lateID)
		lateDue = c.record(t, lateID).DueAt
		c.submit(t, "access", "never@example.org")
		callHeader(t, "POST", c.url+"/v1/requests", c.keys.SiteKey, []byte(`{"type":"access","email":"site@example.org"}`),
			http.Header{"Idempotency-Key": {"retention-1"}}).must(t, http.StatusAccepted, &rc)
	})

	step(t, "ExportsAndHousekeeping", func(t *testing.T) {
		rep := runRetention(t, c, t0.Add(3*24*time.Hour+time.Second))
		if rep.Deleted[export.KindExports] != 1 || rep.Deleted["idempotency_records"] != 1 || rep.Deleted["verification_codes"] != 2 || rep.Deleted["rate_limit_counters"] == 0 {
			t.Fatalf("report %+v: want the export, the idempotency record, two unused codes and the counters", rep)
		}
		if _, err := p.Objects.Get(ctx, export.ObjectKey(c.keys.Tenant, exportID)); !errors.Is(err, objects.ErrNotFound) {
			t.Fatalf("the expired export's object: %v, want it gone", err)
		}
		if _, err := (export.Records{Table: p.Table, Clock: clock.System{}}).Get(ctx, c.keys.Tenant, exportID); !errors.Is(err, export.ErrExpired) {
			t.Fatalf("the expired export's record: %v, want it gone", err)
		}
		var st publicStatus
		call(t, "GET", c.url+c.requests()+"/"+exportID, exportToken, nil).must(t, http.StatusOK, &st)
		if st.DownloadURL != "" || st.DownloadExpiresAt != "" {
			t.Fatalf("status still shows the link: %+v", st)
		}
		if again := runRetention(t, c, t0.Add(3*24*time.Hour+time.Minute)); again.total() != 0 {
			t.Fatalf("second run: %+v, want nothing", again)
		}
		if rep := runRetention(t, c, t0.Add(8*24*time.Hour)); rep.Expired["requests"] != 2 {
			t.Fatalf("after a week: %+v, want the two unverified requests expired", rep)
		}
	})

	step(t, "Reminders", func(t *testing.T) {
		due, err := time.Parse(time.RFC3339, lateDue)
		if err != nil {
			t.Fatal(err)
		}
		at7 := due.Add(time.Second).AddDate(0, 0, -7)
		if rep := runRetention(t, c, at7.Add(-time.Minute)); rep.Deadlines[dsr.DoneReminder] != 0 {
			t.Fatalf("before the 7 days: %+v", rep)
		}
		if rep := runRetention(t, c, at7); rep.Deadlines[dsr.DoneReminder] != 1 || c.dpoMails(t, lateID) != 1 {
			t.Fatalf("at 7 days: %+v, %d DPO emails", rep, c.dpoMails(t, lateID))
		}
		if rep := runRetention(t, c, at7.Add(time.Hour)); rep.total() != 0 || c.dpoMails(t, lateID) != 1 {
			t.Fatalf("again: %+v, %d DPO emails", rep, c.dpoMails(t, lateID))
		}
		at2 := due.Add(time.Second).AddDate(0, 0, -2)
		if !overlap {
			if rep := runRetention(t, c, at2); rep.Deadlines[dsr.DoneReminder] != 1 {
				t.Fatalf("at 2 days: %+v", rep)
			}
		} else {
			// Overlapping runs send it once between them.
			c.setClock(t, at2.Format(time.RFC3339))
			var wg sync.WaitGroup
			reps := make([]retentionReport, 3)
			for i := range reps {
				wg.Go(func() {
					call(t, "POST", c.url+"/_local/jobs/retention", "", nil).must(t, http.StatusOK, &reps[i])
				})
			}
			wg.Wait()
			sent := 0
			for _, r := range reps {
				sent += r.Deadlines[dsr.DoneReminder]
			}
			if sent != 1 {
				t.Fatalf("overlapping runs sent %d reminders: %+v", sent, reps)
			}
		}
		if n := c.dpoMails(t, lateID); n != 2 {
			t.Fatalf("%d DPO emails after two thresholds, want 2", n)
		}
	})

	step(t, "Overdue", func(t *testing.T) {
		due, _ := time.Parse(time.RFC3339, lateDue)
		if rep := runRetention(t, c, due.Add(time.Second)); rep.Deadlines[dsr.DoneOverdue] != 1 || c.dpoMails(t, lateID) != 3 {
			t.Fatalf("past due: %+v, %d DPO emails", rep, c.dpoMails(t, lateID))
		}
		if rep := runRetention(t, c, due.Add(2*time.Hour)); rep.total() != 0 || c.dpoMails(t, lateID) != 3 {
			t.Fatalf("again: %+v", rep)
		}
		var rec struct {
			Overdue bool `json:"overdue"`
		}
		c.admin(t, "GET", "/v1/requests/"+lateID, "").must(t, http.StatusOK, &rec)
		var page listPage[struct {
			ID      string `json:"id"`
			Overdue bool   `json:"overdue"`
		}]
		c.admin(t, "GET", "/v1/requests?overdue=true", "").must(t, http.StatusOK, &page)
		if !rec.Overdue || len(page.Items) != 1 || page.Items[0].ID != lateID || !page.Items[0].Overdue {
			t.Fatalf("record overdue %v, overdue list %+v", rec.Overdue, page.Items)
		}
		var audit listPage[auditEntry]
		c.admin(t, "GET", "/v1/audit?request_id="+lateID, "").must(t, http.StatusOK, &audit)
		var actions []string
		for _, e := range audit.Items {
			actions = append(actions, e.Action)
		}
		if count(actions, "request.reminder") != 2 || count(actions, "request.overdue") != 1 {
			t.Fatalf("audit of the late request: %v", actions)
		}
		checkAuditChain(t, c)
	})

	step(t, "Inactive", func(t *testing.T) {
		c.setClock(t, t0.Add(40*24*time.Hour).Format(time.RFC3339))
		c.site(t, "POST", "/v1/consents", decision("u-busy", "u-busy@example.org", true, false, true)).must(t, http.StatusCreated, nil)
		if rep := runRetention(t, c, t0.Add(59*24*time.Hour)); rep.Deadlines[dsr.DoneInactive] != 0 {
			t.Fatalf("before 60 days: %+v", rep)
		}
		if rep := runRetention(t, c, t0.Add(61*24*time.Hour)); rep.Deadlines[dsr.DoneInactive] != 1 {
			t.Fatalf("after 60 days: %+v, want one erasure opened", rep)
		}
		if rep := runRetention(t, c, t0.Add(62*24*time.Hour)); rep.Deadlines[dsr.DoneInactive] != 0 {
			t.Fatalf("again: %+v", rep)
		}
		var page listPage[struct {
			ID        string `json:"id"`
			SubjectID string `json:"subject_id"`
			Status    string `json:"status"`
		}]
		c.admin(t, "GET", "/v1/requests?type=erasure", "").must(t, http.StatusOK, &page)
		if len(page.Items) != 1 || page.Items[0].SubjectID != "u-idle" || page.Items[0].Status != "verified" {
			t.Fatalf("erasures %+v, want one for u-idle, verified", page.Items)
		}
		rec := c.record(t, page.Items[0].ID)
		if len(rec.Timeline) == 0 || rec.Timeline[0].Actor != "system" {
			t.Fatalf("timeline %+v, want it opened by the system", rec.Timeline)
		}
	})
}
