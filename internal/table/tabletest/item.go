package tabletest

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/example/gdpr/internal/table"
)

// roundTrip holds every JSON kind an item may carry, including integers that a float64 would
// round (2^53+1, the int64 extremes) and strings that need escaping.
const roundTrip = `{
	"s": "text", "empty": "", "unicode": "Zoë · 日本語 · 😀 · \u00e9", "escaped": "q\" b\\ n\n t\t <a>&amp;",
	"int": 42, "neg": -7, "zero": 0,
	"pow53": 9007199254740992, "beyond53": 9007199254740993,
	"maxInt64": 9223372036854775807, "minInt64": -9223372036854775808,
	"float": 3.14159, "small": 1e-7, "large": 6.02e23, "negFloat": -0.5,
	"yes": true, "no": false, "nothing": null,
	"nested": {"a": {"b": {"c": [1, "two", null, true, {"d": []}]}}, "emptyMap": {}},
	"list": [1, 2.5, "x", false, null, [], {}],
	"emptyList": []
}`

func testGetMissing(t *testing.T, s *suite) {
	s.wantAbsent(t, s.key("A", "missing"))
}

func testPutGetRoundTrip(t *testing.T, s *suite) {
	k := s.key("Ü/😀", "ключ#1")
	want := table.Item{Key: k, Data: json.RawMessage(roundTrip)}
	s.put(t, want, table.Cond{Kind: table.IfAbsent})
	got := s.get(t, k)
	want.Version = 1
	wantItem(t, got, want)

	var ints struct {
		Beyond53 int64 `json:"beyond53"`
		Max      int64 `json:"maxInt64"`
		Min      int64 `json:"minInt64"`
	}
	if err := got.Decode(&ints); err != nil {
		t.Fatal(err)
	}
	if got, want := ints.Beyond53, int64(9007199254740993); got != want {
		t.Fatalf("beyond53 = %d; want %d", got, want)
	}
	if got, want := ints.Max, int64(9223372036854775807); got != want {
		t.Fatalf("maxInt64 = %d; want %d", got, want)
	}
	if got, want := ints.Min, int64(-9223372036854775808); got != want {
		t.Fatalf("minInt64 = %d; want %d", got, want)
	}
}

func testPutVersion(t *testing.T, s *suite) {
	k := s.key("A", "v")
	s.put(t, s.item(t, k, 41, map[string]int{"n": 1}), table.Cond{Kind: table.Always})
	if got, want := s.get(t, k).Version, int64(42); got != want {
		t.Fatalf("Version = %d; want %d", got, want)
	}
	// Version+1 of the written item, not of the stored one: the caller owns the count.
	s.put(t, s.item(t, k, 6, map[string]int{"n": 2}), table.Cond{Kind: table.Always})
	if got, want := s.get(t, k).Version, int64(7); got != want {
		t.Fatalf("Version = %d; want %d", got, want)
	}
}

func testPutAlways(t *testing.T, s *suite) {
	k := s.key("A", "always")
	s.put(t, s.item(t, k, 0, map[string]any{"a": 1, "b": "gone"}), table.Cond{Kind: table.Always})
	s.put(t, s.item(t, k, 1, map[string]any{"a": 2}), table.Cond{Kind: table.Always})
	s.wantStored(t, s.item(t, k, 2, map[string]any{"a": 2}))
}

func testPutIfAbsent(t *testing.T, s *suite) {
	k := s.key("A", "absent")
	first := s.item(t, k, 0, map[string]string{"who": "first"})
	s.put(t, first, table.Cond{Kind: table.IfAbsent})
	err := s.h.Table.Put(t.Context(), s.item(t, k, 0, map[string]string{"who": "second"}), table.VersionIs(0))
	wantConflict(t, err, 0, k)
	first.Version = 1
	s.wantStored(t, first)
}

