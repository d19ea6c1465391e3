package expiry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/table"
)

type entity struct {
	Name string `json:"name"`
	expiry.Attrs
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	db := sqlitetest.MustOpen(t)

	day0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	put := func(sk string, a expiry.Attrs) table.Key {
		t.Helper()
		k := table.Key{PK: "T#acme#S#u-1", SK: sk}
		it, err := table.NewItem(k, 0, entity{Name: sk, Attrs: a})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Put(ctx, it, table.Cond{}); err != nil {
			t.Fatal(err)
		}
		return k
	}
	k := func(sk string) table.Key { return table.Key{PK: "T#acme#S#u-1", SK: sk} }
	early := put("DEV#1", expiry.At("acme", "devices", k("DEV#1"), day0.Add(24*time.Hour)))
	late := put("DEV#2", expiry.At("acme", "devices", k("DEV#2"), day0.Add(72*time.Hour)))
	due := put("DUE#1", expiry.Deadline("acme", "deadlines", k("DUE#1"), day0.Add(48*time.Hour)))
	other := put("DEV#9", expiry.At("beta", "devices", k("DEV#9"), day0.Add(time.Hour)))

	// The owner acts once per deadline, as owners must: a sweep re-reads the day it stopped in,
	// so a deadline of that day may be handed over again.
	var handed []table.Key
	acted := map[table.Key]bool{}
	sw := expiry.Sweeper{Table: db, Deadlines: map[string]expiry.DeadlineFunc{
		"deadlines": func(_ context.Context, tenant string, key table.Key, _ time.Time) (bool, error) {
			handed = append(handed, key)
			first := !acted[key]
			acted[key] = true
			return first && tenant == "acme", nil
		},
	}}
	exists := func(k table.Key) bool {
		_, err := db.Get(ctx, k)
		return !errors.Is(err, table.ErrNotFound)
	}

	rep, err := sw.Sweep(ctx, "acme", day0, day0.Add(50*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep.Deleted["devices"], 1; got != want || exists(early) || !exists(late) {
		t.Fatalf("deleted %d (early kept %v, late kept %v), want only the expired one", got, exists(early), exists(late))
	}
	if len(handed) != 1 || handed[0] != due || rep.Expired["deadlines"] != 1 || !exists(due) {
		t.Fatalf("deadline: handed %v, report %v; want it handed once and kept", handed, rep.Expired)
	}
	if !exists(other) {
		t.Fatal("another tenant's item was swept")
	}

	// The next run goes on from its checkpoint: the late item goes when its time comes, and a
	// deadline already acted on is not counted again.
	rep, err = sw.Sweep(ctx, "acme", day0, day0.Add(80*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Expired["deadlines"] != 0 || rep.Deleted["devices"] != 1 || exists(late) {
		t.Fatalf("second run: report %v, late kept %v", rep, exists(late))
	}
	// Days before the checkpoint are not read again.
	handed = nil
	if _, err := sw.Sweep(ctx, "acme", day0, day0.Add(150*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if len(handed) != 0 {
		t.Fatalf("a deadline of a finished day was handed over again")
	}

	// A kind with a deadline and no owner stops the sweep, before its checkpoint moves.
	put("ODD#1", expiry.Deadline("acme", "unowned", k("ODD#1"), day0.Add(200*time.Hour)))
	if _, err := sw.Sweep(ctx, "acme", day0, day0.Add(201*time.Hour)); err == nil {
		t.Fatal("a deadline without an owner was ignored")
	}
}

// TestSweepStopsInTime: a sweep near its context's deadline stops, says it did not finish,
// and the next one goes on from the day it stopped in, so every item is handed over once
// the owner has acted on it, and the days finished are not read again.
func TestSweepStopsInTime(t *testing.T) {
	ctx := context.Background()
	db := sqlitetest.MustOpen(t)
	day0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var keys []table.Key
	for d := range 4 {
		for i := range 3 {
			k := table.Key{PK: "T#acme#S#u-1", SK: fmt.Sprintf("DUE#%d#%d", d, i)}
			it, err := table.NewItem(k, 0, entity{Name: "x", Attrs: expiry.Deadline("acme", "due", k, day0.AddDate(0, 0, d).Add(time.Duration(i)*time.Minute))})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Put(ctx, it, table.Cond{}); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
	}
	acted := map[table.Key]int{}
	sw := expiry.Sweeper{Table: db, Margin: 100 * time.Millisecond, Owners: map[string]expiry.Handoff{
		"due": func(_ context.Context, _ string, k table.Key, _ time.Time) (string, error) {
			time.Sleep(40 * time.Millisecond)
			if acted[k] > 0 {
				return "", nil // acted on already: a real owner's condition fails
			}
			acted[k]++
			return "acted", nil
		},
	}}
	now := day0.AddDate(0, 0, 4)
	short, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	defer cancel()
	rep, err := sw.Sweep(short, "acme", day0, now)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Finished || rep.Done["acted"] == 0 || rep.Done["acted"] >= len(keys) {
		t.Fatalf("short run: %+v, want some acted on and not finished", rep)
	}
	first := rep.Done["acted"]
	rep, err = sw.Sweep(ctx, "acme", day0, now)
	if err != nil || !rep.Finished {
		t.Fatalf("next run: %+v, %v", rep, err)
	}
	if first+rep.Done["acted"] != len(keys) {
		t.Fatalf("acted on %d then %d, want %d in all", first, rep.Done["acted"], len(keys))
	}
	for _, k := range keys {
		if acted[k] != 1 {
			t.Fatalf("%s acted on %d times", k.SK, acted[k])
		}
	}
}
