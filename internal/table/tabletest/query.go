package tabletest

import (
	"encoding/base64"
	"errors"
	"slices"
	"testing"

	"github.com/example/gdpr/internal/table"
)

// querySKs are the sort keys of the queried partition, in the order every engine sorts them:
// by UTF-8 bytes, so upper case before lower case and "é" and "😀" after "z".
var querySKs = []string{"A#01", "A#02", "A#03", "B#01", "B#02", "C", "a", "z", "é", "😀"}

// seedQuery fills partition Q, and neighbours whose names start like it, which no query of Q
// may return.
func (s *suite) seedQuery(t *testing.T) {
	t.Helper()
	for i, sk := range querySKs {
		s.put(t, s.item(t, s.key("Q", sk), 0, map[string]int{"i": i}), table.Cond{Kind: table.Always})
	}
	for _, k := range []table.Key{s.key("Q2", "A#01"), s.key("Q2", "A#04"), s.key("QQ", "A#02"), s.key("P", "A#02")} {
		s.put(t, s.item(t, k, 0, map[string]string{"other": "partition"}), table.Cond{Kind: table.Always})
	}
}

func (s *suite) query(t *testing.T, q table.Query) table.Page {
	t.Helper()
	p, err := s.h.Table.Query(t.Context(), q)
	if err != nil {
		t.Fatalf("Query(%+v): %v", q, err)
	}
	return p
}

// queryAll pages through q and fails when paging does not end.
func (s *suite) queryAll(t *testing.T, q table.Query) []table.Item {
	t.Helper()
	var items []table.Item
	for range 1000 {
		p := s.query(t, q)
		if q.Limit > 0 && len(p.Items) > q.Limit {
			t.Fatalf("Query(%+v) returned %d items", q, len(p.Items))
		}
		items = append(items, p.Items...)
		if p.Next == "" {
			return items
		}
		q.Cursor = p.Next
	}
	t.Fatalf("Query(%+v) still has a next page after 1000 pages", q)
	return nil
}

func (s *suite) wantSKs(t *testing.T, items []table.Item, pk string, want ...string) {
	t.Helper()
	var keys []table.Key
	for _, sk := range want {
		keys = append(keys, s.key(pk, sk))
	}
	wantKeys(t, items, keys...)
}

func wantKeys(t *testing.T, items []table.Item, want ...table.Key) {
	t.Helper()
	got := make([]table.Key, len(items))
	for i, it := range items {
		got[i] = it.Key
	}
	if !slices.Equal(got, want) {
		t.Fatalf("keys = %v; want %v", got, want)
	}
}

func reversed(sks []string) []string {
	r := slices.Clone(sks)
	slices.Reverse(r)
	return r
}

func testQueryPrefix(t *testing.T, s *suite) {
	s.seedQuery(t)
	pk := s.ns + "Q"
	for _, c := range []struct {
		prefix string
		desc   bool
		want   []string
	}{
		{"A#", false, querySKs[0:3]},
		{"A#", true, reversed(querySKs[0:3])},
		{"B", false, querySKs[3:5]},
		{"A#02", false, querySKs[1:2]},
		{"é", false, querySKs[8:9]},
		{"", false, querySKs},
	} {
		p := s.query(t, table.Query{PK: pk, Prefix: c.prefix, Desc: c.desc})
		s.wantSKs(t, p.Items, "Q", c.want...)
		if p.Next != "" {
			t.Fatalf("prefix %q: Next = %q on the only page", c.prefix, p.Next)
		}
	}
	// Items come back whole.
	p := s.query(t, table.Query{PK: pk, Prefix: "B#02"})
	wantItem(t, p.Items[0], s.item(t, s.key("Q", "B#02"), 1, map[string]int{"i": 4}))
}