func testPutIfExists(t *testing.T, s *suite) {
	k := s.key("A", "exists")
	err := s.h.Table.Put(t.Context(), s.item(t, k, 0, map[string]int{"n": 1}), table.Cond{Kind: table.IfExists})
	wantConflict(t, err, 0, k)
	s.wantAbsent(t, k)

	s.put(t, s.item(t, k, 0, map[string]int{"n": 1}), table.Cond{Kind: table.Always})
	s.put(t, s.item(t, k, 1, map[string]int{"n": 2}), table.Cond{Kind: table.IfExists})
	s.wantStored(t, s.item(t, k, 2, map[string]int{"n": 2}))
}

func testPutIfVersion(t *testing.T, s *suite) {
	k := s.key("A", "version")
	err := s.h.Table.Put(t.Context(), s.item(t, k, 1, map[string]int{"n": 0}), table.VersionIs(1))
	wantConflict(t, err, 0, k)
	s.wantAbsent(t, k)

	s.put(t, s.item(t, k, 0, map[string]int{"n": 1}), table.VersionIs(0))
	s.put(t, s.item(t, k, 1, map[string]int{"n": 2}), table.VersionIs(1))
	for _, stale := range []int64{1, 3} {
		err := s.h.Table.Put(t.Context(), s.item(t, k, stale, map[string]int{"n": 9}), table.VersionIs(stale))
		wantConflict(t, err, 0, k)
	}
	s.wantStored(t, s.item(t, k, 2, map[string]int{"n": 2}))
	s.put(t, s.item(t, k, 2, map[string]int{"n": 3}), table.VersionIs(2))
	s.wantStored(t, s.item(t, k, 3, map[string]int{"n": 3}))
}

func testDeleteAlwaysAbsent(t *testing.T, s *suite) {
	k := s.key("D", "never")
	if err := s.h.Table.Delete(t.Context(), k, table.Cond{Kind: table.Always}); err != nil {
		t.Fatalf("Delete of an absent item: %v", err)
	}
	s.put(t, s.item(t, k, 0, map[string]int{"n": 1}), table.Cond{Kind: table.Always})
	if err := s.h.Table.Delete(t.Context(), k, table.Cond{Kind: table.Always}); err != nil {
		t.Fatal(err)
	}
	s.wantAbsent(t, k)
}

func testDeleteIfExists(t *testing.T, s *suite) {
	k := s.key("D", "exists")
	err := s.h.Table.Delete(t.Context(), k, table.Cond{Kind: table.IfExists})
	wantConflict(t, err, 0, k)
	s.put(t, s.item(t, k, 0, map[string]int{"n": 1}), table.Cond{Kind: table.Always})
	if err := s.h.Table.Delete(t.Context(), k, table.Cond{Kind: table.IfExists}); err != nil {
		t.Fatal(err)
	}
	s.wantAbsent(t, k)
}

func testDeleteIfVersion(t *testing.T, s *suite) {
	k := s.key("D", "version")
	wantConflict(t, s.h.Table.Delete(t.Context(), k, table.VersionIs(1)), 0, k)
	s.put(t, s.item(t, k, 1, map[string]int{"n": 1}), table.Cond{Kind: table.Always})
	for _, stale := range []int64{1, 3} {
		wantConflict(t, s.h.Table.Delete(t.Context(), k, table.VersionIs(stale)), 0, k)
	}
	s.wantStored(t, s.item(t, k, 2, map[string]int{"n": 1}))
	if err := s.h.Table.Delete(t.Context(), k, table.VersionIs(2)); err != nil {
		t.Fatal(err)
	}
	s.wantAbsent(t, k)
}

// testDeleteIfAbsent pins the one odd combination: deleting only if nothing is there is a
// no-op that conflicts when an item exists.
func testDeleteIfAbsent(t *testing.T, s *suite) {
	k := s.key("D", "absent")
	if err := s.h.Table.Delete(t.Context(), k, table.Cond{Kind: table.IfAbsent}); err != nil {
		t.Fatal(err)
	}
	s.put(t, s.item(t, k, 0, map[string]int{"n": 1}), table.Cond{Kind: table.Always})
	wantConflict(t, s.h.Table.Delete(t.Context(), k, table.Cond{Kind: table.IfAbsent}), 0, k)
	s.wantStored(t, s.item(t, k, 1, map[string]int{"n": 1}))
}

