package dsr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/table"
)

// ExpireUnverified marks expired every request of the tenant left unverified for
// UnverifiedTTL at now, and returns how many. It reads the expiry index day by day from where
// its last run finished, so its cost grows with what expires, not with the table.
func (s *Service) ExpireUnverified(ctx context.Context, tenantID string, now time.Time) (int, error) {
	n := 0
	err := s.sweep(ctx, tenantID, "requests", now, func(k table.Key) error {
		id, ok := isRequestKey(tenantID, k)
		if !ok {
			return nil
		}
		expired, err := s.expire(ctx, tenantID, id, now.UTC().Truncate(time.Second))
		if expired {
			n++
		}
		return err
	})
	return n, err
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

// Deleted counts the records one DeleteExpired run removed, by kind.
type Deleted struct {
	IdempotencyRecords int `json:"idempotency_records"`
	RateLimitCounters  int `json:"rate_limit_counters"`
}

// idempotencyPrefix and idempotencySK are the key shape of the HTTP layer's idempotency
// records (internal/httpapi): "T#{tenant}#IDEM#{hash}" / "IDEM".
const (
	idempotencyPrefix = "#IDEM#"
	idempotencySK     = "IDEM"
)

// DeleteExpired deletes the tenant's idempotency records and rate-limit counters whose time
// has passed at now. DynamoDB's TTL deletes them too, but days late and never on SQLite; each
// is read and deleted only if it is still expired at its version, so a record written again
// since the index was read stays.
func (s *Service) DeleteExpired(ctx context.Context, tenantID string, now time.Time) (Deleted, error) {
	var d Deleted
	prefix := "T#" + tenantID
	err := s.sweep(ctx, tenantID, "records", now, func(k table.Key) error {
		var n *int
		switch rest := strings.TrimPrefix(k.PK, prefix); {
		case !strings.HasPrefix(k.PK, prefix):
			return nil
		case strings.HasPrefix(rest, counterPrefix):
			n = &d.RateLimitCounters
		case strings.HasPrefix(rest, idempotencyPrefix) && k.SK == idempotencySK:
			n = &d.IdempotencyRecords
		default:
			return nil
		}
		it, err := s.Table.Get(ctx, k)
		if errors.Is(err, table.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var x expiry.Attrs
		if err := it.Decode(&x); err != nil {
			return err
		}
		if !x.Expired(now) {
			return nil
		}
		err = s.Table.Delete(ctx, k, table.VersionIs(it.Version))
		if errors.Is(err, table.ErrConflict) {
			return nil
		}
		if err == nil {
			*n++
		}
		return err
	})
	return d, err
}

// checkpoint is where a sweep goes on from: the first expiry day it has not finished.
type checkpoint struct {
	Day string `json:"day"`
}

func checkpointKey(tenantID, job string) table.Key {
	return table.Key{PK: "T#" + tenantID + "#SWEEP", SK: job}
}

// sweepPage is how many index entries one query of a sweep reads.
const sweepPage = 1000

// sweep visits every key on the tenant's expiry index that has expired at now, day by day from
// the job's checkpoint (the tenant's first day when it has none), and then moves the
// checkpoint to today: every earlier day has been read to its end. A failed visit stops the
// sweep and leaves the checkpoint, so the next run visits those days again.
func (s *Service) sweep(ctx context.Context, tenantID, job string, now time.Time, visit func(table.Key) error) error {
	t, err := s.Tenants.Get(ctx, tenantID)
	if err != nil {
		return err
	}
	ck := checkpointKey(tenantID, job)
	var cp checkpoint
	it, err := s.Table.Get(ctx, ck)
	switch {
	case err == nil:
		if err := it.Decode(&cp); err != nil {
			return err
		}
	case !errors.Is(err, table.ErrNotFound):
		return err
	}
	if t.CreatedAt.IsZero() {
		return fmt.Errorf("dsr: sweep %s: tenant %s has no creation time to start from", job, tenantID)
	}
	day := t.CreatedAt.UTC().Truncate(24 * time.Hour)
	if cp.Day != "" {
		if day, err = time.Parse(time.DateOnly, cp.Day); err != nil {
			return fmt.Errorf("dsr: sweep %s checkpoint: %w", job, err)
		}
	}
	today := now.UTC().Truncate(24 * time.Hour)
	for d := day; !d.After(today); d = d.AddDate(0, 0, 1) {
		q := table.Query{Index: expiry.IndexName, PK: expiry.DayPK(tenantID, d), To: expiry.Until(now), Limit: sweepPage}
		for {
			page, err := s.Table.Query(ctx, q)
			if err != nil {
				return fmt.Errorf("dsr: sweep %s: %w", job, err)
			}
			for _, x := range page.Items {
				if err := visit(x.Key); err != nil {
					return err
				}
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	if !today.After(day) {
		return nil
	}
	next, err := table.NewItem(ck, it.Version, checkpoint{Day: today.Format(time.DateOnly)})
	if err != nil {
		return err
	}
	return s.Table.Put(ctx, next, table.VersionIs(it.Version))
}