func testQueryRange(t *testing.T, s *suite) {
	s.seedQuery(t)
	pk := s.ns + "Q"
	for _, c := range []struct {
		from, to string
		desc     bool
		want     []string
	}{
		{"A#02", "B#01", false, querySKs[1:4]},
		{"A#02", "B#01", true, reversed(querySKs[1:4])},
		{"z", "", false, querySKs[7:]},
		{"", "A#02", false, querySKs[:2]},
		{"", "A#02", true, reversed(querySKs[:2])},
		{"A#015", "B#", false, querySKs[1:3]},
		{"C", "C", false, querySKs[5:6]},
		{"", "", true, reversed(querySKs)},
	} {
		p := s.query(t, table.Query{PK: pk, From: c.from, To: c.to, Desc: c.desc})
		s.wantSKs(t, p.Items, "Q", c.want...)
	}
}

func testQueryLimit(t *testing.T, s *suite) {
	s.seedQuery(t)
	pk := s.ns + "Q"
	p := s.query(t, table.Query{PK: pk, Limit: 3})
	s.wantSKs(t, p.Items, "Q", querySKs[:3]...)
	if p.Next == "" {
		t.Fatal("Next is empty with items left")
	}
	p = s.query(t, table.Query{PK: pk, Limit: 3, Desc: true})
	s.wantSKs(t, p.Items, "Q", reversed(querySKs)[:3]...)
	if p.Next == "" {
		t.Fatal("Next is empty with items left")
	}
	// A page that holds exactly what is left may or may not offer a next page (DynamoDB does),
	// but one with room to spare ends the query.
	for _, limit := range []int{0, len(querySKs) + 1} {
		p = s.query(t, table.Query{PK: pk, Limit: limit})
		s.wantSKs(t, p.Items, "Q", querySKs...)
		if p.Next != "" {
			t.Fatalf("limit %d: Next = %q on the last page", limit, p.Next)
		}
	}
}

func testQueryPaging(t *testing.T, s *suite) {
	s.seedQuery(t)
	pk := s.ns + "Q"
	for _, c := range []struct {
		q    table.Query
		want []string
	}{
		{table.Query{PK: pk}, querySKs},
		{table.Query{PK: pk, Prefix: "A#"}, querySKs[:3]},
		{table.Query{PK: pk, From: "A#02", To: "z"}, querySKs[1:8]},
	} {
		for _, limit := range []int{1, 2, 3, 4, 9, 10} {
			for _, desc := range []bool{false, true} {
				q := c.q
				q.Limit, q.Desc = limit, desc
				want := c.want
				if desc {
					want = reversed(want)
				}
				s.wantSKs(t, s.queryAll(t, q), "Q", want...)
			}
		}
	}
}

func testQueryNoMatch(t *testing.T, s *suite) {
	s.seedQuery(t)
	for _, q := range []table.Query{
		{PK: s.ns + "Q", Prefix: "Q#"},
		{PK: s.ns + "Q", Prefix: "A#011"},
		{PK: s.ns + "Q", From: "b", To: "c"},
		{PK: s.ns + "Q", From: "😀😀"},
		{PK: s.ns + "Q", To: "A#", Desc: true},
		{PK: s.ns + "empty"},
		{PK: s.ns + "empty", Index: s.all.Name},
		{PK: s.ns + "empty", Index: s.keysOnly.Name},
	} {
		p := s.query(t, q)
		if len(p.Items) != 0 || p.Next != "" {
			t.Fatalf("Query(%+v) = %d items, Next %q; want none", q, len(p.Items), p.Next)
		}
	}
}

func wantBadCursor(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, table.ErrBadCursor) {
		t.Fatalf("err = %v; want ErrBadCursor", err)
	}
}

func testQueryCursorGarbage(t *testing.T, s *suite) {
	s.seedQuery(t)
	for _, cursor := range []string{
		"!!!",
		"not a cursor",
		"AAAA",
		"e30",
		base64.StdEncoding.EncodeToString([]byte(`{"pk":"x","sk":"y"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{}`)),
		"\x00",
	} {
		_, err := s.h.Table.Query(t.Context(), table.Query{PK: s.ns + "Q", Cursor: cursor, Limit: 2})
		wantBadCursor(t, err)
	}
}

