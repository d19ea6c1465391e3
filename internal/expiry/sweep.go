package expiry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/example/gdpr/internal/table"
)

// DeadlineFunc acts on one item whose deadline has come, and tells whether it changed
// anything. It reads the item itself: the index holds keys only, and the item may have moved
// on since (a request verified before its deadline is left alone).
type DeadlineFunc func(ctx context.Context, tenant string, key table.Key, now time.Time) (bool, error)

// Report says what one sweep of a tenant did, by kind.
type Report struct {
	Deleted map[string]int `json:"deleted"`
	Expired map[string]int `json:"expired"`
}

// Sweeper is the storage-limitation walk of the retention job.
type Sweeper struct {
	Table table.Table
	// Deadlines are the owners of the kinds that have deadlines instead of a TTL.
	Deadlines map[string]DeadlineFunc
}

// sweepPage is how many index entries one query of a sweep reads.
const sweepPage = 1000

type checkpoint struct {
	// Day is the first expiry day the sweep has not read to its end.
	Day string `json:"day"`
}

func checkpointKey(tenant string) table.Key {
	return table.Key{PK: "T#" + tenant + "#SWEEP", SK: "EXPIRY"}
}

// Sweep visits every entry of the tenant's expiry index that is due at now, day by day from
// where the last sweep stopped (from the day of since on the first), deletes the items whose
// TTL has passed — DynamoDB's TTL deletes them too, but days late, and SQLite never — and hands
// deadlines to their owners. Every step is conditional on what was read, so sweeps may
// overlap and be retried. A failure stops the sweep before the checkpoint moves, so the next
// run reads those days again.
func (s Sweeper) Sweep(ctx context.Context, tenant string, since, now time.Time) (Report, error) {
	rep := Report{Deleted: map[string]int{}, Expired: map[string]int{}}
	ck := checkpointKey(tenant)
	var cp checkpoint
	stored, err := s.Table.Get(ctx, ck)
	switch {
	case err == nil:
		if err := stored.Decode(&cp); err != nil {
			return rep, err
		}
	case !errors.Is(err, table.ErrNotFound):
		return rep, err
	}
	day := since.UTC().Truncate(24 * time.Hour)
	if cp.Day != "" {
		if day, err = time.Parse(time.DateOnly, cp.Day); err != nil {
			return rep, fmt.Errorf("expiry: checkpoint of %s: %w", tenant, err)
		}
	}
	today := now.UTC().Truncate(24 * time.Hour)
	for d := day; !d.After(today); d = d.AddDate(0, 0, 1) {
		q := table.Query{Index: IndexName, PK: DayPK(tenant, d), To: Until(now), Limit: sweepPage}
		for {
			page, err := s.Table.Query(ctx, q)
			if err != nil {
				return rep, fmt.Errorf("expiry: sweep %s: %w", tenant, err)
			}
			for _, x := range page.Items {
				if err := s.visit(ctx, tenant, x.Key, now, rep); err != nil {
					return rep, err
				}
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	if !today.After(day) {
		return rep, nil
	}
	next, err := table.NewItem(ck, stored.Version, checkpoint{Day: today.Format(time.DateOnly)})
	if err != nil {
		return rep, err
	}
	return rep, s.Table.Put(ctx, next, table.VersionIs(stored.Version))
}

func (s Sweeper) visit(ctx context.Context, tenant string, k table.Key, now time.Time, rep Report) error {
	it, err := s.Table.Get(ctx, k)
	if errors.Is(err, table.ErrNotFound) {
		return nil // deleted since the index was read
	}
	if err != nil {
		return err
	}
	var a Attrs
	if err := it.Decode(&a); err != nil {
		return err
	}
	if a.TTL == 0 {
		owner, ok := s.Deadlines[a.Kind]
		if !ok {
			return fmt.Errorf("expiry: no owner for deadlines of kind %q (%s)", a.Kind, k)
		}
		changed, err := owner(ctx, tenant, k, now)
		if changed {
			rep.Expired[a.Kind]++
		}
		return err
	}
	if !a.Expired(now) {
		return nil
	}
	err = s.Table.Delete(ctx, k, table.VersionIs(it.Version))
	switch {
	case errors.Is(err, table.ErrConflict):
		return nil // written again since it was read: its new expiry decides
	case err != nil:
		return err
	}
	rep.Deleted[a.Kind]++
	return nil
}
