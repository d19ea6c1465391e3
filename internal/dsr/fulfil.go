package dsr

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/example/gdpr/internal/audit"
)

// MaxAttempts is how often fulfilment takes a request up (Claim) before a failure ends it as
// failed. The stream triggers in template.yaml retry more often than this, so it is this count
// that ends a request, visibly, and their failure queue only catches what never got that far.
const MaxAttempts = 3

// Claim takes a request up for fulfilment. A verified request becomes processing; one already
// processing (a crash or timeout resumed) is taken up again where its steps stopped. Each claim
// counts an attempt. ok is false when there is nothing to do: the request is not verified or
// processing, e.g. a record delivered again after the request completed.
// Errors: request_not_found.
func (s *Service) Claim(ctx context.Context, tenantID, id string) (r Request, ok bool, err error) {
	r, err = s.update(ctx, tenantID, id, s.now, func(r *Request, now time.Time) ([]audit.Event, error) {
		ok = r.Status == Verified || r.Status == Processing
		if !ok {
			return nil, errUnchanged
		}
		r.Attempts++
		if r.Status == Processing {
			r.event(now, "resumed", audit.ActorSystem, "attempt "+strconv.Itoa(r.Attempts))
			return nil, nil
		}
		ev, err := s.transition(r, Processing, now, audit.ActorSystem, "")
		return []audit.Event{ev}, err
	})
	if err == errUnchanged {
		return r, false, nil
	}
	return r, ok, err
}

// errUnchanged tells update's caller that change wanted nothing saved.
var errUnchanged = &unchanged{}

type unchanged struct{}

func (*unchanged) Error() string { return "dsr: unchanged" }

// Done tells whether the fulfilment step named has been recorded.
func (r Request) Done(step string) bool { return slices.Contains(r.Steps, step) }

// StepDone records that a fulfilment step of a processing request is done, with a timeline
// line; detail names no person. Recording a step twice records it once.
// Errors: request_not_found; invalid_transition (the request is not processing).
func (s *Service) StepDone(ctx context.Context, tenantID, id, step, detail string) (Request, error) {
	r, err := s.update(ctx, tenantID, id, s.now, func(r *Request, now time.Time) ([]audit.Event, error) {
		if r.Status != Processing {
			return nil, invalidTransition(r.Status, Processing)
		}
		if r.Done(step) {
			return nil, errUnchanged
		}
		r.Steps = append(r.Steps, step)
		r.event(now, step, audit.ActorSystem, detail)
		return []audit.Event{s.change(*r, "request.step", audit.ActorSystem, map[string]string{"step": step})}, nil
	})
	if err == errUnchanged {
		return s.Get(ctx, tenantID, id)
	}
	return r, err
}

// Complete closes a processing request as completed. It sends nothing: the answer the
// subject gets is a step of the fulfilment, sent before (see Tell).
// Errors: request_not_found; invalid_transition.
func (s *Service) Complete(ctx context.Context, tenantID, id, detail string) (Request, error) {
	return s.update(ctx, tenantID, id, s.now, func(r *Request, now time.Time) ([]audit.Event, error) {
		ev, err := s.transition(r, Completed, now, audit.ActorSystem, detail)
		return []audit.Event{ev}, err
	})
}

// Fail closes a processing request as failed: reason (which names no person) is shown to
// operators and audited, and the subject is told that a person will handle the request. Its
// due date runs on. Errors: request_not_found; invalid_transition.
func (s *Service) Fail(ctx context.Context, tenantID, id, reason string) (Request, error) {
	r, err := s.update(ctx, tenantID, id, s.now, func(r *Request, now time.Time) ([]audit.Event, error) {
		ev, err := s.transition(r, Failed, now, audit.ActorSystem, reason)
		if err != nil {
			return nil, err
		}
		r.Failure = reason
		ev.Detail["reason"] = reason
		return []audit.Event{ev}, nil
	})
	if err != nil {
		return Request{}, err
	}
	return r, s.Tell(ctx, r, "failed", Notice{})
}

// Retry takes a failed request back to processing for another round of attempts, keeping the
// steps already done. Errors: request_not_found; invalid_transition (not failed).
func (s *Service) Retry(ctx context.Context, tenantID, id, actor string) (Request, error) {
	return s.update(ctx, tenantID, id, s.now, func(r *Request, now time.Time) ([]audit.Event, error) {
		if r.Status != Failed {
			return nil, invalidTransition(r.Status, Processing)
		}
		ev, err := s.transition(r, Processing, now, actor, "retry")
		if err != nil {
			return nil, err
		}
		r.Attempts, r.Failure = 0, ""
		ev.Action = "request.retried"
		return []audit.Event{ev}, nil
	})
}

// Tell sends the subject one of the fulfilment emails (message: no_data, export_ready,
// erasure_receipt, rectification_done, restriction_done, restriction_lifting,
// objection_done, failed) at the request's contact address.
func (s *Service) Tell(ctx context.Context, r Request, message string, n Notice) error {
	_, err := s.notify(ctx, r, message, mailData{Notice: n})
	return err
}

// ParseKey reads a request's tenant and id from its table key, as a stream record names it.
// ok is false for any other item.
func ParseKey(pk, sk string) (tenantID, id string, ok bool) {
	rest, found := strings.CutPrefix(pk, "T#")
	if !found || sk != skRequest {
		return "", "", false
	}
	tenantID, id, found = strings.Cut(rest, "#R#")
	if !found || tenantID == "" || ValidateID(id) != nil {
		return "", "", false
	}
	return tenantID, id, true
}
