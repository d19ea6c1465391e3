package sqlite_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/example/gdpr/internal/samtemplate"
	"github.com/example/gdpr/internal/sqlite"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest"
)

func TestTable(t *testing.T) {
	tabletest.Run(t, func(t *testing.T) tabletest.Harness {
		db := mustOpen(t, filepath.Join(t.TempDir(), "gdpr.db"), tabletest.Def(t))
		return tabletest.Harness{Table: db, Feed: db}
	})
}

// mustOpen opens a database that the test closes when it ends.
func mustOpen(tb testing.TB, path string, def samtemplate.TableDef) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(path, def)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

func mustPut(tb testing.TB, db *sqlite.DB, k table.Key, v any) {
	tb.Helper()
	it, err := table.NewItem(k, 0, v)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.Put(tb.Context(), it, table.Cond{Kind: table.Always}); err != nil {
		tb.Fatal(err)
	}
}

func readAll(tb testing.TB, db *sqlite.DB, after string) ([]table.Change, string) {
	tb.Helper()
	cs, pos, err := db.Read(tb.Context(), after, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	return cs, pos
}

func TestReopenKeepsItemsAndFeed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir with space?#", "gdpr.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	def := tabletest.Def(t)
	k := table.Key{PK: "T#t1#S#s1", SK: "PROFILE"}

	db, err := sqlite.Open(path, def)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, k, map[string]string{"gsi1pk": "T#t1#SHARD#1", "gsi1sk": "s1"})
	_, pos := readAll(t, db, "")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at its path: %v", err)
	}

	db = mustOpen(t, path, def)
	it, err := db.Get(t.Context(), k)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := it.Version, int64(1); got != want {
		t.Fatalf("Version = %d; want %d", got, want)
	}
	p, err := db.Query(t.Context(), table.Query{Index: "GSI1", PK: "T#t1#SHARD#1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(p.Items), 1; got != want {
		t.Fatalf("index holds %d items; want %d", got, want)
	}
	cs, _ := readAll(t, db, "")
	if got, want := len(cs), 1; got != want {
		t.Fatalf("feed holds %d changes; want %d", got, want)
	}
	// The position read before closing continues after reopening.
	mustPut(t, db, k, map[string]string{"after": "reopen"})
	cs, _ = readAll(t, db, pos)
	if len(cs) != 1 || cs[0].Event != table.EventModify {
		t.Fatalf("feed after %s = %+v; want one MODIFY", pos, cs)
	}
}

