package fulfilment_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/fulfilment"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/tenant"
)

var ctx = context.Background()

type outbox struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (o *outbox) Send(_ context.Context, m mail.Message) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, m)
	return "m", nil
}

func (o *outbox) subjects() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var s []string
	for _, m := range o.sent {
		s = append(s, m.Subject)
	}
	return s
}

// env is a tenant on SQLite with one verified request.
type env struct {
	svc  *dsr.Service
	mail *outbox
	id   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := sqlitetest.MustOpen(t)
	clk := &clock.Settable{}
	clk.Set(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	master, err := secrets.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	tenants := tenant.Store{Table: db, Clock: clk}
	if _, _, err := tenants.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	e := &env{mail: &outbox{}}
	e.svc = &dsr.Service{Table: db, Tenants: tenants, Mail: e.mail, Clock: clk, Secrets: master}
	r, err := e.svc.Submit(ctx, "acme", dsr.Input{Type: dsr.Access, Email: "ann@example.org"}, dsr.Caller{Actor: audit.ActorSite})
	if err != nil {
		t.Fatal(err)
	}
	code := strings.TrimSpace(strings.SplitN(strings.SplitN(e.mail.sent[0].Text, "Verification code: ", 2)[1], "\n", 2)[0])
	if _, _, err := e.svc.Verify(ctx, "acme", r.ID, code); err != nil {
		t.Fatal(err)
	}
	e.id = r.ID
	return e
}

func (e *env) get(t *testing.T) dsr.Request {
	t.Helper()
	r, err := e.svc.Get(ctx, "acme", e.id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var quiet = slog.New(slog.DiscardHandler)

// work is two steps that count how often each ran; fail decides whether a step fails.
type work struct {
	runs map[string]int
	fail func(step string, run int) error
}

func (w *work) Work(ctx context.Context, j *fulfilment.Job) error {
	for _, step := range []string{"gathered", "answered"} {
		err := j.Step(ctx, step, func(context.Context) (string, error) {
			w.runs[step]++
			if w.fail != nil {
				if err := w.fail(step, w.runs[step]); err != nil {
					return "", err
				}
			}
			return "ok", nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func TestResumesAfterAFailedStep(t *testing.T) {
	e := newEnv(t)
	w := &work{runs: map[string]int{}, fail: func(step string, run int) error {
		if step == "answered" && run == 1 {
			return errors.New("mail down")
		}
		return nil
	}}
	run := fulfilment.Runner{Requests: e.svc, Work: w.Work, Log: quiet}
	if err := run.Run(ctx, "acme", e.id); err == nil {
		t.Fatal("a failed attempt reported success: its record would not be retried")
	}
	if got := e.get(t); got.Status != dsr.Processing || !got.Done("gathered") || got.Done("answered") {
		t.Fatalf("after a failed attempt: %s, steps %v", got.Status, got.Steps)
	}
	if err := run.Run(ctx, "acme", e.id); err != nil {
		t.Fatal(err)
	}
	// The record delivered once more after completion: nothing runs.
	if err := run.Run(ctx, "acme", e.id); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t); got.Status != dsr.Completed || got.Attempts != 2 {
		t.Fatalf("status %s after %d attempts", got.Status, got.Attempts)
	}
	if w.runs["gathered"] != 1 || w.runs["answered"] != 2 {
		t.Fatalf("steps ran %v: a done step ran again, or a failed one did not", w.runs)
	}
}

func TestFailsAfterMaxAttempts(t *testing.T) {
	e := newEnv(t)
	w := &work{runs: map[string]int{}, fail: func(step string, _ int) error {
		if step == "answered" {
			return errors.New("smtp: 550 ann@example.org refused")
		}
		return nil
	}}
	run := fulfilment.Runner{Requests: e.svc, Work: w.Work, Log: quiet}
	for i := 1; i < dsr.MaxAttempts; i++ {
		if err := run.Run(ctx, "acme", e.id); err == nil {
			t.Fatalf("attempt %d reported success", i)
		}
	}
	if err := run.Run(ctx, "acme", e.id); err != nil {
		t.Fatalf("the last attempt should fail the request and report the record done: %v", err)
	}
	got := e.get(t)
	if got.Status != dsr.Failed || got.Failure != "step answered failed 3 times" {
		t.Fatalf("status %s, failure %q", got.Status, got.Failure)
	}
	if strings.Contains(got.Failure, "ann@") {
		t.Fatal("the reason quotes the error")
	}
	subjects := e.mail.subjects()
	if last := subjects[len(subjects)-1]; !strings.Contains(last, "needs a person") {
		t.Fatalf("subject not told: %v", subjects)
	}
	if err := run.Run(ctx, "acme", e.id); err != nil || w.runs["answered"] != dsr.MaxAttempts {
		t.Fatalf("a failed request ran again: %v, %v", err, w.runs)
	}
}

func TestPermanentFailsAtOnce(t *testing.T) {
	e := newEnv(t)
	w := &work{runs: map[string]int{}, fail: func(step string, _ int) error {
		return fulfilment.Permanent("profile unreadable", errors.New("decode"))
	}}
	run := fulfilment.Runner{Requests: e.svc, Work: w.Work, Log: quiet}
	if err := run.Run(ctx, "acme", e.id); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t); got.Status != dsr.Failed || got.Failure != "profile unreadable (step gathered)" || got.Attempts != 1 {
		t.Fatalf("status %s, failure %q, attempts %d", got.Status, got.Failure, got.Attempts)
	}
}

// A run that never finishes (out of time each attempt) leaves no record of its failure; the
// claim after the last attempt fails the request without running the work again.
func TestAttemptsThatNeverFinish(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < dsr.MaxAttempts; i++ {
		if _, _, err := e.svc.Claim(ctx, "acme", e.id); err != nil {
			t.Fatal(err)
		}
	}
	w := &work{runs: map[string]int{}}
	if err := (fulfilment.Runner{Requests: e.svc, Work: w.Work, Log: quiet}).Run(ctx, "acme", e.id); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t); got.Status != dsr.Failed || !strings.Contains(got.Failure, "did not finish") || len(w.runs) != 0 {
		t.Fatalf("status %s, failure %q, runs %v", got.Status, got.Failure, w.runs)
	}
}

type awaiting struct{}

func (awaiting) Error() string      { return "not yet" }
func (awaiting) WaitingFor() string { return "1 of 1 site deliveries to be confirmed" }

// A work that waits parks the request without spending an attempt; once woken it completes.
func TestWaitingParks(t *testing.T) {
	e := newEnv(t)
	confirmed := false
	work := func(ctx context.Context, j *fulfilment.Job) error {
		return j.Step(ctx, "sites", func(context.Context) (string, error) {
			if !confirmed {
				return "", fmt.Errorf("deliver: %w", awaiting{})
			}
			return "1 site confirmed", nil
		})
	}
	run := fulfilment.Runner{Requests: e.svc, Work: work, Log: quiet}
	for range dsr.MaxAttempts + 1 {
		if err := run.Run(ctx, "acme", e.id); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.get(t); got.Status != dsr.Processing || got.Waiting == "" || got.Attempts != 0 {
		t.Fatalf("waiting request: %s, waiting %q, attempts %d", got.Status, got.Waiting, got.Attempts)
	}
	confirmed = true
	if _, woken, err := e.svc.Resume(ctx, "acme", e.id, "deliveries settled"); err != nil || !woken {
		t.Fatalf("Resume = %v, %v", woken, err)
	}
	if err := run.Run(ctx, "acme", e.id); err != nil {
		t.Fatal(err)
	}
	if got := e.get(t); got.Status != dsr.Completed || !got.Done("sites") {
		t.Fatalf("after waking: %s, steps %v", got.Status, got.Steps)
	}
}

func TestRequestNotStored(t *testing.T) {
	e := newEnv(t)
	w := &work{runs: map[string]int{}}
	if err := (fulfilment.Runner{Requests: e.svc, Work: w.Work, Log: quiet}).Run(ctx, "acme", "req_gone"); err != nil {
		t.Fatalf("a record of a request not stored is retried: %v", err)
	}
	if len(w.runs) != 0 {
		t.Fatalf("work ran: %v", w.runs)
	}
}
