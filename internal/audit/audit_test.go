package audit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest"
)

func TestSQLite(t *testing.T) {
	runSuite(t, func(t *testing.T) table.Table {
		return sqlitetest.MustOpen(t)
	})
}

func TestDynamoDB(t *testing.T) {
	srv := mototest.Start(t)
	db := dynamodb.NewFromConfig(srv.Config(t))
	const name = "gdpr-audit-test"
	if err := dynamo.CreateTable(context.Background(), db, name, tabletest.Def(t)); err != nil {
		t.Fatal(err)
	}
	tb := dynamo.New(db, name, tabletest.Def(t))
	runSuite(t, func(*testing.T) table.Table { return tb })
}

// runSuite runs every case on a table; each case works in a tenant of its own.
func runSuite(t *testing.T, open func(t *testing.T) table.Table) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, c *chain)
	}{
		{"AppendAndList", testAppendAndList},
		{"Filters", testFilters},
		{"Paging", testPaging},
		{"TamperedField", testTamperedField},
		{"Deleted", testDeleted},
		{"RaceLoses", testRaceLoses},
		{"Empty", testEmpty},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := make([]byte, 6)
			if _, err := rand.Read(b); err != nil {
				t.Fatal(err)
			}
			c.fn(t, &chain{log: audit.Log{Table: open(t)}, tenant: "t-" + hex.EncodeToString(b)})
		})
	}
}

var (
	ctx = context.Background()
	at  = time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)
)

type chain struct {
	log    audit.Log
	tenant string
}

// append commits events on their own, as a caller's transaction would with its change.
func (c *chain) append(t *testing.T, events ...audit.Event) {
	t.Helper()
	ws, err := c.log.Append(ctx, c.tenant, at, events...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.log.Table.Transact(ctx, ws); err != nil {
		t.Fatal(err)
	}
}

func (c *chain) fill(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		c.append(t, audit.Event{
			Actor: audit.ActorOperator, Action: "request.extended",
			Subject:   fmt.Sprintf("ps_%d", i%3),
			RequestID: fmt.Sprintf("req_%d", i%2),
			Detail:    map[string]string{"z": "last", "a": "first", "due_at": "2026-04-30T23:59:59Z"},
		})
	}
}