func testQueryCursorOther(t *testing.T, s *suite) {
	s.seedQuery(t)
	s.seedIndex(t)
	next := func(q table.Query) string {
		t.Helper()
		q.Limit = 1
		p := s.query(t, q)
		if p.Next == "" {
			t.Fatalf("Query(%+v) has no next page", q)
		}
		return p.Next
	}
	other := next(table.Query{PK: s.ns + "Q2"})
	table1 := next(table.Query{PK: s.ns + "Q"})
	index1 := next(table.Query{Index: s.all.Name, PK: s.ns + "G"})
	for _, c := range []struct {
		name   string
		q      table.Query
		cursor string
	}{
		{"OtherPartition", table.Query{PK: s.ns + "Q"}, other},
		{"TableOnIndex", table.Query{Index: s.all.Name, PK: s.ns + "G"}, table1},
		{"IndexOnTable", table.Query{PK: s.ns + "Q"}, index1},
		{"IndexOnOtherIndex", table.Query{Index: s.keysOnly.Name, PK: s.ns + "G"}, index1},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.q.Cursor = c.cursor
			_, err := s.h.Table.Query(t.Context(), c.q)
			wantBadCursor(t, err)
		})
	}
}

// seedIndex writes items into both indexes from two table partitions, and items that belong in
// neither: one without index attributes, one with an index hash key but no range key.
func (s *suite) seedIndex(t *testing.T) map[string]table.Item {
	t.Helper()
	all, ko := s.all, s.keysOnly
	g, g2, x := s.ns+"G", s.ns+"G2", s.ns+"X"
	items := map[string]table.Item{
		"I1": s.item(t, s.key("I", "1"), 0, map[string]any{all.HashKey: g, all.RangeKey: "2024-03", "n": 1}),
		"I2": s.item(t, s.key("I", "2"), 0, map[string]any{all.HashKey: g, all.RangeKey: "2024-01", "n": 2}),
		"I3": s.item(t, s.key("I", "3"), 0, map[string]any{all.HashKey: g, all.RangeKey: "2024-02", ko.HashKey: x, ko.RangeKey: "2024-06-01", "n": 3}),
		"I4": s.item(t, s.key("I", "4"), 0, map[string]any{ko.HashKey: x, ko.RangeKey: "2024-05-01", "n": 4, table.AttrTTL: 1717200000}),
		"I5": s.item(t, s.key("I", "5"), 0, map[string]any{all.HashKey: g, "n": 5}),
		"I6": s.item(t, s.key("I", "6"), 0, map[string]any{all.HashKey: g2, all.RangeKey: "2024-01", "n": 6}),
		"I7": s.item(t, s.key("I", "7"), 0, map[string]any{ko.HashKey: x, ko.RangeKey: "2024-07-01", "n": 7, "nested": map[string]int{"a": 1}}),
		"I8": s.item(t, s.key("I", "8"), 0, map[string]any{"n": 8}),
		"J1": s.item(t, s.key("J", "1"), 0, map[string]any{all.HashKey: g, all.RangeKey: "2024-04", "n": 9}),
	}
	for name, it := range items {
		s.put(t, it, table.Cond{Kind: table.Always})
		it.Version = 1
		items[name] = it
	}
	return items
}

