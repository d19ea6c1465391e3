package dsr_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/tenant"
)

const dpo = "dpo@example.com"

// dpoMail returns the messages sent to the DPO.
func (e *env) dpoMail() []mail.Message {
	var out []mail.Message
	for _, m := range e.mail.all() {
		if m.To == dpo {
			out = append(out, m)
		}
	}
	return out
}

func (e *env) mustSweep(t *testing.T, now time.Time) map[string]int {
	t.Helper()
	rep, err := e.sweep(now)
	if err != nil {
		t.Fatalf("sweep at %s: %v", now, err)
	}
	return rep.Done
}

func withDPO(days ...int) func(*tenant.Tenant) {
	return func(tn *tenant.Tenant) { tn.DPOEmail, tn.ReminderDays = dpo, days }
}

// testReminders: one reminder per threshold, then one overdue report, each once however often
// the job runs; the request is flagged overdue, audited and listed as such.
func testReminders(t *testing.T, e *env) {
	e.setTenant(t, withDPO(7, 2))
	r := e.verified(t, "ann@example.org")
	if _, _, err := e.svc.Claim(ctx, e.tenant, r.ID); err != nil { // processing: still unanswered
		t.Fatal(err)
	}
	due := r.DueAt // Monday 2 March 2026, 23:59:59
	at7 := due.Add(time.Second).AddDate(0, 0, -7)
	for _, c := range []struct {
		now        time.Time
		reminders  int
		overdue    int
		dpoMessage int
	}{
		{at7.Add(-time.Minute), 0, 0, 0},
		{at7, 1, 0, 1},
		{at7.Add(time.Hour), 0, 0, 1},
		{due.Add(-48 * time.Hour).Add(time.Second), 1, 0, 2},
		{due.Add(-time.Hour), 0, 0, 2},
		{due.Add(time.Second), 0, 1, 3},
		{due.Add(49 * time.Hour), 0, 0, 3},
	} {
		done := e.mustSweep(t, c.now)
		if done[dsr.DoneReminder] != c.reminders || done[dsr.DoneOverdue] != c.overdue || len(e.dpoMail()) != c.dpoMessage {
			t.Fatalf("at %s: %v and %d DPO emails, want %d reminders, %d overdue, %d emails", c.now, done, len(e.dpoMail()), c.reminders, c.overdue, c.dpoMessage)
		}
	}
	got := e.get(t, r.ID)
	if !got.Overdue {
		t.Fatal("not flagged overdue")
	}
	for _, m := range e.dpoMail() {
		if !strings.Contains(m.Subject, r.ID) || !strings.Contains(m.Text, "2 March 2026") || strings.Contains(m.Text, "ann@example.org") {
			t.Fatalf("DPO email %q / %q: want the request id and due date, no personal data", m.Subject, m.Text)
		}
	}
	if last := e.dpoMail()[2]; !strings.Contains(last.Subject, "overdue") {
		t.Fatalf("third DPO email is %q, want the overdue report", last.Subject)
	}
	entries, _, err := audit.Log{Table: e.table}.List(ctx, e.tenant, audit.Filter{RequestID: r.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, a := range entries {
		actions[a.Action]++
	}
	if actions["request.reminder"] != 2 || actions["request.overdue"] != 1 {
		t.Fatalf("audit actions %v, want 2 reminders and 1 overdue", actions)
	}
	e.clock.Set(due.Add(50 * time.Hour))
	if got := e.listAll(t, dsr.Filter{Overdue: true, Limit: 50}); len(got) != 1 || got[0].ID != r.ID {
		t.Fatalf("overdue list: %v", reqIDs(got))
	}
	// An answered request leaves the index: nothing more is sent about it.
	if _, err := e.svc.Complete(ctx, e.tenant, r.ID, ""); err != nil {
		t.Fatal(err)
	}
	e.mustSweep(t, due.Add(80*time.Hour))
	if len(e.dpoMail()) != 3 {
		t.Fatal("a completed request was reported")
	}
}

// testRemindersCatchUp: a job that finds several thresholds past at once sends the nearest
// only; a request verified after a threshold gets it at once; answered requests none; a
// tenant without a DPO email gets the flag and no email.
func testRemindersCatchUp(t *testing.T, e *env) {
	e.setTenant(t, withDPO(40, 7, 2))
	r := e.verified(t, "ann@example.org") // 40 days before due is before it was received
	answered := e.verified(t, "bob@example.org")
	if _, err := e.svc.Reject(ctx, e.tenant, answered.ID, dsr.Rejection{Reason: dsr.Excessive}, audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
	if done := e.mustSweep(t, start.Add(time.Minute)); done[dsr.DoneReminder] != 1 || len(e.dpoMail()) != 1 {
		t.Fatalf("right after verification: %v, want the 40-day reminder", done)
	}
	if done := e.mustSweep(t, r.DueAt.Add(-24*time.Hour)); done[dsr.DoneReminder] != 1 || len(e.dpoMail()) != 2 {
		t.Fatalf("a day before due: %v, %d emails; want one reminder (2 days), not two", done, len(e.dpoMail()))
	}
	got := e.get(t, r.ID)
	if len(got.DPONotices) != 2 || got.DPONotices[1].Days != 2 {
		t.Fatalf("notices %+v, want 40 and 2", got.DPONotices)
	}

	e.setTenant(t, func(tn *tenant.Tenant) { tn.DPOEmail = "" })
	if done := e.mustSweep(t, r.DueAt.Add(time.Hour)); done[dsr.DoneOverdue] != 1 || len(e.dpoMail()) != 2 || !e.get(t, r.ID).Overdue {
		t.Fatalf("overdue without a DPO: %v, %d emails", done, len(e.dpoMail()))
	}
}

// testRemindersExtended: an extension moves the due date, and the reminders start again for
// the new one.
func testRemindersExtended(t *testing.T, e *env) {
	e.setTenant(t, withDPO(7))
	r := e.verified(t, "ann@example.org")
	e.mustSweep(t, r.DueAt.Add(-24*time.Hour))
	e.clock.Set(r.DueAt.Add(-23 * time.Hour))
	x, err := e.svc.Extend(ctx, e.tenant, r.ID, "many systems to search", audit.ActorOperator)
	if err != nil {
		t.Fatal(err)
	}
	if done := e.mustSweep(t, r.DueAt.Add(time.Hour)); len(done) != 0 {
		t.Fatalf("past the first due date after an extension: %v", done)
	}
	if done := e.mustSweep(t, x.DueAt.Add(-6*24*time.Hour)); done[dsr.DoneReminder] != 1 || len(e.dpoMail()) != 2 {
		t.Fatalf("before the new due date: %v, %d emails", done, len(e.dpoMail()))
	}
}

// testReminderMailFails: a reminder whose email fails is sent by a later run, once its claim
// has lapsed, and only once.
func testReminderMailFails(t *testing.T, e *env) {
	e.setTenant(t, withDPO(7))
	r := e.verified(t, "ann@example.org")
	at := r.DueAt.Add(-5 * 24 * time.Hour)
	e.mail.fail = errors.New("mail: transport down")
	if _, err := e.sweep(at); err == nil {
		t.Fatal("a sweep whose email failed reported no error")
	}
	e.mail.fail = nil
	if done := e.mustSweep(t, at.Add(time.Minute)); len(done) != 0 || len(e.dpoMail()) != 0 {
		t.Fatalf("within the claim's lease: %v", done)
	}
	if done := e.mustSweep(t, at.Add(11*time.Minute)); done[dsr.DoneReminder] != 1 || len(e.dpoMail()) != 1 {
		t.Fatalf("after the lease: %v, %d emails", done, len(e.dpoMail()))
	}
	if done := e.mustSweep(t, at.Add(30*time.Minute)); len(done) != 0 || len(e.dpoMail()) != 1 {
		t.Fatalf("again: %v, %d emails", done, len(e.dpoMail()))
	}
}

// testRemindersOverlap: runs at the same time send each reminder once.
func testRemindersOverlap(t *testing.T, e *env) {
	e.setTenant(t, withDPO(7))
	for _, who := range []string{"a@example.org", "b@example.org", "c@example.org"} {
		e.verified(t, who)
	}
	at := start.AddDate(0, 0, 26)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			_, err := e.sweep(at)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.dpoMail()); n != 3 {
		t.Fatalf("%d DPO emails from overlapping runs, want 3", n)
	}
}