// TestOpenAddsIndex reopens a database with an index it did not have: items stored before
// are in it.
func TestOpenAddsIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gdpr.db")
	full := tabletest.Def(t)
	fewer := full
	fewer.Indexes = nil
	for _, ix := range full.Indexes {
		if ix.Name != "Expiry" {
			fewer.Indexes = append(fewer.Indexes, ix)
		}
	}
	db, err := sqlite.Open(path, fewer)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, table.Key{PK: "T#t1#S#s1", SK: "DEV#1"}, map[string]string{"xpk": "T#t1", "xsk": "2024-06-01"})
	if _, err := db.Query(t.Context(), table.Query{Index: "Expiry", PK: "T#t1"}); err == nil {
		t.Fatal("query of an index the database lacks succeeded")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = mustOpen(t, path, full)
	p, err := db.Query(t.Context(), table.Query{Index: "Expiry", PK: "T#t1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(p.Items), 1; got != want {
		t.Fatalf("index holds %d items; want %d", got, want)
	}
}

func TestOpenRefusesUnsupportedTable(t *testing.T) {
	for name, change := range map[string]func(*samtemplate.TableDef){
		"OtherHashKey":      func(d *samtemplate.TableDef) { d.HashKey = "id" },
		"NoRangeKey":        func(d *samtemplate.TableDef) { d.RangeKey = "" },
		"IncludeProjection": func(d *samtemplate.TableDef) { d.Indexes[0].Projection = "INCLUDE" },
		"NumberIndexKey":    func(d *samtemplate.TableDef) { d.AttributeTypes[d.Indexes[0].RangeKey] = "N" },
		"IndexWithoutRange": func(d *samtemplate.TableDef) { d.Indexes[0].RangeKey = "" },
		"ReservedIndexKey":  func(d *samtemplate.TableDef) { d.Indexes[0].HashKey = table.AttrVersion },
		"QuoteInName":       func(d *samtemplate.TableDef) { d.Indexes[0].Name = `a"b` },
	} {
		t.Run(name, func(t *testing.T) {
			def := tabletest.Def(t)
			change(&def)
			db, err := sqlite.Open(filepath.Join(t.TempDir(), "gdpr.db"), def)
			if err == nil {
				db.Close()
				t.Fatal("Open accepted the definition")
			}
		})
	}
}

func TestSweep(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "gdpr.db"), tabletest.Def(t))
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	keep := map[string]any{
		"future":    now.Unix() + 1,
		"string":    strconv.FormatInt(now.Unix()-100, 10),
		"bool":      true,
		"nothing":   nil,
		"fraction":  float64(now.Unix()) + 0.5,
		"otherAttr": map[string]int64{"expires": now.Unix() - 100},
	}
	expire := map[string]any{
		"past":  now.Unix() - 3600,
		"now":   now.Unix(),
		"float": float64(now.Unix()) - 0.5,
	}
	for name, ttl := range keep {
		mustPut(t, db, table.Key{PK: "T#t1", SK: "keep#" + name}, map[string]any{table.AttrTTL: ttl})
	}
	for name, ttl := range expire {
		mustPut(t, db, table.Key{PK: "T#t1", SK: "expire#" + name}, map[string]any{table.AttrTTL: ttl})
	}
	_, pos := readAll(t, db, "")

	n, err := db.Sweep(t.Context(), now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n, len(expire); got != want {
		t.Fatalf("Sweep deleted %d; want %d", got, want)
	}
	for name := range expire {
		if _, err := db.Get(t.Context(), table.Key{PK: "T#t1", SK: "expire#" + name}); !errors.Is(err, table.ErrNotFound) {
			t.Fatalf("expire#%s: Get = %v; want ErrNotFound", name, err)
		}
	}
	for name := range keep {
		if _, err := db.Get(t.Context(), table.Key{PK: "T#t1", SK: "keep#" + name}); err != nil {
			t.Fatalf("keep#%s: %v", name, err)
		}
	}
	cs, _ := readAll(t, db, pos)
	if got, want := len(cs), len(expire); got != want {
		t.Fatalf("feed holds %d changes after the sweep; want %d", got, want)
	}
	for _, c := range cs {
		if c.Event != table.EventRemove || c.Old == nil || c.New != nil || c.Old.Version != 1 {
			t.Fatalf("change = %s %s old %v new %v; want a REMOVE with the old image", c.Event, c.Key, c.Old, c.New)
		}
	}
	if n, err := db.Sweep(t.Context(), now); err != nil || n != 0 {
		t.Fatalf("second Sweep = %d, %v; want 0, nil", n, err)
	}
}

// TestSweepBacklog sweeps more items than one batch holds.
func TestSweepBacklog(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "gdpr.db"), tabletest.Def(t))
	const items = 1234
	for i := 0; i < items; i += table.MaxTransactItems {
		var ws []table.Write
		for j := i; j < min(i+table.MaxTransactItems, items); j++ {
			it, err := table.NewItem(table.Key{PK: "T#t1", SK: fmt.Sprintf("TOKEN#%05d", j)}, 0, map[string]int{table.AttrTTL: j})
			if err != nil {
				t.Fatal(err)
			}
			ws = append(ws, table.Put(it, table.Cond{Kind: table.Always}))
		}
		if err := db.Transact(t.Context(), ws); err != nil {
			t.Fatal(err)
		}
	}
	n, err := db.Sweep(t.Context(), time.Unix(items, 0))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n, items; got != want {
		t.Fatalf("Sweep deleted %d; want %d", got, want)
	}
}

func TestTrimFeed(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "gdpr.db"), tabletest.Def(t))
	for i := range 3 {
		mustPut(t, db, table.Key{PK: "T#t1", SK: strconv.Itoa(i)}, map[string]int{"i": i})
	}
	cs, _ := readAll(t, db, "")
	n, err := db.TrimFeed(t.Context(), cs[1].Seq)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n, 2; got != want {
		t.Fatalf("TrimFeed deleted %d; want %d", got, want)
	}
	left, _ := readAll(t, db, "")
	if len(left) != 1 || left[0].Seq != cs[2].Seq {
		t.Fatalf("feed after trim = %+v; want only %s", left, cs[2].Seq)
	}

	// Positions are never reused, even once the feed is empty.
	if _, err := db.TrimFeed(t.Context(), cs[2].Seq); err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, table.Key{PK: "T#t1", SK: "later"}, map[string]int{})
	later, _ := readAll(t, db, cs[2].Seq)
	if len(later) != 1 || later[0].Key.SK != "later" {
		t.Fatalf("feed after %s = %+v; want the later write", cs[2].Seq, later)
	}
}

