package dsr

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/table"
)

// ExpireRequest is the owner of the "requests" deadline on the expiry index (an
// expiry.DeadlineFunc): a request still unverified UnverifiedTTL after it was received
// becomes expired. It tells whether it expired the request.
func (s *Service) ExpireRequest(ctx context.Context, tenantID string, k table.Key, now time.Time) (bool, error) {
	id, ok := isRequestKey(tenantID, k)
	if !ok {
		return false, fmt.Errorf("dsr: %s is not a request of its tenant", k)
	}
	return s.expire(ctx, tenantID, id, now.UTC().Truncate(time.Second))
}

func (s *Service) expire(ctx context.Context, tenantID, id string, now time.Time) (bool, error) {
	expired := false
	err := s.commit(ctx, func() error {
		r, version, err := s.load(ctx, tenantID, id)
		if errors.Is(err, ErrNotFound) {
			return nil // erased since the index was read
		}
		if err != nil {
			return err
		}
		if r.Status != PendingVerification || now.Before(r.ReceivedAt.Add(UnverifiedTTL)) {
			return nil
		}
		if err := r.move(Expired, now, audit.ActorSystem, "not verified within 7 days"); err != nil {
			return err
		}
		expired = true
		return s.save(ctx, &r, version, now, nil, s.transition(r, PendingVerification, audit.ActorSystem))
	})
	return expired, err
}
