package export_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/export"
	"github.com/example/gdpr/internal/files"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sqlite"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest"
	"github.com/example/gdpr/internal/tenant"
)

// BenchmarkExport exports a subject with 1,000,000 device observations (GDPR_BENCH_DEVICES
// sets another number) from the embedded store, and zips the same rows from the same store
// straight to a file, in one run. Each runs in a child process of its own, which reports its
// peak resident memory (VmHWM): the export's must stay at most 100 MB whatever the subject's
// size, and its rate (rows a second) at least half the plain zip's.
//
//	go test -run '^$' -bench BenchmarkExport -benchtime 1x ./internal/export
func BenchmarkExport(b *testing.B) {
	rows := 1_000_000
	if s := os.Getenv("GDPR_BENCH_DEVICES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10_000_000 {
			b.Fatalf("GDPR_BENCH_DEVICES=%q: want 1 to 10000000", s)
		}
		rows = n
	}
	// GDPR_BENCH_DIR keeps the seeded store for the next run (seeding a million rows takes a
	// while); the file's name holds the number of rows.
	dir := os.Getenv("GDPR_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	db := filepath.Join(dir, fmt.Sprintf("bench-%d.db", rows))
	if _, err := os.Stat(db); err != nil {
		began := time.Now()
		seedBench(b, db, rows)
		b.Logf("seeded %d device observations in %s", rows, time.Since(began).Round(time.Millisecond))
	}

	b.ResetTimer()
	for range b.N {
		// Other processes share the machine: each side runs twice, and its faster run counts.
		exp, zipped := childResult{}, childResult{}
		for range 2 {
			exp = exp.best(runChild(b, "export", db, dir))
			zipped = zipped.best(runChild(b, "zip", db, dir))
		}
		if exp.rows != int64(rows) || zipped.rows != int64(rows) {
			b.Fatalf("rows: export %d, zip %d, want %d", exp.rows, zipped.rows, rows)
		}
		ratio := zipped.seconds / exp.seconds
		b.Logf("export: %d rows in %.2f s (%.2f s CPU), %.1f MiB, peak RSS %.1f MiB; plain zip: %.2f s (%.2f s CPU), peak RSS %.1f MiB",
			exp.rows, exp.seconds, exp.cpu, float64(exp.bytes)/(1<<20), float64(exp.hwm)/(1<<20), zipped.seconds, zipped.cpu, float64(zipped.hwm)/(1<<20))
		b.ReportMetric(float64(exp.hwm)/(1<<20), "export-peak-MiB")
		b.ReportMetric(float64(zipped.hwm)/(1<<20), "zip-peak-MiB")
		b.ReportMetric(float64(rows)/exp.seconds, "export-rows/s")
		b.ReportMetric(float64(rows)/zipped.seconds, "zip-rows/s")
		b.ReportMetric(ratio, "rate-ratio")
		b.ReportMetric(zipped.cpu/exp.cpu, "cpu-rate-ratio")
		b.ReportMetric(exp.seconds, "export-s")
		b.ReportMetric(zipped.seconds, "zip-s")
		b.ReportMetric(float64(exp.bytes)/(1<<20), "export-MiB")
		if exp.hwm > 100<<20 {
			b.Errorf("export peak RSS %.1f MiB, over 100 MB", float64(exp.hwm)/(1<<20))
		}
		if ratio < 0.5 {
			b.Errorf("export rate %.2f of the plain zip's, under 0.5", ratio)
		}
	}
}

const benchTenant, benchSubject = "bench", "u-bench"

// seedBench fills a new store at path: a tenant, a subject with a profile and a consent
// decision, an access request, and rows device observations of the stored shape, written 25
// to a transaction.
func seedBench(b *testing.B, path string, rows int) {
	ctx := context.Background()
	t, err := sqlite.Open(path, tabletest.Def(b))
	if err != nil {
		b.Fatal(err)
	}
	w := benchWorld(t)
	if _, _, err := (tenant.Store{Table: t, Clock: clock.System{}}).Create(ctx, benchTenant); err != nil {
		b.Fatal(err)
	}
	if _, err := w.consent.Record(ctx, benchTenant, consent.Decision{SubjectID: benchSubject, Email: "bench@example.org", PolicyVersion: "2026-01",
		Purposes: map[string]bool{"terms": true, "rba": true}, Method: consent.MethodWebForm}); err != nil {
		b.Fatal(err)
	}
	if _, err := w.requests.Submit(ctx, benchTenant, dsr.Input{Type: dsr.Access, SubjectID: benchSubject}, dsr.Caller{Actor: audit.ActorSite}); err != nil {
		b.Fatal(err)
	}
	if err := t.Close(); err != nil {
		b.Fatal(err)
	}
	seedDevices(b, path, rows)
}