func testTTL(t *testing.T, s *suite) {
	k := s.key("T", "ttl")
	s.put(t, s.item(t, k, 0, map[string]any{table.AttrTTL: 1700000000, "what": "token"}), table.Cond{Kind: table.Always})
	var got map[string]any
	if err := s.get(t, k).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if n, ok := got[table.AttrTTL].(float64); !ok || n != 1700000000 {
		t.Fatalf("%s = %#v; want the number 1700000000", table.AttrTTL, got[table.AttrTTL])
	}
}

func testTransactAll(t *testing.T, s *suite) {
	// Keys in as many partitions as writes: a transaction is not bound to one partition.
	var ws []table.Write
	for i := range table.MaxTransactItems {
		ws = append(ws, table.Put(s.item(t, s.key("X"+sk(i), "t"), 0, map[string]int{"i": i}), table.VersionIs(0)))
	}
	s.transact(t, ws...)
	for i := range table.MaxTransactItems {
		s.wantStored(t, s.item(t, s.key("X"+sk(i), "t"), 1, map[string]int{"i": i}))
	}
}

func testTransactConflict(t *testing.T, s *suite) {
	// One partition, so that the feed's order across these keys is defined on every engine.
	keys := []table.Key{s.key("X", "0"), s.key("X", "1"), s.key("X", "2"), s.key("X", "3"), s.key("X", "4")}
	s.put(t, s.item(t, keys[2], 0, map[string]string{"was": "here"}), table.Cond{Kind: table.Always})
	s.put(t, s.item(t, keys[3], 4, map[string]string{"was": "here"}), table.Cond{Kind: table.Always})
	err := s.h.Table.Transact(t.Context(), []table.Write{
		table.Put(s.item(t, keys[0], 0, map[string]int{"n": 0}), table.VersionIs(0)),
		table.Put(s.item(t, keys[1], 0, map[string]int{"n": 1}), table.Cond{Kind: table.Always}),
		table.Delete(keys[2], table.Cond{Kind: table.Always}),
		table.Put(s.item(t, keys[3], 4, map[string]int{"n": 3}), table.VersionIs(4)), // stored: 5
		table.Put(s.item(t, keys[4], 0, map[string]int{"n": 4}), table.VersionIs(0)),
	})
	wantConflict(t, err, 3, keys[3])
	s.wantAbsent(t, keys[0], keys[1], keys[4])
	s.wantStored(t, s.item(t, keys[2], 1, map[string]string{"was": "here"}))
	s.wantStored(t, s.item(t, keys[3], 5, map[string]string{"was": "here"}))

	// The feed holds the two setup writes and nothing of the failed transaction.
	mark := s.mark(t, keys[0])
	got, _ := s.readFeed(t, "", 1000, markSeen(mark))
	wantChanges(t, got, [][]table.Change{
		{insert(s.item(t, keys[2], 1, map[string]string{"was": "here"}))},
		{insert(s.item(t, keys[3], 5, map[string]string{"was": "here"}))},
		{insert(mark)},
	})
}

func testTransactCheck(t *testing.T, s *suite) {
	guard, k := s.key("C", "guard"), s.key("C", "item")
	s.put(t, s.item(t, guard, 0, map[string]int{"n": 1}), table.Cond{Kind: table.Always})

	s.transact(t,
		table.Check(guard, table.VersionIs(1)),
		table.Check(s.key("C", "nothing"), table.Cond{Kind: table.IfAbsent}),
		table.Put(s.item(t, k, 0, map[string]int{"n": 1}), table.Cond{Kind: table.Always}),
	)
	s.wantStored(t, s.item(t, k, 1, map[string]int{"n": 1}))
	s.wantStored(t, s.item(t, guard, 1, map[string]int{"n": 1}))

	err := s.h.Table.Transact(t.Context(), []table.Write{
		table.Put(s.item(t, k, 1, map[string]int{"n": 2}), table.VersionIs(1)),
		table.Check(guard, table.VersionIs(2)),
	})
	wantConflict(t, err, 1, guard)
	s.wantStored(t, s.item(t, k, 1, map[string]int{"n": 1}))

	err = s.h.Table.Transact(t.Context(), []table.Write{
		table.Check(s.key("C", "nothing"), table.Cond{Kind: table.IfExists}),
		table.Put(s.item(t, k, 1, map[string]int{"n": 2}), table.VersionIs(1)),
	})
	wantConflict(t, err, 0, s.key("C", "nothing"))
	s.wantStored(t, s.item(t, k, 1, map[string]int{"n": 1}))
}

