//go:build unix

package rights_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// BenchmarkEraseDevices erases one subject's device observations on the embedded store, the
// step of an erasure that grows with the data: 10,000 to 1,000,000 observations. Each size
// reports the time per observation, the peak Go heap during the erasure, and the process's
// peak RSS; a second run of each size is killed half-way (its context cancelled once half
// the observations are deleted) and resumed, and must delete every observation exactly once.
// Observations are loaded with one SQL transaction beside the adapter (the port would take
// 40,000 transactions for a million), then the feed they wrote is dropped.
func BenchmarkEraseDevices(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				db, svc, counted := benchStore(b, n)
				runtime.GC()
				peak := heapPeak()
				b.StartTimer()
				began := time.Now()
				deleted, err := svc.EraseDevices(context.Background(), "bench", "u-1")
				took := time.Since(began)
				b.StopTimer()
				heap := peak()
				if err != nil || deleted != n || counted.deletes.Load() != int64(n) {
					b.Fatalf("erased %d (%d deletes), %v; want %d", deleted, counted.deletes.Load(), err, n)
				}
				wantEmpty(b, db)
				b.ReportMetric(float64(took.Nanoseconds())/float64(n), "ns/item")
				b.ReportMetric(float64(heap)/(1<<20), "heap-peak-MiB")
				b.ReportMetric(float64(maxRSS())/(1<<20), "rss-peak-MiB")

				// Killed half-way, then resumed: every observation deleted once.
				db, _, counted = benchStore(b, n)
				ctx, cancel := context.WithCancel(context.Background())
				counted.cancelAt, counted.cancel = int64(n/2), cancel
				svc = consent.New(consent.Config{Table: counted, Clock: clock.System{}, Secrets: benchSecrets(b), Tenants: tenant.Store{Table: db}})
				first, err := svc.EraseDevices(ctx, "bench", "u-1")
				if err == nil {
					b.Fatal("the killed run finished")
				}
				counted.cancel = nil
				second, err := svc.EraseDevices(context.Background(), "bench", "u-1")
				if err != nil {
					b.Fatal(err)
				}
				if got := counted.deletes.Load(); got != int64(n) || first+second != n {
					b.Fatalf("killed run deleted %d, resumed run %d, %d deletes written; want %d in all, each once", first, second, got, n)
				}
				wantEmpty(b, db)
				b.ReportMetric(float64(first), "killed-after-items")
			}
		})
	}
}

func benchSecrets(b *testing.B) secrets.Master {
	m, err := secrets.New([]byte(strings.Repeat("b", 32)))
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// benchStore is a fresh store holding n device observations of subject u-1 of tenant bench.
func benchStore(b *testing.B, n int) (table.Table, *consent.Service, *countingTable) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "gdpr.db")
	db := sqlitetest.MustOpenFile(b, path)
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	tx, err := raw.Begin()
	if err != nil {
		b.Fatal(err)
	}
	st, err := tx.Prepare(`INSERT INTO items (pk, sk, v, data) VALUES (?, ?, 1, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	seen := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		at := seen.Add(time.Duration(i) * time.Millisecond).Format("2006-01-02T15:04:05.000000000Z")
		data := fmt.Sprintf(`{"id":"dev_%09d","ip":"203.0.113.9","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:146.0) Gecko/20100101 Firefox/146.0","location":"London, GB","browser":"Firefox 146","seen_at":%q,"received_at":%q,"expires_at":"2027-01-30T00:00:00Z","ttl":1801526400}`, i, at, at)
		if _, err := st.Exec("T#bench#S#u-1", "DEV#"+at+"#dev_"+fmt.Sprintf("%09d", i), data); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := tx.Exec(`DELETE FROM changes`); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	counted := &countingTable{Table: db}
	svc := consent.New(consent.Config{Table: counted, Clock: clock.System{}, Secrets: benchSecrets(b), Tenants: tenant.Store{Table: db}})
	return db, svc, counted
}

// countingTable counts the deletes of transactions that committed, and cancels the run (a
// kill) once cancelAt of them have.
type countingTable struct {
	table.Table
	deletes  atomic.Int64
	cancelAt int64
	cancel   context.CancelFunc
}

func (c *countingTable) Transact(ctx context.Context, ws []table.Write) error {
	if err := c.Table.Transact(ctx, ws); err != nil {
		return err
	}
	n := int64(0)
	for _, w := range ws {
		if w.Op == table.OpDelete {
			n++
		}
	}
	if total := c.deletes.Add(n); c.cancel != nil && total >= c.cancelAt {
		c.cancel()
	}
	return nil
}

func wantEmpty(b *testing.B, db table.Table) {
	b.Helper()
	p, err := db.Query(context.Background(), table.Query{PK: "T#bench#S#u-1", Limit: 1})
	if err != nil || len(p.Items) != 0 {
		b.Fatalf("observations left: %d, %v", len(p.Items), err)
	}
}

// heapPeak samples the Go heap in use until the returned function is called, and returns the
// highest sample.
func heapPeak() func() uint64 {
	var mu sync.Mutex
	var peak uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var ms runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			mu.Lock()
			peak = max(peak, ms.HeapInuse)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// maxRSS is the process's peak resident set so far, in bytes (Linux reports KiB).
func maxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}