func TestFeedRefusesBadInput(t *testing.T) {
	db := mustOpen(t, filepath.Join(t.TempDir(), "gdpr.db"), tabletest.Def(t))
	for _, pos := range []string{"x", "-1", "01", "1.0", " 1"} {
		if _, _, err := db.Read(t.Context(), pos, 10); !errors.Is(err, table.ErrBadCursor) {
			t.Fatalf("Read(%q) err = %v; want ErrBadCursor", pos, err)
		}
		if _, err := db.TrimFeed(t.Context(), pos); !errors.Is(err, table.ErrBadCursor) {
			t.Fatalf("TrimFeed(%q) err = %v; want ErrBadCursor", pos, err)
		}
	}
	for _, limit := range []int{-1, 0, 1001} {
		if _, _, err := db.Read(t.Context(), "", limit); err == nil {
			t.Fatalf("Read with limit %d succeeded", limit)
		}
	}
}

// TestAcknowledgedWritesSurviveKill kills a writer process, politely (SIGINT, Go's default
// handler exits at once) and not (SIGKILL), while it writes, and checks that every write it
// acknowledged is in the database.
func TestAcknowledgedWritesSurviveKill(t *testing.T) {
	if path := os.Getenv("SQLITE_TEST_WRITER"); path != "" {
		writeForever(t, path)
		return
	}
	for _, sig := range []os.Signal{os.Interrupt, os.Kill} {
		t.Run(sig.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gdpr.db")
			cmd := exec.Command(os.Args[0], "-test.run=^TestAcknowledgedWritesSurviveKill$")
			cmd.Env = append(os.Environ(), "SQLITE_TEST_WRITER="+path)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := -1
			lines := bufio.NewScanner(out)
			for acked < 200 && lines.Scan() {
				if n, err := strconv.Atoi(lines.Text()); err == nil {
					acked = n
				}
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			for lines.Scan() {
				if n, err := strconv.Atoi(lines.Text()); err == nil {
					acked = n
				}
			}
			if err := cmd.Wait(); err == nil {
				t.Fatal("writer exited cleanly; want it killed")
			}
			if acked < 200 {
				t.Fatalf("writer acknowledged only %d writes", acked)
			}

			db := mustOpen(t, path, tabletest.Def(t))
			for i := 0; i <= acked; i++ {
				if _, err := db.Get(t.Context(), table.Key{PK: "T#t1", SK: fmt.Sprintf("%08d", i)}); err != nil {
					t.Fatalf("acknowledged write %d of %d: %v", i, acked, err)
				}
			}
		})
	}
}

// writeForever is the writer process of TestAcknowledgedWritesSurviveKill: it prints the
// number of each write once Put has returned.
func writeForever(t *testing.T, path string) {
	db, err := sqlite.Open(path, tabletest.Def(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		mustPut(t, db, table.Key{PK: "T#t1", SK: fmt.Sprintf("%08d", i)}, map[string]int{"i": i})
		fmt.Println(i)
	}
}

// TestSecureDelete proves that a deleted item leaves no trace in the database file: without
// secure_delete its bytes stay in a free page until the page is reused.
func TestSecureDelete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gdpr.db")
	db, err := sqlite.Open(path, tabletest.Def(t))
	if err != nil {
		t.Fatal(err)
	}
	marker := "erase-me-7f3c1a9e"
	k := table.Key{PK: "T#t1#S#u-1", SK: "PROFILE"}
	for i := range 50 {
		mustPut(t, db, table.Key{PK: "T#t1#S#u-1", SK: "DEV#" + strconv.Itoa(i)}, map[string]string{"ua": marker + strconv.Itoa(i)})
	}
	mustPut(t, db, k, map[string]string{"email": marker})
	if err := db.Delete(t.Context(), k, table.Cond{}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := db.Delete(t.Context(), table.Key{PK: "T#t1#S#u-1", SK: "DEV#" + strconv.Itoa(i)}, table.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	cs, pos := readAll(t, db, "")
	if len(cs) == 0 {
		t.Fatal("no feed")
	}
	for pos != "" {
		if _, err := db.TrimFeed(t.Context(), pos); err != nil {
			t.Fatal(err)
		}
		var more []table.Change
		if more, pos = readAll(t, db, pos); len(more) == 0 {
			break
		}
	}
	// Closing the last connection checkpoints the WAL into the file and removes it.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(marker)) {
			t.Fatalf("%s still holds a deleted item's bytes", filepath.Base(f))
		}
	}
}
