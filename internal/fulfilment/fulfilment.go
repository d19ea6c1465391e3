// Package fulfilment runs the work that answers a verified request (an export, an erasure,
// ...) as a resumable sequence of steps, on dsr's life cycle: claim, steps, then completed,
// or failed with a reason once the attempts are spent. Functions triggered by the table's
// stream run it for each request record they receive.
package fulfilment

import (
	"context"
	"errors"
	"log/slog"
	"strconv"

	"github.com/example/gdpr/internal/dsr"
)

// Work answers one claimed request. It is run again from the start after a crash or a failed
// attempt, so it does its work in steps (Job.Step), and each step is idempotent itself.
type Work func(ctx context.Context, j *Job) error

// Job is a claimed request, with the steps already done.
type Job struct {
	Request  dsr.Request
	requests *dsr.Service
	// running is the step under way, named in the reason of a failure.
	running string
}

// Step runs do unless the step named is already recorded on the request, then records it
// with the detail do returns (ids and counts, never personal data). A crash between do and
// the record replays do, which must therefore be idempotent.
func (j *Job) Step(ctx context.Context, name string, do func(ctx context.Context) (detail string, err error)) error {
	if j.Request.Done(name) {
		return nil
	}
	j.running = name
	detail, err := do(ctx)
	if err != nil {
		return err
	}
	r, err := j.requests.StepDone(ctx, j.Request.Tenant, j.Request.ID, name, detail)
	if err != nil {
		return err
	}
	j.Request, j.running = r, ""
	return nil
}

// permanent is a failure no retry can mend.
type permanent struct {
	reason string
	err    error
}

func (p *permanent) Error() string { return p.reason + ": " + p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Permanent marks err as one that retrying cannot mend: the request fails at once, with
// reason (which names no person) shown to operators.
func Permanent(reason string, err error) error { return &permanent{reason: reason, err: err} }

// Waiting is a Work error that parks the request instead of failing the attempt: the work
// waits for something outside it (the marketplace sites' confirmations), which wakes the
// request with dsr's Resume when it is there.
type Waiting interface {
	error
	// WaitingFor says what is awaited, for the timeline: counts, never names.
	WaitingFor() string
}

// Runner runs Work on the requests it is given.
type Runner struct {
	Requests *dsr.Service
	Work     Work
	Log      *slog.Logger
}

// Run claims the request and runs the work, then completes it. A request with nothing to do
// (already completed, say: a record delivered twice) is left alone. When the work fails, Run
// returns the error so that the record is delivered again, unless the attempts are spent or
// the failure is permanent: then the request is failed, the subject told, and Run returns nil.
// A claim past the last attempt (the one before ran out of time) fails the request at once; a
// request that is not stored (a record naming a request since deleted) is skipped.
func (r Runner) Run(ctx context.Context, tenantID, id string) error {
	req, ok, err := r.Requests.Claim(ctx, tenantID, id)
	if errors.Is(err, dsr.ErrNotFound) {
		// A record of a request no longer stored: nothing to fulfil, and retrying cannot help.
		r.Log.Warn("fulfilment of a request not stored; skipped", "tenant", tenantID, "request_id", id)
		return nil
	}
	if err != nil || !ok {
		return err
	}
	if req.Attempts > dsr.MaxAttempts {
		_, err := r.Requests.Fail(ctx, tenantID, id, "gave up: "+strconv.Itoa(req.Attempts-1)+" attempts did not finish")
		return err
	}
	j := &Job{Request: req, requests: r.Requests}
	werr := r.Work(ctx, j)
	if werr == nil {
		_, err := r.Requests.Complete(ctx, tenantID, id, "")
		return err
	}
	var w Waiting
	if errors.As(werr, &w) {
		_, err := r.Requests.Wait(ctx, tenantID, id, w.WaitingFor())
		return err
	}
	// The reason is for operators: which step failed, never the error's text, which may
	// quote what an adapter was given (an address SES refused, say).
	where := "the work"
	if j.running != "" {
		where = "step " + j.running
	}
	var p *permanent
	final, reason := errors.As(werr, &p), ""
	switch {
	case final:
		reason = p.reason + " (" + where + ")"
	case req.Attempts >= dsr.MaxAttempts:
		final, reason = true, where+" failed "+strconv.Itoa(req.Attempts)+" times"
	}
	r.Log.Warn("fulfilment attempt failed", "tenant", tenantID, "request_id", id, "type", string(req.Type),
		"attempt", req.Attempts, "final", final, "at", where, "error", werr.Error())
	if !final || ctx.Err() != nil {
		// Out of time, the failure is recorded by the next delivery, which finds the attempts spent.
		return werr
	}
	_, err = r.Requests.Fail(ctx, tenantID, id, reason)
	return err
}
