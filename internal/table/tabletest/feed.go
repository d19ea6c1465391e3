package tabletest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/table"
)

// The feed promises each change at least once, and DynamoDB Streams keeps that promise loosely:
// moto emits two identical records for some single writes. So the suite drops a change that
// repeats the previous change of the same key in every field but Seq (no write can produce
// that twice in a row, since every write bumps the version), and fails on anything missing,
// reordered or extra. A repeated Seq is never tolerated: that would be the reader going back.
//
// The feed of a shared table carries every subtest's writes; each subtest keeps only changes
// to its own keys. The feed subtests write to one partition, because DynamoDB Streams orders
// the changes of one partition and no more; writes of one transaction may come in any order.

const feedWait = 10 * time.Second

// readFeed reads the feed from after, limit changes per call, until until holds for this
// subtest's changes read so far, and returns them with the position reached.
func (s *suite) readFeed(t *testing.T, after string, limit int, until func([]table.Change) bool) ([]table.Change, string) {
	t.Helper()
	var (
		mine     []table.Change
		seen     = map[string]bool{}
		last     = map[table.Key]table.Change{}
		deadline = time.Now().Add(feedWait)
	)
	pos := after
	for {
		cs, next, err := s.h.Feed.Read(t.Context(), pos, limit)
		if err != nil {
			t.Fatalf("Feed.Read(%q, %d): %v", pos, limit, err)
		}
		if len(cs) > limit {
			t.Fatalf("Feed.Read(%q, %d) returned %d changes", pos, limit, len(cs))
		}
		for _, c := range cs {
			if c.Seq == "" || seen[c.Seq] {
				t.Fatalf("change %s %s has an empty or repeated Seq %q", c.Event, c.Key, c.Seq)
			}
			seen[c.Seq] = true
			if !strings.HasPrefix(c.Key.PK, s.ns) {
				continue
			}
			if prev, ok := last[c.Key]; ok && sameChange(prev, c) {
				continue
			}
			last[c.Key] = c
			mine = append(mine, c)
		}
		if len(cs) > 0 {
			pos = next
			continue
		}
		if next != pos && next != "" {
			pos = next
		}
		if until(mine) {
			return mine, pos
		}
		if time.Now().After(deadline) {
			t.Fatalf("feed: condition not met after %s; read %s", feedWait, describe(mine))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mark writes an item next to near, in the same partition, whose INSERT tells a reader of the
// feed that every earlier write of that partition has been read.
func (s *suite) mark(t *testing.T, near table.Key) table.Item {
	t.Helper()
	it := s.item(t, table.Key{PK: near.PK, SK: "~mark"}, 0, map[string]bool{"mark": true})
	s.put(t, it, table.VersionIs(0))
	it.Version = 1
	return it
}

func markSeen(mark table.Item) func([]table.Change) bool {
	return func(cs []table.Change) bool {
		for _, c := range cs {
			if c.Key == mark.Key && c.Event == table.EventInsert {
				return true
			}
		}
		return false
	}
}

func insert(it table.Item) table.Change {
	return table.Change{Event: table.EventInsert, Key: it.Key, New: &it}
}

func modify(old, new table.Item) table.Change {
	return table.Change{Event: table.EventModify, Key: new.Key, Old: &old, New: &new}
}

func remove(old table.Item) table.Change {
	return table.Change{Event: table.EventRemove, Key: old.Key, Old: &old}
}

func sameChange(a, b table.Change) bool {
	return a.Event == b.Event && a.Key == b.Key && sameImage(a.Old, b.Old) && sameImage(a.New, b.New)
}

func sameImage(a, b *table.Item) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Key == b.Key && a.Version == b.Version && sameJSON(a.Data, b.Data)
}

// wantChanges checks got against groups of changes: the groups in order, the changes of one
// group (one transaction) in any order.
func wantChanges(t *testing.T, got []table.Change, groups [][]table.Change) {
	t.Helper()
	var n int
	for _, g := range groups {
		n += len(g)
	}
	if len(got) != n {
		t.Fatalf("feed holds %s; want %d changes", describe(got), n)
	}
	i := 0
	for _, g := range groups {
		part := got[i : i+len(g)]
		used := make([]bool, len(part))
		for _, w := range g {
			found := false
			for j, c := range part {
				if !used[j] && sameChange(c, w) {
					used[j], found = true, true
					break
				}
			}
			if !found {
				t.Fatalf("feed holds %s; want %s at %d", describe(got), describe([]table.Change{w}), i)
			}
		}
		for _, c := range part {
			if c.At.IsZero() {
				t.Fatalf("change %s %s has no time", c.Event, c.Key)
			}
		}
		i += len(g)
	}
}

func describe(cs []table.Change) string {
	var b strings.Builder
	b.WriteString("[")
	for i, c := range cs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", c.Event, c.Key.SK)
		for _, im := range []*table.Item{c.Old, c.New} {
			if im != nil {
				fmt.Fprintf(&b, " v%d %s", im.Version, im.Data)
			} else {
				b.WriteString(" -")
			}
		}
	}
	b.WriteString("]")
	return b.String()
}

func testFeedWrites(t *testing.T, s *suite) {
	ctx := t.Context()
	a, b, c := s.key("F", "a"), s.key("F", "b"), s.key("F", "c")
	a1 := s.item(t, a, 0, map[string]int{"n": 1})
	a2 := s.item(t, a, 1, map[string]int{"n": 2})
	b1 := s.item(t, b, 0, map[string]string{"b": "é"})
	a3 := s.item(t, a, 0, map[string]int{"n": 3})

	s.put(t, a1, table.VersionIs(0))
	s.put(t, a2, table.VersionIs(1))
	s.put(t, b1, table.Cond{Kind: table.Always})
	wantConflict(t, s.h.Table.Put(ctx, a1, table.VersionIs(0)), 0, a)
	wantConflict(t, s.h.Table.Put(ctx, b1, table.VersionIs(7)), 0, b)
	if err := s.h.Table.Delete(ctx, a, table.VersionIs(2)); err != nil {
		t.Fatal(err)
	}
	if err := s.h.Table.Delete(ctx, a, table.Cond{Kind: table.Always}); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, s.h.Table.Delete(ctx, c, table.Cond{Kind: table.IfExists}), 0, c)
	s.put(t, a3, table.Cond{Kind: table.IfAbsent})
	mark := s.mark(t, a)

	a1.Version, a2.Version, b1.Version, a3.Version = 1, 2, 1, 1
	got, _ := s.readFeed(t, "", 100, markSeen(mark))
	wantChanges(t, got, [][]table.Change{
		{insert(a1)},
		{modify(a1, a2)},
		{insert(b1)},
		{remove(a2)},
		{insert(a3)},
		{insert(mark)},
	})
}

