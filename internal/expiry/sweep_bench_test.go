package expiry_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest/tablecount"
)

// BenchmarkSweep measures one retention sweep of a tenant over 10,000 and 1,000,000 live
// items on the expiry index (due later today and on the next 90 days, as device observations
// and exports are) with the same 1,000 items expired since the last run: the sweep's reads
// (reads/run: index queries and item reads) must be equal within a page whatever the table
// holds, and its time per expired item flat (ns/expired). SQLite, where the index is a
// partial index on the generated expiry columns as DynamoDB's is a GSI.
func BenchmarkSweep(b *testing.B) {
	const expiring = 1000
	for _, live := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("live=%d", live), func(b *testing.B) {
			ctx := context.Background()
			db := sqlitetest.MustOpen(b)
			now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
			fill(b, db, live, func(i int) time.Time {
				// Spread over the rest of today and the next 90 days.
				return now.Add(time.Minute + time.Duration(i%(90*24*60))*time.Minute)
			}, "L")
			counted := tablecount.New(db)
			sw := expiry.Sweeper{Table: counted}
			var reads, deleted int64
			var sweeping time.Duration
			for b.Loop() {
				b.StopTimer()
				// The same expiring set every time: yesterday's and this morning's.
				fill(b, db, expiring, func(i int) time.Time {
					return now.Add(-time.Duration(i+1) * time.Minute * 2)
				}, "E")
				resetCheckpoint(b, db, now.AddDate(0, 0, -1))
				counted.Reset()
				b.StartTimer()
				began := time.Now()
				rep, err := sw.Sweep(ctx, "acme", now.AddDate(0, 0, -1), now)
				sweeping += time.Since(began)
				if err != nil {
					b.Fatal(err)
				}
				if rep.Deleted["devices"] != expiring {
					b.Fatalf("deleted %d, want %d", rep.Deleted["devices"], expiring)
				}
				c := counted.Counts()
				reads += c.Get + c.Query
				deleted += int64(rep.Deleted["devices"])
			}
			b.ReportMetric(float64(reads)/float64(b.N), "reads/run")
			b.ReportMetric(float64(sweeping.Nanoseconds())/float64(deleted), "ns/expired")
		})
	}
}

// fill puts n items on the expiry index at the times at gives, in transactions of the
// table's largest size, within ten minutes at most.
func fill(b *testing.B, db table.Table, n int, at func(int) time.Time, prefix string) {
	b.Helper()
	ctx := context.Background()
	stop := time.Now().Add(10 * time.Minute)
	var batch []table.Write
	for i := range n {
		k := table.Key{PK: fmt.Sprintf("T#acme#S#u-%d", i%5000), SK: fmt.Sprintf("DEV#%s%07d", prefix, i)}
		it, err := table.NewItem(k, 0, entity{Name: "device", Attrs: expiry.At("acme", "devices", k, at(i))})
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, table.Put(it, table.Cond{}))
		if len(batch) == table.MaxTransactItems || i == n-1 {
			if err := db.Transact(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
			if time.Now().After(stop) {
				b.Fatalf("filling %d items took over ten minutes (%d done)", n, i+1)
			}
		}
	}
}

// resetCheckpoint puts the tenant's sweep back to day, so each run reads the same days.
func resetCheckpoint(b *testing.B, db table.Table, day time.Time) {
	b.Helper()
	k := table.Key{PK: "T#acme#SWEEP", SK: "EXPIRY"}
	it, err := table.NewItem(k, 0, map[string]string{"day": day.Format(time.DateOnly)})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Put(context.Background(), it, table.Cond{}); err != nil {
		b.Fatal(err)
	}
}
