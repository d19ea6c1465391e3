package dynamo_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/example/gdpr/internal/table"
)

// readFeed follows the feed from after until it has nothing more, limit changes at a time.
func readFeed(t *testing.T, f table.Feed, after string, limit int) ([]table.Change, string) {
	t.Helper()
	var all []table.Change
	for range 100 {
		changes, next, err := f.Read(context.Background(), after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) > limit {
			t.Fatalf("read %d changes, limit %d", len(changes), limit)
		}
		after = next
		if len(changes) == 0 {
			return all, after
		}
		all = append(all, changes...)
	}
	t.Fatal("the feed does not end")
	return nil, ""
}

// summary describes changes as "EVENT sk old-version>new-version", one per change.
func summary(changes []table.Change) string {
	var s []string
	for _, c := range changes {
		line := c.Event + " " + c.Key.SK + " "
		if c.Old != nil {
			line += string(rune('0' + c.Old.Version))
		}
		line += ">"
		if c.New != nil {
			line += string(rune('0' + c.New.Version))
		}
		s = append(s, line)
	}
	return strings.Join(s, "; ")
}

func (e *env) testFeed(t *testing.T) {
	ctx := context.Background()
	// Earlier subtests wrote to the same table: start after them.
	_, start := readFeed(t, e.feed, "", 1000)
	if start == "" {
		t.Fatal("a feed that delivered changes gave no position")
	}

	p := pk(t, "S")
	a, b, c := table.Key{PK: p, SK: "A"}, table.Key{PK: p, SK: "B"}, table.Key{PK: p, SK: "C"}
	data := `{"name":"x","n":12345678901234567890,"l":[true,null,{"k":"v"}]}`
	if err := e.table.Put(ctx, table.Item{Key: a, Data: json.RawMessage(data)}, table.VersionIs(0)); err != nil {
		t.Fatal(err)
	}
	if err := e.table.Put(ctx, table.Item{Key: a, Version: 1, Data: json.RawMessage(`{"n":2}`)}, table.VersionIs(1)); err != nil {
		t.Fatal(err)
	}
	if err := e.table.Delete(ctx, a, table.VersionIs(2)); err != nil {
		t.Fatal(err)
	}
	err := e.table.Transact(ctx, []table.Write{
		table.Put(table.Item{Key: b, Data: json.RawMessage(`{"b":1}`)}, table.VersionIs(0)),
		table.Put(table.Item{Key: c, Data: json.RawMessage(`{"c":1}`)}, table.VersionIs(0)),
		table.Check(a, table.Cond{Kind: table.IfAbsent}),
	})
	if err != nil {
		t.Fatal(err)
	}
	// A cancelled transaction leaves nothing in the feed.
	err = e.table.Transact(ctx, []table.Write{
		table.Put(table.Item{Key: a, Data: json.RawMessage(`{}`)}, table.VersionIs(0)),
		table.Check(b, table.Cond{Kind: table.IfAbsent}),
	})
	if !errors.Is(err, table.ErrConflict) {
		t.Fatalf("err = %v, want a conflict", err)
	}

	want := "INSERT A >1; MODIFY A 1>2; REMOVE A 2>; INSERT B >1; INSERT C >1"
	changes, end := readFeed(t, e.feed, start, 100)
	if got := summary(changes); got != want {
		t.Fatalf("changes = %s, want %s", got, want)
	}

	t.Run("Images", func(t *testing.T) {
		ins, mod, rem := changes[0], changes[1], changes[2]
		if ins.Key != a || ins.Old != nil || ins.New.Key != a {
			t.Fatalf("insert = %+v", ins)
		}
		sameJSON(t, ins.New.Data, []byte(data))
		sameJSON(t, mod.Old.Data, []byte(data))
		sameJSON(t, mod.New.Data, []byte(`{"n":2}`))
		if rem.New != nil || rem.Old.Key != a {
			t.Fatalf("remove = %+v", rem)
		}
		sameJSON(t, rem.Old.Data, []byte(`{"n":2}`))
		for _, c := range changes {
			if c.At.IsZero() {
				t.Fatalf("change %s %s has no time", c.Event, c.Key)
			}
		}
	})

	t.Run("Resume", func(t *testing.T) {
		// Every change's Seq is the position just after it.
		for i, c := range changes {
			rest, _ := readFeed(t, e.feed, c.Seq, 100)
			if got, want := summary(rest), summary(changes[i+1:]); got != want {
				t.Fatalf("after change %d: %s, want %s", i, got, want)
			}
		}
		if got, want := changes[len(changes)-1].Seq, end; got != want {
			t.Fatalf("last change's Seq = %s, want the end position %s", got, want)
		}
	})

	t.Run("Limit", func(t *testing.T) {
		got, _ := readFeed(t, e.feed, start, 2)
		if got := summary(got); got != want {
			t.Fatalf("changes = %s, want %s", got, want)
		}
	})

	t.Run("AtEnd", func(t *testing.T) {
		got, next, err := e.feed.Read(ctx, end, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 || next != end {
			t.Fatalf("read at the end: %d changes, position %q, want none and %q", len(got), next, end)
		}
	})

	t.Run("FromStart", func(t *testing.T) {
		all, _ := readFeed(t, e.feed, "", 1000)
		if got := summary(all); !strings.HasSuffix(got, want) {
			t.Fatalf("the whole feed ends with %s, want %s", got, want)
		}
	})

	t.Run("BadPosition", func(t *testing.T) {
		enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		for _, pos := range []string{"!!", enc("{"), enc(`{"x":1}`), enc(`{"l":{"s":1}}`), enc(`{} {}`)} {
			if _, _, err := e.feed.Read(ctx, pos, 10); !errors.Is(err, table.ErrBadCursor) {
				t.Fatalf("position %q: err = %v, want ErrBadCursor", pos, err)
			}
		}
	})
}