func testFeedTransact(t *testing.T, s *suite) {
	k1, k2, k3, k4 := s.key("F", "1"), s.key("F", "2"), s.key("F", "3"), s.key("F", "4")
	one := s.item(t, k1, 0, map[string]int{"n": 1})
	two := s.item(t, k2, 0, map[string]int{"n": 2})
	s.put(t, one, table.Cond{Kind: table.Always})
	s.put(t, two, table.Cond{Kind: table.Always})
	oneNext := s.item(t, k1, 1, map[string]int{"n": 11})
	three := s.item(t, k3, 0, map[string]int{"n": 3})
	s.transact(t,
		table.Put(oneNext, table.VersionIs(1)),
		table.Delete(k2, table.Cond{Kind: table.Always}),
		table.Put(three, table.Cond{Kind: table.IfAbsent}),
		table.Check(k4, table.Cond{Kind: table.IfAbsent}),
	)
	err := s.h.Table.Transact(t.Context(), []table.Write{
		table.Put(s.item(t, k4, 0, map[string]int{"n": 4}), table.Cond{Kind: table.IfAbsent}),
		table.Delete(k3, table.Cond{Kind: table.Always}),
		table.Put(s.item(t, k1, 1, map[string]int{"n": 12}), table.VersionIs(1)),
	})
	wantConflict(t, err, 2, k1)
	mark := s.mark(t, k1)

	one.Version, two.Version, oneNext.Version, three.Version = 1, 1, 2, 1
	got, _ := s.readFeed(t, "", 100, markSeen(mark))
	wantChanges(t, got, [][]table.Change{
		{insert(one)},
		{insert(two)},
		{modify(one, oneNext), remove(two), insert(three)},
		{insert(mark)},
	})
}

func testFeedContinues(t *testing.T, s *suite) {
	var want [][]table.Change
	for i := range 5 {
		it := s.item(t, s.key("F", sk(i)), 0, map[string]int{"i": i})
		s.put(t, it, table.Cond{Kind: table.Always})
		it.Version = 1
		want = append(want, []table.Change{insert(it)})
	}
	mark := s.mark(t, s.key("F", ""))
	want = append(want, []table.Change{insert(mark)})

	var pos string
	for _, limit := range []int{1, 2, 1000} {
		var got []table.Change
		got, pos = s.readFeed(t, "", limit, markSeen(mark))
		wantChanges(t, got, want)
	}

	// From the position reached, the feed holds only what comes next.
	late := s.item(t, s.key("F", "late"), 0, map[string]bool{"late": true})
	s.put(t, late, table.Cond{Kind: table.Always})
	late.Version = 1
	got, _ := s.readFeed(t, pos, 1, func(cs []table.Change) bool { return len(cs) > 0 })
	wantChanges(t, got, [][]table.Change{{insert(late)}})
}
