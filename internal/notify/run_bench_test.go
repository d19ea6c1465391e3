package notify_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/notify"
	"github.com/example/gdpr/internal/policy"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest/tablecount"
	"github.com/example/gdpr/internal/tenant"
)

// Figures of the benchmark (BENCHMARKS.md): 100,000 subjects on SQLite, paced to benchRate.
const (
	benchSubjects = 100_000
	benchRate     = 200 // messages per second: the example rate of the issue
	killAfter     = 20_000
)

// countingMail only counts, per recipient: the transport costs nothing, so the run's own
// cost and pacing are what is measured.
type countingMail struct {
	mu    sync.Mutex
	to    map[string]int32
	sent  atomic.Int64
	after int64
	kill  func()
}

func (c *countingMail) Send(_ context.Context, m mail.Message) (string, error) {
	c.mu.Lock()
	c.to[m.To]++
	c.mu.Unlock()
	if n := c.sent.Add(1); n == c.after && c.kill != nil {
		c.kill()
	}
	return "", nil
}

// BenchmarkRun100k notifies 100,000 subjects of one tenant on the embedded store with a mail
// adapter that only counts, paced to benchRate: killed after killAfter sends and resumed by a
// new Runner (as the next invocation), every subject must be told exactly once, the sustained
// rate must be at least 0.95 of benchRate, and the heap must stay flat. It reports the rate,
// the table reads and writes per subject and the heap sampled over the run.
func BenchmarkRun100k(b *testing.B) {
	for range b.N {
		benchRun(b)
	}
}

func benchRun(b *testing.B) {
	ctx := context.Background()
	db := sqlitetest.MustOpen(b)
	clk := &clock.Settable{}
	start := time.Date(2026, 11, 28, 16, 47, 0, 0, time.UTC)
	clk.Set(start)
	m, _ := secrets.New([]byte(strings.Repeat("k", 32)))
	tenants := tenant.Store{Table: db, Clock: clk}
	if _, _, err := tenants.Create(ctx, "acme"); err != nil {
		b.Fatal(err)
	}
	// Subjects made with the consent service's own writes, in parallel batches.
	svc := consent.New(consent.Config{Table: db, Clock: clk, Secrets: m, Tenants: tenant.NewCache(tenants, clk)})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < benchSubjects; i += 8 {
				_, err := svc.Record(ctx, "acme", consent.Decision{SubjectID: fmt.Sprintf("u-%06d", i), Email: fmt.Sprintf("s%06d@example.org", i),
					PolicyVersion: "2026-01", Purposes: map[string]bool{"terms": true}, Method: consent.MethodImport})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	store := policy.Store{Table: db, Clock: clk, Tenants: tenants, Audit: audit.Log{Table: db}}
	if _, err := store.Publish(ctx, "acme", policy.Input{Version: "2026-02", URL: "https://example.org/p", Summary: "What changes.",
		EffectiveAt: start.Add(31 * 24 * time.Hour), Material: true}, func(p policy.Policy) ([]table.Write, error) {
		return notify.StartWrites("acme", p)
	}); err != nil {
		b.Fatal(err)
	}

	counted := tablecount.New(db)
	mailer := &countingMail{to: make(map[string]int32, benchSubjects), after: killAfter}
	pacer := notify.NewPacer(nil, benchRate, nil) // one pacer for the process, as a function has
	runner := func() *notify.Runner {
		return &notify.Runner{Table: counted, Clock: clk, Secrets: m, Mail: mailer, Pacer: pacer, Tenants: tenants,
			Policies: store, Audit: audit.Log{Table: counted}, Log: slog.New(slog.DiscardHandler), Concurrency: 8}
	}

	// Heap sampled every second over the run.
	var heaps []uint64
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				heaps = append(heaps, ms.HeapAlloc)
			}
		}
	})

	b.ResetTimer()
	began := time.Now()
	kctx, kill := context.WithCancel(ctx)
	mailer.kill = kill
	if _, err := runner().Work(kctx, "acme", "2026-02"); err == nil {
		b.Fatal("the first invocation was not killed")
	}
	clk.Set(clk.Now().Add(11 * time.Minute)) // the dead invocation's lease runs out
	rep, err := runner().Work(ctx, "acme", "2026-02")
	elapsed := time.Since(began)
	b.StopTimer()
	close(stopSampling)
	sampler.Wait()
	if err != nil || rep.State != notify.StateDone {
		b.Fatalf("resumed run: %+v, %v", rep, err)
	}

	// Every subject told exactly once.
	if len(mailer.to) != benchSubjects {
		b.Fatalf("%d addresses told, want %d", len(mailer.to), benchSubjects)
	}
	for to, n := range mailer.to {
		if n != 1 {
			b.Fatalf("%s told %d times", to, n)
		}
	}
	st, err := notify.ReadStatus(ctx, db, "acme", "2026-02", clk.Now())
	if err != nil {
		b.Fatal(err)
	}
	if st.Total != benchSubjects || st.Sent != benchSubjects || st.Pending != 0 || st.Failed != 0 {
		b.Fatalf("status %+v", st)
	}
	// The sustained rate, over the sends (the kill and resume included).
	rate := float64(benchSubjects) / elapsed.Seconds()
	if rate < 0.95*benchRate {
		b.Errorf("sustained %.1f/s, below 0.95 of %d/s", rate, benchRate)
	}
	ops := counted.Counts()
	b.Logf("%d subjects in %v: %.1f sends/s (%.3f of %d/s); per subject %.3f gets, %.4f queries, %.3f writes; %s",
		benchSubjects, elapsed.Round(time.Second), rate, rate/benchRate, benchRate,
		float64(ops.Get)/benchSubjects, float64(ops.Query)/benchSubjects, float64(ops.Put+ops.Delete+ops.Transact)/benchSubjects, ops)
	b.ReportMetric(rate, "sends/s")
	b.ReportMetric(rate/benchRate, "of-rate")
	b.ReportMetric(float64(ops.Get)/benchSubjects, "gets/subject")
	b.ReportMetric(float64(ops.Query)/benchSubjects, "queries/subject")
	b.ReportMetric(float64(ops.Put+ops.Delete+ops.Transact)/benchSubjects, "writes/subject")
	if len(heaps) > 4 {
		// Flat: the heap late in the run is no larger than early on, within GC noise.
		early, late := heaps[1], heaps[len(heaps)-2]
		b.ReportMetric(float64(early)/(1<<20), "heap-early-MiB")
		b.ReportMetric(float64(late)/(1<<20), "heap-late-MiB")
		b.Logf("heap %d samples, early %.1f MiB, late %.1f MiB", len(heaps), float64(early)/(1<<20), float64(late)/(1<<20))
		if float64(late) > 1.5*float64(early)+4<<20 {
			b.Errorf("heap grew from %d to %d bytes over the run", early, late)
		}
	}
}