func testTransactMixed(t *testing.T, s *suite) {
	old, moved := s.key("M", "old"), s.key("M", "new")
	s.put(t, s.item(t, old, 0, map[string]string{"where": "old"}), table.Cond{Kind: table.Always})
	s.transact(t,
		table.Delete(old, table.VersionIs(1)),
		table.Put(s.item(t, moved, 0, map[string]string{"where": "new"}), table.Cond{Kind: table.IfAbsent}),
	)
	s.wantAbsent(t, old)
	s.wantStored(t, s.item(t, moved, 1, map[string]string{"where": "new"}))
}

// testRefuses checks that malformed calls fail the same way on every engine: an error that is
// not a conflict, a miss or a bad cursor, and nothing written.
func testRefuses(t *testing.T, s *suite) {
	ok := s.key("R", "ok")
	good := s.item(t, ok, 0, map[string]int{"n": 1})
	withData := func(k table.Key, data string) table.Item {
		return table.Item{Key: k, Data: json.RawMessage(data)}
	}
	var tooMany []table.Write
	for i := range table.MaxTransactItems + 1 {
		tooMany = append(tooMany, table.Put(s.item(t, s.key("R", sk(i)), 0, map[string]int{"i": i}), table.Cond{Kind: table.Always}))
	}
	always := table.Cond{Kind: table.Always}
	cases := []struct {
		name string
		call func() error
	}{
		{"GetEmptyPK", func() error { _, err := s.h.Table.Get(t.Context(), table.Key{SK: "x"}); return err }},
		{"GetEmptySK", func() error { _, err := s.h.Table.Get(t.Context(), table.Key{PK: ok.PK}); return err }},
		{"PutEmptyPK", func() error { return s.h.Table.Put(t.Context(), withData(table.Key{SK: "x"}, `{}`), always) }},
		{"PutEmptySK", func() error { return s.h.Table.Put(t.Context(), withData(table.Key{PK: ok.PK}, `{}`), always) }},
		{"PutNULInKey", func() error { return s.h.Table.Put(t.Context(), withData(s.key("R", "a\x00b"), `{}`), always) }},
		{"PutNoData", func() error { return s.h.Table.Put(t.Context(), table.Item{Key: ok}, always) }},
		{"PutDataArray", func() error { return s.h.Table.Put(t.Context(), withData(ok, `[1]`), always) }},
		{"PutDataString", func() error { return s.h.Table.Put(t.Context(), withData(ok, `"s"`), always) }},
		{"PutDataNull", func() error { return s.h.Table.Put(t.Context(), withData(ok, `null`), always) }},
		{"PutDataMalformed", func() error { return s.h.Table.Put(t.Context(), withData(ok, `{"a":`), always) }},
		{"PutReservedPK", func() error { return s.h.Table.Put(t.Context(), withData(ok, `{"pk":"x"}`), always) }},
		{"PutReservedSK", func() error { return s.h.Table.Put(t.Context(), withData(ok, `{"sk":"x"}`), always) }},
		{"PutReservedVersion", func() error { return s.h.Table.Put(t.Context(), withData(ok, `{"v":1}`), always) }},
		// DynamoDB refuses index keys of the wrong type or empty; the other engines must too.
		{"PutIndexKeyNumber", func() error {
			return s.h.Table.Put(t.Context(), withData(ok, `{"`+s.all.HashKey+`":5,"`+s.all.RangeKey+`":"x"}`), always)
		}},
		{"PutIndexKeyEmpty", func() error {
			return s.h.Table.Put(t.Context(), withData(ok, `{"`+s.all.HashKey+`":"`+s.ns+`","`+s.all.RangeKey+`":""}`), always)
		}},
		{"PutIndexKeyNull", func() error {
			return s.h.Table.Put(t.Context(), withData(ok, `{"`+s.keysOnly.HashKey+`":null}`), always)
		}},
		{"PutUnknownCond", func() error { return s.h.Table.Put(t.Context(), good, table.Cond{Kind: 99}) }},
		{"DeleteEmptyPK", func() error { return s.h.Table.Delete(t.Context(), table.Key{SK: "x"}, always) }},
		{"TransactEmpty", func() error { return s.h.Table.Transact(t.Context(), nil) }},
		{"TransactTooMany", func() error { return s.h.Table.Transact(t.Context(), tooMany) }},
		{"TransactDuplicateKey", func() error {
			return s.h.Table.Transact(t.Context(), []table.Write{table.Put(good, always), table.Delete(ok, always)})
		}},
		{"TransactBadData", func() error {
			return s.h.Table.Transact(t.Context(), []table.Write{table.Put(good, always), table.Put(withData(s.key("R", "b"), `{"v":2}`), always)})
		}},
		{"TransactUnknownOp", func() error {
			return s.h.Table.Transact(t.Context(), []table.Write{table.Put(good, always), {Op: 99, Item: s.item(t, s.key("R", "b"), 0, map[string]int{})}})
		}},
		{"QueryNoPK", func() error { _, err := s.h.Table.Query(t.Context(), table.Query{}); return err }},
		{"QueryPrefixAndRange", func() error {
			_, err := s.h.Table.Query(t.Context(), table.Query{PK: ok.PK, Prefix: "a", From: "a"})
			return err
		}},
		{"QueryRangeReversed", func() error {
			_, err := s.h.Table.Query(t.Context(), table.Query{PK: ok.PK, From: "b", To: "a"})
			return err
		}},
		{"QueryNegativeLimit", func() error { _, err := s.h.Table.Query(t.Context(), table.Query{PK: ok.PK, Limit: -1}); return err }},
		{"QueryLimitTooLarge", func() error { _, err := s.h.Table.Query(t.Context(), table.Query{PK: ok.PK, Limit: 1001}); return err }},
		{"QueryUnknownIndex", func() error {
			_, err := s.h.Table.Query(t.Context(), table.Query{Index: "NoSuchIndex", PK: ok.PK})
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantRefused(t, c.call())
			s.wantAbsent(t, ok, s.key("R", "b"), s.key("R", sk(0)))
		})
	}
	mark := s.mark(t, ok)
	got, _ := s.readFeed(t, "", 1000, markSeen(mark))
	wantChanges(t, got, [][]table.Change{{insert(mark)}})
}

// sk names the i-th of a few sort keys so they sort as numbers.
func sk(i int) string { return string(rune('A'+i/10)) + string(rune('0'+i%10)) }

// testConcurrent has writers race on one counter with optimistic locking: every increment
// must land exactly once, whatever the engine does to serialise writers.
func testConcurrent(t *testing.T, s *suite) {
	const writers = 20
	k := s.key("N", "counter")
	s.put(t, s.item(t, k, 0, counter{}), table.VersionIs(0))
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() { errs <- increment(t.Context(), s.h.Table, k) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s.wantStored(t, s.item(t, k, writers+1, counter{N: writers}))
}

type counter struct {
	N int `json:"n"`
}

func increment(ctx context.Context, tb table.Table, k table.Key) error {
	for range 1000 {
		it, err := tb.Get(ctx, k)
		if err != nil {
			return err
		}
		var c counter
		if err := it.Decode(&c); err != nil {
			return err
		}
		c.N++
		next, err := table.NewItem(k, it.Version, c)
		if err != nil {
			return err
		}
		err = tb.Put(ctx, next, table.VersionIs(it.Version))
		if !errors.Is(err, table.ErrConflict) {
			return err
		}
	}
	return errors.New("increment: still conflicting after 1000 tries")
}