func testQueryIndexAll(t *testing.T, s *suite) {
	items := s.seedIndex(t)
	q := table.Query{Index: s.all.Name, PK: s.ns + "G"}
	p := s.query(t, q)
	want := []table.Item{items["I2"], items["I3"], items["I1"], items["J1"]}
	if got, want := len(p.Items), len(want); got != want {
		t.Fatalf("%d items; want %d", got, want)
	}
	for i := range want {
		wantItem(t, p.Items[i], want[i])
	}
	keys := func(names ...string) []table.Key {
		var ks []table.Key
		for _, n := range names {
			ks = append(ks, items[n].Key)
		}
		return ks
	}
	q.Desc = true
	wantKeys(t, s.query(t, q).Items, keys("J1", "I1", "I3", "I2")...)
	wantKeys(t, s.query(t, table.Query{Index: s.all.Name, PK: s.ns + "G", From: "2024-02", To: "2024-03"}).Items, keys("I3", "I1")...)
	wantKeys(t, s.query(t, table.Query{Index: s.all.Name, PK: s.ns + "G", Prefix: "2024-0"}).Items, keys("I2", "I3", "I1", "J1")...)
	wantKeys(t, s.query(t, table.Query{Index: s.all.Name, PK: s.ns + "G2"}).Items, keys("I6")...)
	for _, desc := range []bool{false, true} {
		for _, limit := range []int{1, 3} {
			want := keys("I2", "I3", "I1", "J1")
			if desc {
				slices.Reverse(want)
			}
			wantKeys(t, s.queryAll(t, table.Query{Index: s.all.Name, PK: s.ns + "G", Limit: limit, Desc: desc}), want...)
		}
	}

	// Index sort keys may repeat, across table partitions too. DynamoDB does not say in what
	// order such items come, but paging must still return each of them once.
	var tied []table.Key
	for _, k := range []table.Key{s.key("T", "2"), s.key("T", "1"), s.key("T2", "1"), s.key("T", "3")} {
		s.put(t, s.item(t, k, 0, map[string]string{s.all.HashKey: s.ns + "tie", s.all.RangeKey: "same"}), table.Cond{Kind: table.Always})
		tied = append(tied, k)
	}
	for _, desc := range []bool{false, true} {
		got := s.queryAll(t, table.Query{Index: s.all.Name, PK: s.ns + "tie", Limit: 1, Desc: desc})
		var keys []table.Key
		for _, it := range got {
			keys = append(keys, it.Key)
		}
		if len(keys) != len(tied) || !containsAll(keys, tied) {
			t.Fatalf("desc %v: paging through tied items = %v; want each of %v once", desc, keys, tied)
		}
	}

	// Items leave the index when their index attributes go, and with them.
	s.put(t, s.item(t, items["I1"].Key, 1, map[string]int{"n": 1}), table.VersionIs(1))
	if err := s.h.Table.Delete(t.Context(), items["J1"].Key, table.Cond{Kind: table.Always}); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, s.query(t, table.Query{Index: s.all.Name, PK: s.ns + "G"}).Items, keys("I2", "I3")...)
}

// testQueryIndexKeysOnly pins what a KEYS_ONLY index returns: the table key and the index key
// attributes, no version and no other attribute.
func testQueryIndexKeysOnly(t *testing.T, s *suite) {
	items := s.seedIndex(t)
	ko := s.keysOnly
	x := s.ns + "X"
	projected := func(name, xsk string) table.Item {
		return s.item(t, items[name].Key, 0, map[string]string{ko.HashKey: x, ko.RangeKey: xsk})
	}
	want := []table.Item{projected("I4", "2024-05-01"), projected("I3", "2024-06-01"), projected("I7", "2024-07-01")}
	got := s.queryAll(t, table.Query{Index: ko.Name, PK: x, Limit: 2})
	if len(got) != len(want) {
		t.Fatalf("%d items; want %d", len(got), len(want))
	}
	for i := range want {
		wantItem(t, got[i], want[i])
	}
	p := s.query(t, table.Query{Index: ko.Name, PK: x, To: "2024-06-01", Desc: true})
	wantKeys(t, p.Items, items["I3"].Key, items["I4"].Key)
}

func containsAll(keys, want []table.Key) bool {
	for _, k := range want {
		if !slices.Contains(keys, k) {
			return false
		}
	}
	return true
}