// seedDevices writes rows device observations of the stored shape (key, attributes, expiry
// index) in one transaction of the SQLite file, without fsync: through the table port's
// transactions of 25, a million rows take minutes of commits. The adapter's generated index
// columns and feed triggers apply as to any insert.
func seedDevices(b *testing.B, path string, rows int) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=synchronous(OFF)&_pragma=journal_mode(WAL)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	// Many rows a statement: the cost per row is then SQLite's own.
	const perInsert = 200
	stmt := "INSERT INTO items (pk, sk, v, data) VALUES " + strings.TrimSuffix(strings.Repeat("(?, ?, 1, ?),", perInsert), ",")
	ins, err := tx.PrepareContext(ctx, stmt)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	args := make([]any, 0, 3*perInsert)
	for i := range rows {
		seen := now.Add(-time.Duration(rows-i) * time.Second / 20)
		id := fmt.Sprintf("dev_%022d", i)
		key := subject.Key(benchTenant, benchSubject, subject.SKDevicePrefix+seen.Format("2006-01-02T15:04:05.000000000Z")+"#"+id)
		d := consent.StoredDevice{ID: id, ReceivedAt: now, ExpiresAt: now.Add(90 * 24 * time.Hour), Device: consent.Device{
			IP: "203.0.113." + strconv.Itoa(i%250), Location: "London, GB", Browser: "Firefox 146", DeviceType: "desktop", Language: "en-GB",
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:146.0) Gecko/20100101 Firefox/146.0", Fingerprint: fmt.Sprintf("fp-%08x", i*2654435761), SeenAt: seen}}
		d.Attrs = expiry.At(benchTenant, consent.KindDevices, key, d.ExpiresAt)
		data, err := json.Marshal(d)
		if err != nil {
			b.Fatal(err)
		}
		args = append(args, key.PK, key.SK, string(data))
		if len(args) == cap(args) {
			if _, err := ins.ExecContext(ctx, args...); err != nil {
				b.Fatal(err)
			}
			args = args[:0]
		}
	}
	for i := 0; i < len(args); i += 3 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO items (pk, sk, v, data) VALUES (?, ?, 1, ?)`, args[i:i+3]...); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

type benchServices struct {
	consent  *consent.Service
	requests *dsr.Service
}

// discard is a mail sender that keeps nothing: the benchmark sends only a verification code.
type discard struct{}

func (discard) Send(context.Context, mail.Message) (string, error) { return "m", nil }

func benchWorld(t table.Table) benchServices {
	master, err := secrets.New(bytes.Repeat([]byte{7}, 32))
	must(err)
	tenants := tenant.Store{Table: t, Clock: clock.System{}}
	return benchServices{
		consent:  consent.New(consent.Config{Table: t, Clock: clock.System{}, Secrets: master, Tenants: tenants}),
		requests: dsr.New(t, tenants, discard{}, clock.System{}, master),
	}
}

// childResult is what a child process reports.
type childResult struct {
	rows, bytes, hwm int64
	// seconds is wall time; cpu is user and system time.
	seconds, cpu float64
}

// best keeps the faster of two runs.
func (r childResult) best(o childResult) childResult {
	if r.seconds == 0 || o.seconds < r.seconds {
		return o
	}
	return r
}

// envChild names the mode, store and folder of a child process (see TestMain).
const envChild = "GDPR_EXPORT_BENCH_CHILD"

func runChild(b *testing.B, mode, db, dir string) childResult {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envChild+"="+mode+"|"+db+"|"+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("child %s: %v\n%s", mode, err, out)
	}
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			var r childResult
			if _, err := fmt.Sscan(rest, &r.rows, &r.bytes, &r.hwm, &r.seconds, &r.cpu); err != nil {
				b.Fatalf("child %s: %q: %v", mode, rest, err)
			}
			return r
		}
	}
	b.Fatalf("child %s reported nothing:\n%s", mode, out)
	return childResult{}
}

// TestMain runs the package's tests, or, in a child process of BenchmarkExport, one side of
// the benchmark.
func TestMain(m *testing.M) {
	if spec := os.Getenv(envChild); spec != "" {
		benchChild(spec)
		return
	}
	os.Exit(m.Run())
}

// must stops a benchmark child at its first error.
func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		os.Exit(1)
	}
}

// benchChild runs one side of BenchmarkExport and prints its RESULT line.
func benchChild(spec string) {
	parts := strings.Split(spec, "|")
	mode, path, dir := parts[0], parts[1], parts[2]
	ctx := context.Background()
	db, err := sqlite.Open(path, ports.TableDef())
	must(err)
	defer db.Close()
	var rows, size int64
	began := time.Now()
	switch mode {
	case "export":
		w := benchWorld(db)
		var r dsr.Request
		must(w.requests.OfSubject(ctx, benchTenant, benchSubject, func(x dsr.Request) error { r = x; return nil }))
		ten, err := (tenant.Store{Table: db, Clock: clock.System{}}).Get(ctx, benchTenant)
		must(err)
		st, err := files.New(filepath.Join(dir, "objects"), "http://127.0.0.1:1", make([]byte, 32), clock.System{})
		must(err)
		b := &export.Builder{Consent: w.consent, Requests: w.requests, Clock: clock.System{}}
		held, n, err := b.Store(ctx, st, ten, r)
		must(err)
		rows, size = held["devices"], n
	case "zip":
		rows, size, err = plainZip(db, filepath.Join(dir, "plain.zip"))
		must(err)
	default:
		must(fmt.Errorf("mode %q", mode))
	}
	secs := time.Since(began).Seconds()
	var ru syscall.Rusage
	must(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	hwm, err := peakRSS()
	must(err)
	fmt.Printf("RESULT %d %d %d %f %f\n", rows, size, hwm, secs, cpu)
}

// plainZip reads the subject's device rows a page at a time, as the export does, and writes
// each stored item's JSON as one line of one compressed file in a ZIP: the least an export
// of those rows can cost.
func plainZip(db table.Table, path string) (rows, size int64, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	z := zip.NewWriter(f)
	w, err := z.Create("devices.jsonl")
	if err != nil {
		return 0, 0, err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	q := table.Query{PK: subject.PK(benchTenant, benchSubject), Prefix: subject.SKDevicePrefix, Limit: consent.ExportPage}
	for {
		page, err := db.Query(context.Background(), q)
		if err != nil {
			return 0, 0, err
		}
		for _, it := range page.Items {
			bw.Write(it.Data)
			bw.WriteByte('\n')
			rows++
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	if err := errors.Join(bw.Flush(), z.Close()); err != nil {
		return 0, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	return rows, st.Size(), nil
}

// peakRSS is the process's peak resident set (VmHWM in /proc/self/status), in bytes.
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}
