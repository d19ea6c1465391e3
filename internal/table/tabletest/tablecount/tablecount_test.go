package tablecount_test

import (
	"errors"
	"testing"

	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest/tablecount"
)

func TestCounts(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	c := tablecount.New(db)
	ctx := t.Context()

	k := table.Key{PK: "T#x", SK: "A"}
	it, err := table.NewItem(k, 0, map[string]int{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, it, table.Cond{Kind: table.IfAbsent}); err != nil {
		t.Fatal(err)
	}
	// A failed write is counted too: it costs what a successful one does.
	if err := c.Put(ctx, it, table.Cond{Kind: table.IfAbsent}); !errors.Is(err, table.ErrConflict) {
		t.Fatalf("second put = %v; want a conflict", err)
	}
	if _, err := c.Get(ctx, k); err != nil {
		t.Fatal(err)
	}
	it2, _ := table.NewItem(table.Key{PK: "T#x", SK: "B"}, 0, map[string]int{"n": 2})
	if err := c.Transact(ctx, []table.Write{table.Put(it2, table.Cond{}), table.Check(k, table.Cond{Kind: table.IfExists})}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(ctx, table.Query{PK: "T#x"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, k, table.Cond{}); err != nil {
		t.Fatal(err)
	}
	want := tablecount.Counts{Get: 1, Put: 2, Delete: 1, Transact: 1, TransactWrites: 2, Query: 1}
	if got := c.Counts(); got != want {
		t.Fatalf("counts = %v; want %v", got, want)
	}
	c.Reset()
	if got := c.Counts(); got != (tablecount.Counts{}) {
		t.Fatalf("counts after Reset = %v; want zero", got)
	}
}
