package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest"
)

// Each benchmark runs an operation through the adapter and as the same SQL statements on
// plain database/sql, with the same DSN (pragmas), schema, triggers and prepared statements,
// so that adapter/raw is what the port costs over SQLite itself (validation, JSON, condition
// dispatch). Run: go test -run x -bench . -benchtime 2s ./internal/sqlite/

const benchKeys = 1000

// benchItems are items shaped like the service's: a subject's consent state, in the GSI1
// shard index, with a TTL.
func benchItems(b *testing.B) []table.Item {
	b.Helper()
	items := make([]table.Item, benchKeys)
	for i := range items {
		k := table.Key{PK: fmt.Sprintf("T#tenant-%02d#S#%08d", i%7, i), SK: "CONSENT"}
		it, err := table.NewItem(k, 0, map[string]any{
			"gsi1pk":   fmt.Sprintf("T#tenant-%02d#SHARD#%d", i%7, i%16),
			"gsi1sk":   fmt.Sprintf("%08d", i),
			"purposes": map[string]bool{"analytics": i%2 == 0, "marketing": false, "necessary": true},
			"policy":   "2025-01-01",
			"source":   "wordpress-plugin/4.2.1",
			"updated":  1735689600 + int64(i),
			"ttl":      1893456000,
		})
		if err != nil {
			b.Fatal(err)
		}
		items[i] = it
	}
	return items
}

// raw is the baseline: the adapter's statements with nothing around them.
type raw struct {
	w, r             *sql.DB
	put, get, verify *sql.Stmt
}

func openBoth(b *testing.B) (*DB, raw) {
	b.Helper()
	def := tabletest.Def(b)
	d, err := Open(filepath.Join(b.TempDir(), "adapter.db"), def)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })

	// Open builds the schema; the baseline then runs on that file without the adapter.
	path := filepath.Join(b.TempDir(), "raw.db")
	shaped, err := Open(path, def)
	if err != nil {
		b.Fatal(err)
	}
	if err := shaped.Close(); err != nil {
		b.Fatal(err)
	}
	var r raw
	if r.w, err = sql.Open("sqlite", writerDSN(path)); err != nil {
		b.Fatal(err)
	}
	r.w.SetMaxOpenConns(1)
	if r.r, err = sql.Open("sqlite", readerDSN(path)); err != nil {
		b.Fatal(err)
	}
	r.r.SetMaxOpenConns(readers)
	r.r.SetMaxIdleConns(readers)
	b.Cleanup(func() { r.r.Close(); r.w.Close() })
	for _, p := range []struct {
		db   *sql.DB
		dst  **sql.Stmt
		text string
	}{{r.w, &r.put, sqlPutAlways}, {r.r, &r.get, sqlGet}, {r.w, &r.verify, sqlVersion}} {
		if *p.dst, err = p.db.Prepare(p.text); err != nil {
			b.Fatal(err)
		}
	}
	return d, r
}

func seed(b *testing.B, d *DB, r raw, items []table.Item) {
	b.Helper()
	for _, it := range items {
		if err := d.Put(b.Context(), it, table.Cond{Kind: table.Always}); err != nil {
			b.Fatal(err)
		}
		if _, err := r.put.Exec(it.PK, it.SK, 1, string(it.Data)); err != nil {
			b.Fatal(err)
		}
	}
}

// pair times the adapter's op and the raw op of each iteration back to back, alternating which
// goes first, so that both see the same machine: on a shared two-core machine, load shifts
// between two sub-benchmarks far more than the adapter costs. It reports each side's time and
// adapter/raw, the adapter's share of raw throughput (the goal is at least 0.5).
func pair(b *testing.B, adapter, raw func(i int)) {
	var spent [2]time.Duration
	ops := [2]func(int){adapter, raw}
	n := 0
	for ; b.Loop(); n++ {
		for k := range 2 {
			side := (n + k) % 2
			start := time.Now()
			ops[side](n)
			spent[side] += time.Since(start)
		}
	}
	b.ReportMetric(float64(spent[0].Nanoseconds())/float64(n), "adapter-ns/op")
	b.ReportMetric(float64(spent[1].Nanoseconds())/float64(n), "raw-ns/op")
	b.ReportMetric(float64(spent[1])/float64(spent[0]), "adapter/raw")
}

func BenchmarkTablePut(b *testing.B) {
	items := benchItems(b)
	d, r := openBoth(b)
	ctx := context.Background()
	pair(b, func(i int) {
		if err := d.Put(ctx, items[i%benchKeys], table.Cond{Kind: table.Always}); err != nil {
			b.Fatal(err)
		}
	}, func(i int) {
		it := items[i%benchKeys]
		if _, err := r.put.ExecContext(ctx, it.PK, it.SK, it.Version+1, string(it.Data)); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkTableGet(b *testing.B) {
	items := benchItems(b)
	d, r := openBoth(b)
	seed(b, d, r, items)
	ctx := context.Background()
	pair(b, func(i int) {
		it, err := d.Get(ctx, items[i%benchKeys].Key)
		if err != nil || len(it.Data) == 0 {
			b.Fatal(err)
		}
	}, func(i int) {
		k := items[i%benchKeys].Key
		var (
			v    int64
			data []byte
		)
		if err := r.get.QueryRowContext(ctx, k.PK, k.SK).Scan(&v, &data); err != nil {
			b.Fatal(err)
		}
		if it := (table.Item{Key: k, Version: v, Data: json.RawMessage(data)}); len(it.Data) == 0 {
			b.Fatal("no data")
		}
	})
}

// BenchmarkTableTransact writes four items and checks that a fifth exists, all or none: the
// shape of a consent change (state, ledger entry, audit entry, ...).
func BenchmarkTableTransact(b *testing.B) {
	items := benchItems(b)
	d, r := openBoth(b)
	seed(b, d, r, items)
	ctx := context.Background()
	const puts = 4
	ws := make([]table.Write, puts+1)
	pair(b, func(i int) {
		for j := range puts {
			ws[j] = table.Put(items[(i*puts+j)%benchKeys], table.Cond{Kind: table.Always})
		}
		ws[puts] = table.Check(items[(i*puts+puts)%benchKeys].Key, table.Cond{Kind: table.IfExists})
		if err := d.Transact(ctx, ws); err != nil {
			b.Fatal(err)
		}
	}, func(i int) {
		tx, err := r.w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		for j := range puts {
			it := items[(i*puts+j)%benchKeys]
			if _, err := tx.StmtContext(ctx, r.put).ExecContext(ctx, it.PK, it.SK, it.Version+1, string(it.Data)); err != nil {
				b.Fatal(err)
			}
		}
		k := items[(i*puts+puts)%benchKeys].Key
		var v int64
		if err := tx.StmtContext(ctx, r.verify).QueryRowContext(ctx, k.PK, k.SK).Scan(&v); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	})
}
