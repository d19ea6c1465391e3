package dsr

import (
	"context"
	"time"

	"github.com/example/gdpr/internal/audit"
)

// Wait parks a processing request whose work waits for something outside it (the marketplace
// sites' confirmations): it stays processing with Waiting = what, and the claim that found it
// waiting is given back, so that a wait never counts as a failed attempt. Whatever it waits
// for wakes it with Resume. Errors: request_not_found; invalid_transition (not processing).
func (s *Service) Wait(ctx context.Context, tenantID, id, what string) (Request, error) {
	return s.update(ctx, tenantID, id, s.now, func(r *Request, now time.Time) ([]audit.Event, error) {
		if r.Status != Processing {
			return nil, invalidTransition(r.Status, Processing)
		}
		if r.Attempts > 0 {
			r.Attempts--
		}
		r.Waiting = what
		r.event(now, "waiting", audit.ActorSystem, what)
		return nil, nil
	})
}

// Resume wakes a request parked by Wait: Waiting is cleared, and that change (waiting set in
// the old image, absent in the new, status processing) is what the fulfilment's stream
// trigger takes up again. woken is false when the request does not wait: it is not
// processing (nothing to do), or its work is still running (the caller asks again later).
// Errors: request_not_found.
func (s *Service) Resume(ctx context.Context, tenantID, id, why string) (r Request, woken bool, err error) {
	r, err = s.update(ctx, tenantID, id, s.now, func(r *Request, now time.Time) ([]audit.Event, error) {
		if r.Status != Processing || r.Waiting == "" {
			return nil, errUnchanged
		}
		r.Waiting = ""
		r.event(now, "woken", audit.ActorSystem, why)
		return nil, nil
	})
	if err == errUnchanged {
		r, err = s.Get(ctx, tenantID, id)
		return r, false, err
	}
	return r, err == nil, err
}
