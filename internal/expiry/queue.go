package expiry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/example/gdpr/internal/table"
)

// Queue is a work queue on the expiry index: its items are due at a time, and its owner reads
// them by time (Walk) to act on them, as the retention job reads expiring items. Its entries
// live in partitions of their own, so the retention sweep never meets them and a walk of the
// queue reads nothing else. The name is part of the keys: never rename a queue.
type Queue string

// At returns the index attributes of an item of tenant that is due at t. An item leaves the
// queue by being written without them.
func (q Queue) At(tenant string, key table.Key, t time.Time) Attrs {
	t = t.UTC()
	return Attrs{XPK: q.dayPK(tenant, t), XSK: fmt.Sprintf("%010d#%s#%s", t.Unix(), key.PK, key.SK)}
}

func (q Queue) dayPK(tenant string, t time.Time) string {
	return "T#" + tenant + "#XQ#" + string(q) + "#" + t.UTC().Format(time.DateOnly)
}

func (q Queue) checkpointKey(tenant string) table.Key {
	return table.Key{PK: "T#" + tenant + "#SWEEP", SK: "QUEUE#" + string(q)}
}

// Walk calls visit for every item of tenant's queue that is due at now, day by day from where
// the last walk stopped (from since's day on the first walk), and returns how many it
// visited. visit moves the item on (due later, or out of the queue); an item it leaves where
// it is comes again in the next walk. A failed visit, or ok false (out of time), stops the
// walk before its checkpoint moves, so the next walk reads those days again; visits are
// therefore idempotent, as every owner's writes are conditional on what it read.
func (q Queue) Walk(ctx context.Context, t table.Table, tenant string, since, now time.Time, visit func(ctx context.Context, key table.Key) (ok bool, err error)) (int, error) {
	ck := q.checkpointKey(tenant)
	var cp checkpoint
	stored, err := t.Get(ctx, ck)
	switch {
	case err == nil:
		if err := stored.Decode(&cp); err != nil {
			return 0, err
		}
	case !errors.Is(err, table.ErrNotFound):
		return 0, err
	}
	day := since.UTC().Truncate(24 * time.Hour)
	if cp.Day != "" {
		if day, err = time.Parse(time.DateOnly, cp.Day); err != nil {
			return 0, fmt.Errorf("expiry: checkpoint of queue %s of %s: %w", q, tenant, err)
		}
	}
	today := now.UTC().Truncate(24 * time.Hour)
	n := 0
	for d := day; !d.After(today); d = d.AddDate(0, 0, 1) {
		query := table.Query{Index: IndexName, PK: q.dayPK(tenant, d), To: Until(now), Limit: sweepPage}
		for {
			page, err := t.Query(ctx, query)
			if err != nil {
				return n, fmt.Errorf("expiry: queue %s of %s: %w", q, tenant, err)
			}
			for _, x := range page.Items {
				ok, err := visit(ctx, x.Key)
				if err != nil || !ok {
					return n, err
				}
				n++
			}
			if page.Next == "" {
				break
			}
			query.Cursor = page.Next
		}
	}
	if !today.After(day) {
		return n, nil
	}
	next, err := table.NewItem(ck, stored.Version, checkpoint{Day: today.Format(time.DateOnly)})
	if err != nil {
		return n, err
	}
	if err := t.Put(ctx, next, table.VersionIs(stored.Version)); err != nil && !errors.Is(err, table.ErrConflict) {
		return n, err
	}
	// A conflict is an overlapping walk that moved the checkpoint first: to the same day.
	return n, nil
}
