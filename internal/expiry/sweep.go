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

// Handoff is an owner's part of the sweep for items of its kind: a deadline that has come,
// or an expired item whose deletion is more than its row's (an export's object goes first).
// It reads the item itself, as a DeadlineFunc does, and names what it did for the report:
// "" for nothing, Deleted when it deleted the item, or a name of its own ("reminders_sent").
// It is called again for an item it has already acted on (a sweep re-reads the day it
// stopped in, and overlapping sweeps read the same days), so it must act once: conditional
// on what it read, and leaving nothing due on the days it has been handed.
type Handoff func(ctx context.Context, tenant string, key table.Key, now time.Time) (done string, err error)

// Deleted is the Handoff result of an owner that deleted the item: the report counts it by
// kind with the TTL deletions.
const Deleted = "deleted"

// Report says what one sweep of a tenant did.
type Report struct {
	// Deleted counts the items deleted, by kind.
	Deleted map[string]int `json:"deleted"`
	// Expired counts the deadlines a DeadlineFunc acted on, by kind.
	Expired map[string]int `json:"expired"`
	// Done counts what the Handoffs named.
	Done map[string]int `json:"done"`
	// Finished is false when the sweep stopped early, before its context's deadline: the
	// next one goes on from where it stopped.
	Finished bool `json:"finished"`
	// Reads counts the table reads of the sweep itself (index queries and item reads), not
	// those of the owners: what the benchmark holds flat.
	Reads int `json:"-"`
}

// Sweeper is the storage-limitation walk of the retention job.
type Sweeper struct {
	Table table.Table
	// Deadlines are the owners of the kinds that have deadlines instead of a TTL.
	Deadlines map[string]DeadlineFunc
	// Owners take over the items of their kind, deadlines and expired items alike.
	Owners map[string]Handoff
	// Margin is how long before its context's deadline a sweep stops, so that it can save
	// its checkpoint and answer; DefaultMargin when zero.
	Margin time.Duration
}

// DefaultMargin leaves a run time to record where it stopped and to report.
const DefaultMargin = 15 * time.Second

// sweepPage is how many index entries one query of a sweep reads.
const sweepPage = 1000

// clockSkew is how long after midnight a sweep still reads the day before again next time:
// a writer whose clock is behind the job's, or whose write lands late, may put an item on
// the day that the job has just finished reading.
const clockSkew = time.Hour

type checkpoint struct {
	// Day is the first expiry day the sweep has not read to its end.
	Day string `json:"day"`
}

func checkpointKey(tenant string) table.Key {
	return table.Key{PK: "T#" + tenant + "#SWEEP", SK: "EXPIRY"}
}

// errStopped ends a sweep that ran out of time; it is no failure.
var errStopped = errors.New("expiry: out of time")

// Sweep visits every entry of the tenant's expiry index that is due at now, day by day from
// where the last sweep stopped (from the day of since on the first), deletes the items whose
// TTL has passed — DynamoDB's TTL deletes them too, but days late, and SQLite never — and hands
// deadlines, and the kinds that have an owner, to their owners. Every step is conditional on
// what was read, so sweeps may overlap and be retried. A failure stops the sweep before the
// checkpoint moves, so the next run reads those days again; so does running out of time
// (Margin before ctx's deadline), except that the days finished are not read again.
func (s Sweeper) Sweep(ctx context.Context, tenant string, since, now time.Time) (Report, error) {
	rep := Report{Deleted: map[string]int{}, Expired: map[string]int{}, Done: map[string]int{}}
	ck := checkpointKey(tenant)
	var cp checkpoint
	stored, err := s.Table.Get(ctx, ck)
	rep.Reads++
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
	// The checkpoint moves to the day of now less the skew: within the skew after midnight
	// the day before is read once more.
	last := now.UTC().Truncate(24 * time.Hour)
	reached := now.Add(-clockSkew).UTC().Truncate(24 * time.Hour)
	d := day
	for ; !d.After(last); d = d.AddDate(0, 0, 1) {
		if err := s.sweepDay(ctx, tenant, d, now, &rep); errors.Is(err, errStopped) {
			reached = d
			break
		} else if err != nil {
			return rep, err
		}
	}
	rep.Finished = d.After(last)
	if !reached.After(day) {
		return rep, nil
	}
	next, err := table.NewItem(ck, stored.Version, checkpoint{Day: reached.Format(time.DateOnly)})
	if err != nil {
		return rep, err
	}
	err = s.Table.Put(ctx, next, table.VersionIs(stored.Version))
	if errors.Is(err, table.ErrConflict) {
		// An overlapping sweep moved it: it read the same days, or more.
		return rep, nil
	}
	return rep, err
}

// sweepDay visits the entries of one day due at now; errStopped when time ran out.
func (s Sweeper) sweepDay(ctx context.Context, tenant string, d, now time.Time, rep *Report) error {
	margin := s.Margin
	if margin == 0 {
		margin = DefaultMargin
	}
	q := table.Query{Index: IndexName, PK: DayPK(tenant, d), To: Until(now), Limit: sweepPage}
	for {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < margin {
			return errStopped
		}
		page, err := s.Table.Query(ctx, q)
		rep.Reads++
		if err != nil {
			return fmt.Errorf("expiry: sweep %s: %w", tenant, err)
		}
		for _, x := range page.Items {
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < margin {
				return errStopped
			}
			if err := s.visit(ctx, tenant, x.Key, now, rep); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		q.Cursor = page.Next
	}
}

func (s Sweeper) visit(ctx context.Context, tenant string, k table.Key, now time.Time, rep *Report) error {
	it, err := s.Table.Get(ctx, k)
	rep.Reads++
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
	if owner, ok := s.Owners[a.Kind]; ok {
		// The index says it is due; the owner reads the item and decides.
		done, err := owner(ctx, tenant, k, now)
		switch {
		case err != nil:
			return fmt.Errorf("expiry: %s of %s: %w", a.Kind, tenant, err)
		case done == Deleted:
			rep.Deleted[a.Kind]++
		case done != "":
			rep.Done[done]++
		}
		return nil
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
