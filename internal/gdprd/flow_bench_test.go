package gdprd_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/sqlite"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
)

// Benchmarks of the service through a running gdprd over loopback HTTP, one client with
// keep-alive connections, on the embedded SQLite store. Run:
//
//	go test -run '^$' -bench . ./internal/gdprd/

// poster sends requests over one keep-alive client.
type poster struct {
	client *http.Client
	url    string
	key    string
}

func newPoster(url, key string) *poster {
	return &poster{client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}, url: url, key: key}
}

// post sends body to path and fails unless the answer has status want. The body is read to
// its end so that the connection is reused.
func (p *poster) post(b *testing.B, path string, body []byte, want int) {
	req, err := http.NewRequest("POST", p.url+path, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if p.key != "" {
		req.Header.Set("Authorization", "Bearer "+p.key)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != want {
		b.Fatalf("POST %s: status %d, want %d: %s", path, resp.StatusCode, want, got)
	}
}

// benchSubjects spreads decisions over subjects, as real traffic is: one subject's chain
// would serialize.
const benchSubjects = 1000

func benchDecision(i int) []byte {
	return fmt.Appendf(nil, `{"subject_id":"u-%d","policy_version":"2026-01",`+
		`"purposes":{"terms":true,"rba":%t,"marketing":false},"method":"web_form",`+
		`"evidence":{"ip":"203.0.113.9","user_agent":"Mozilla/5.0 Firefox/146.0","locale":"en"}}`,
		i%benchSubjects, i%2 == 0)
}

// rawConsent writes what one consent decision writes, as bare SQL on a SQLite file of its own:
// in one transaction, read the subject's state row, then write the state row (conditional on
// the version read) and a new ledger row. The file has the schema internal/sqlite gives the
// service's table (it is made by sqlite.Open) and is opened with the same pragmas, one writer
// connection and IMMEDIATE transactions; the rows are as large as the service's own.
type rawConsent struct {
	db                             *sql.DB
	get, putIfVersion, putIfAbsent *sql.Stmt
	state, entry                   string
	seq                            int
}

// rawPragmas are internal/sqlite's pragmas (sqlite.go), and its writer's transaction mode.
const rawPragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_txlock=immediate"

func openRawConsent(b *testing.B, state, entry []byte) *rawConsent {
	b.Helper()
	path := filepath.Join(b.TempDir(), "raw.db")
	shaped, err := sqlite.Open(path, ports.TableDef())
	if err != nil {
		b.Fatal(err)
	}
	if err := shaped.Close(); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+rawPragmas)
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	var syncMode int
	var journal string
	if err := db.QueryRow(`PRAGMA synchronous`).Scan(&syncMode); err != nil {
		b.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&journal); err != nil {
		b.Fatal(err)
	}
	if syncMode != 2 || journal != "wal" {
		b.Fatalf("raw connection: synchronous=%d journal_mode=%s, want 2 (FULL) and wal", syncMode, journal)
	}
	r := &rawConsent{db: db, state: string(state), entry: string(entry)}
	for _, p := range []struct {
		dst  **sql.Stmt
		text string
	}{
		{&r.get, `SELECT v, data FROM items WHERE pk = ?1 AND sk = ?2`},
		{&r.putIfVersion, `UPDATE items SET v = ?3, data = ?4 WHERE pk = ?1 AND sk = ?2 AND v = ?5`},
		{&r.putIfAbsent, `INSERT INTO items (pk, sk, v, data) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (pk, sk) DO NOTHING`},
	} {
		if *p.dst, err = db.Prepare(p.text); err != nil {
			b.Fatal(err)
		}
	}
	return r
}

func (r *rawConsent) decide(ctx context.Context, b *testing.B, i int) {
	pk := subject.PK("demo", fmt.Sprintf("u-%d", i%benchSubjects))
	r.seq++
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	var (
		v    int64
		data []byte
	)
	err = tx.StmtContext(ctx, r.get).QueryRowContext(ctx, pk, subject.SKConsent).Scan(&v, &data)
	var res sql.Result
	switch {
	case errors.Is(err, sql.ErrNoRows):
		res, err = tx.StmtContext(ctx, r.putIfAbsent).ExecContext(ctx, pk, subject.SKConsent, 1, r.state)
	case err == nil:
		res, err = tx.StmtContext(ctx, r.putIfVersion).ExecContext(ctx, pk, subject.SKConsent, v+1, r.state, v)
	}
	mustChange(b, res, err)
	sk := fmt.Sprintf("%s%s#%010d", subject.SKLedgerPrefix, time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z"), r.seq)
	res, err = tx.StmtContext(ctx, r.putIfAbsent).ExecContext(ctx, pk, sk, 1, r.entry)
	mustChange(b, res, err)
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

func mustChange(b *testing.B, res sql.Result, err error) {
	if err != nil {
		b.Fatal(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		b.Fatalf("%d rows changed (%v), want 1", n, err)
	}
}

// serviceRows returns a consent state and a ledger entry as the service stored them.
func serviceRows(b *testing.B, t table.Table) (state, entry []byte) {
	b.Helper()
	ctx := context.Background()
	st, err := t.Get(ctx, subject.Key("demo", "u-0", subject.SKConsent))
	if err != nil {
		b.Fatal(err)
	}
	page, err := t.Query(ctx, table.Query{PK: subject.PK("demo", "u-0"), Prefix: subject.SKLedgerPrefix, Limit: 1})
	if err != nil || len(page.Items) != 1 {
		b.Fatalf("ledger of u-0: %d entries, %v", len(page.Items), err)
	}
	return st.Data, page.Items[0].Data
}

// BenchmarkConsentCaptureHTTP records consent decisions (POST /v1/consents) through gdprd
// over loopback HTTP, and writes the same rows with bare SQL transactions, interleaved: each
// iteration does one of each, alternating which goes first, so both see the same load on a
// shared machine. It reports each side's operations per second and http/raw, gdprd's share of
// raw SQLite's throughput (goal: at least 0.5).
func BenchmarkConsentCaptureHTTP(b *testing.B) {
	ts := start(b, gdprd.Config{})
	s, keys := ts.Server, credentials(b, ts.dir)
	p := newPoster(s.URL(), keys.SiteKey)
	ctx := context.Background()
	// Warm up (tenant cache, statements, connection) and make the rows the raw side copies.
	for i := range 2 * benchSubjects {
		p.post(b, "/v1/consents", benchDecision(i), http.StatusCreated)
	}
	state, entry := serviceRows(b, s.Ports().Table)
	raw := openRawConsent(b, state, entry)
	for i := range benchSubjects {
		raw.decide(ctx, b, i)
	}

	bodies := make([][]byte, benchSubjects)
	for i := range bodies {
		bodies[i] = benchDecision(i)
	}
	var spent [2]time.Duration
	ops := [2]func(i int){
		func(i int) { p.post(b, "/v1/consents", bodies[i%benchSubjects], http.StatusCreated) },
		func(i int) { raw.decide(ctx, b, i) },
	}
	n := 0
	for ; b.Loop(); n++ {
		for k := range 2 {
			side := (n + k) % 2
			start := time.Now()
			ops[side](n)
			spent[side] += time.Since(start)
		}
	}
	b.ReportMetric(float64(spent[0].Nanoseconds())/float64(n), "http-ns/op")
	b.ReportMetric(float64(spent[1].Nanoseconds())/float64(n), "raw-ns/op")
	b.ReportMetric(float64(n)/spent[0].Seconds(), "http-ops/s")
	b.ReportMetric(float64(n)/spent[1].Seconds(), "raw-ops/s")
	b.ReportMetric(float64(spent[1])/float64(spent[0]), "http/raw")
}

// BenchmarkSubmitHTTP submits public data subject requests through gdprd over loopback HTTP,
// each for an email of its own: validation, the rate-limit counters, the request and its audit
// entry in one transaction, and the verification email into the outbox. Every source address
// may submit 100 requests an hour (the tenant's default), and every request here comes from
// 127.0.0.1: the server's clock is moved on an hour (POST /_local/clock, not timed) every 100
// requests.
func BenchmarkSubmitHTTP(b *testing.B) {
	s := start(b, gdprd.Config{}).Server
	p := newPoster(s.URL(), "")
	base := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	hour := 0
	setHour := func() {
		body := fmt.Appendf(nil, `{"now":%q}`, base.Add(time.Duration(hour)*time.Hour).Format(time.RFC3339))
		p.post(b, "/_local/clock", body, http.StatusOK)
		hour++
	}
	const perHour = 100
	setHour()
	for i := range perHour / 2 {
		p.post(b, "/v1/public/demo/requests", fmt.Appendf(nil, `{"type":"access","email":"warm-%d@example.org"}`, i), http.StatusAccepted)
	}
	setHour()
	sent := 0
	var spent time.Duration
	for b.Loop() {
		if sent > 0 && sent%perHour == 0 {
			b.StopTimer()
			setHour()
			b.StartTimer()
		}
		body := fmt.Appendf(nil, `{"type":"access","email":"bench-%d@example.org"}`, sent)
		start := time.Now()
		p.post(b, "/v1/public/demo/requests", body, http.StatusAccepted)
		spent += time.Since(start)
		sent++
	}
	b.ReportMetric(float64(sent)/spent.Seconds(), "req/s")
}
