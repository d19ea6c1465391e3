package gdprd

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/example/gdpr/internal/table"
)

// TestSweep: the embedded table's TTL runs by the server's clock, and the change feed is
// trimmed of what no stream function still needs.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	// Without its stream functions, nothing reads the feed and the sweep may trim it all.
	var noStreams []Function
	for _, f := range Functions {
		if f.Stream == nil {
			noStreams = append(noStreams, f)
		}
	}
	s, err := New(ctx, Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Env: func(string) string { return "" }, Functions: noStreams})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.listener.Close()
		s.run.Close()
	})
	p := s.Ports()
	now := s.clock.Now()
	put := func(sk string, ttl time.Time) table.Key {
		t.Helper()
		it, err := table.NewItem(table.Key{PK: "TTLTEST", SK: sk}, 0, map[string]any{table.AttrTTL: ttl.Unix()})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Table.Put(ctx, it, table.Cond{}); err != nil {
			t.Fatal(err)
		}
		return it.Key
	}
	soon := put("soon", now.Add(time.Hour))
	later := put("later", now.Add(48*time.Hour))

	s.sweep(ctx)
	if _, err := p.Table.Get(ctx, soon); err != nil {
		t.Fatalf("item swept before its time: %v", err)
	}
	s.clock.Set(now.Add(2 * time.Hour))
	s.sweep(ctx)
	if _, err := p.Table.Get(ctx, soon); !errors.Is(err, table.ErrNotFound) {
		t.Fatalf("expired item: err = %v, want not found", err)
	}
	if _, err := p.Table.Get(ctx, later); err != nil {
		t.Fatalf("unexpired item: %v", err)
	}
	// No stream function reads the feed: the sweep trimmed it all.
	changes, _, err := p.Feed.Read(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 0 {
		b, _ := json.Marshal(changes[0].Key)
		t.Fatalf("%d changes left in the feed, first %s", len(changes), b)
	}
}
