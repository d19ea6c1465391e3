package dsr

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/table"
)

// errNotDue ends an expiry that finds the request verified, closed or not yet due.
var errNotDue = errors.New("dsr: request not due to expire")

// ExpireRequest is the owner of the "requests" deadline on the expiry index (an
// expiry.DeadlineFunc): a request still unverified UnverifiedTTL after it was received
// becomes expired. It tells whether it expired the request.
func (s *Service) ExpireRequest(ctx context.Context, tenantID string, k table.Key, now time.Time) (bool, error) {
	id, ok := isRequestKey(tenantID, k)
	if !ok {
		return false, fmt.Errorf("dsr: %s is not a request of its tenant", k)
	}
	now = now.UTC().Truncate(time.Second)
	_, err := s.update(ctx, tenantID, id, func() time.Time { return now }, func(r *Request, now time.Time) ([]audit.Event, error) {
		if r.Status != PendingVerification || now.Before(r.ReceivedAt.Add(UnverifiedTTL)) {
			return nil, errNotDue
		}
		ev, err := s.transition(r, Expired, now, audit.ActorSystem, "not verified within 7 days")
		return []audit.Event{ev}, err
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, errNotDue) {
		return false, nil // erased or moved on since the index was read
	}
	return err == nil, err
}