func (c *chain) verify(t *testing.T) audit.Verification {
	t.Helper()
	v, err := c.log.Verify(ctx, c.tenant)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (c *chain) key(seq int) table.Key {
	return table.Key{PK: "T#" + c.tenant + "#AUDIT", SK: fmt.Sprintf("%020d", seq)}
}

func testAppendAndList(t *testing.T, c *chain) {
	c.append(t, audit.Event{Actor: audit.ActorSubject, Action: "request.received", RequestID: "req_a"},
		audit.Event{Actor: audit.ActorSystem, Action: "request.expired", RequestID: "req_a"})
	c.append(t, audit.Event{Actor: audit.ActorOperator, Action: "request.rejected", Subject: "ps_x", Detail: map[string]string{"reason": "excessive"}})
	entries, next, err := c.log.List(ctx, c.tenant, audit.Filter{Limit: 10})
	if err != nil || next != "" || len(entries) != 3 {
		t.Fatalf("List = %d entries, next %q, %v", len(entries), next, err)
	}
	for i, e := range entries {
		if got, want := e.Seq, int64(3-i); got != want {
			t.Fatalf("entry %d has seq %d, want %d (newest first)", i, got, want)
		}
		if len(e.Hash) != 64 || (e.Seq == 1) != (e.PrevHash == "") {
			t.Fatalf("entry %d: hash %q, prev %q", e.Seq, e.Hash, e.PrevHash)
		}
		if e.Detail == nil {
			t.Fatalf("entry %d: nil detail", e.Seq)
		}
	}
	if entries[0].PrevHash != entries[1].Hash || entries[1].PrevHash != entries[2].Hash {
		t.Fatal("entries are not chained")
	}
	if v := c.verify(t); !v.OK || v.Entries != 3 || v.BrokenSeq != 0 {
		t.Fatalf("Verify = %+v", v)
	}
}

func testFilters(t *testing.T, c *chain) {
	c.fill(t, 12)
	for _, f := range []audit.Filter{
		{Subject: "ps_1", Limit: 50},
		{RequestID: "req_0", Limit: 50},
		{Subject: "ps_1", RequestID: "req_0", Limit: 50},
		{Subject: "ps_none", Limit: 50},
	} {
		got, _, err := c.log.List(ctx, c.tenant, f)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for i := 11; i >= 0; i-- {
			if (f.Subject == "" || f.Subject == fmt.Sprintf("ps_%d", i%3)) && (f.RequestID == "" || f.RequestID == fmt.Sprintf("req_%d", i%2)) {
				if want >= len(got) || got[want].Seq != int64(i+1) {
					t.Fatalf("%+v: entry %d is not seq %d: %+v", f, want, i+1, got)
				}
				want++
			}
		}
		if len(got) != want {
			t.Fatalf("%+v: %d entries, want %d", f, len(got), want)
		}
	}
}

func testPaging(t *testing.T, c *chain) {
	c.fill(t, 7)
	for _, f := range []audit.Filter{{Limit: 3}, {Subject: "ps_0", Limit: 2}, {Subject: "ps_0", RequestID: "req_0", Limit: 1}} {
		var seqs []string
		for range 20 {
			page, next, err := c.log.List(ctx, c.tenant, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page {
				seqs = append(seqs, fmt.Sprint(e.Seq))
			}
			if next == "" {
				break
			}
			f.Cursor = next
		}
		want := map[string]string{"": "7 6 5 4 3 2 1", "ps_0": "7 4 1"}[f.Subject]
		if f.RequestID != "" {
			want = "7 1"
		}
		if got := strings.Join(seqs, " "); got != want {
			t.Fatalf("%+v: seqs %s, want %s", f, got, want)
		}
	}
}

func testTamperedField(t *testing.T, c *chain) {
	c.fill(t, 4)
	for name, edit := range map[string][2]string{
		"Action":   {`"request.extended"`, `"request.rejected"`},
		"Actor":    {`"operator"`, `"system"`},
		"Subject":  {`"subject":"ps_`, `"subject":"ps_9`},
		"Detail":   {`"first"`, `"second"`},
		"At":       {`2026-01-31T10:00:00Z`, `2026-01-30T10:00:00Z`},
		"PrevHash": {`"prev_hash":"`, `"prev_hash":"0`},
	} {
		t.Run(name, func(t *testing.T) {
			k := c.key(3)
			orig, err := c.log.Table.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			data := strings.Replace(string(orig.Data), edit[0], edit[1], 1)
			if data == string(orig.Data) {
				t.Fatalf("edit %q matched nothing in %s", edit[0], orig.Data)
			}
			if err := c.log.Table.Put(ctx, table.Item{Key: k, Version: orig.Version, Data: []byte(data)}, table.Cond{Kind: table.Always}); err != nil {
				t.Fatal(err)
			}
			if v := c.verify(t); v.OK || v.BrokenSeq != 3 {
				t.Fatalf("Verify = %+v, want broken at 3", v)
			}
			if err := c.log.Table.Put(ctx, table.Item{Key: k, Version: orig.Version + 1, Data: orig.Data}, table.Cond{Kind: table.Always}); err != nil {
				t.Fatal(err)
			}
			if v := c.verify(t); !v.OK {
				t.Fatalf("restored: Verify = %+v", v)
			}
		})
	}
}

func testDeleted(t *testing.T, c *chain) {
	c.fill(t, 5)
	if err := c.log.Table.Delete(ctx, c.key(5), table.Cond{Kind: table.Always}); err != nil {
		t.Fatal(err)
	}
	if v := c.verify(t); v.OK || v.BrokenSeq != 5 || v.Entries != 4 {
		t.Fatalf("newest deleted: Verify = %+v, want broken at 5", v)
	}
	if err := c.log.Table.Delete(ctx, c.key(1), table.Cond{Kind: table.Always}); err != nil {
		t.Fatal(err)
	}
	if v := c.verify(t); v.OK || v.BrokenSeq != 1 {
		t.Fatalf("first deleted: Verify = %+v, want broken at 1", v)
	}
}

// testRaceLoses: two appends prepared from the same head cannot both commit.
func testRaceLoses(t *testing.T, c *chain) {
	c.fill(t, 1)
	ev := audit.Event{Actor: audit.ActorSystem, Action: "request.expired"}
	first, err := c.log.Append(ctx, c.tenant, at, ev)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.log.Append(ctx, c.tenant, at, ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.log.Table.Transact(ctx, first); err != nil {
		t.Fatal(err)
	}
	err = c.log.Table.Transact(ctx, second)
	var ce *table.ConflictError
	if !errors.As(err, &ce) || ce.Key.PK != "T#"+c.tenant+"#AUDIT" {
		t.Fatalf("second append: %v, want a conflict on the chain", err)
	}
	if v := c.verify(t); !v.OK || v.Entries != 2 {
		t.Fatalf("Verify = %+v", v)
	}
}

func testEmpty(t *testing.T, c *chain) {
	if v := c.verify(t); !v.OK || v.Entries != 0 {
		t.Fatalf("Verify = %+v", v)
	}
	entries, next, err := c.log.List(ctx, c.tenant, audit.Filter{Limit: 5})
	if err != nil || len(entries) != 0 || next != "" || entries == nil {
		t.Fatalf("List = %v, %q, %v", entries, next, err)
	}
}
