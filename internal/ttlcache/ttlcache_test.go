package ttlcache_test

import (
	"testing"
	"time"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/ttlcache"
)

func TestCache(t *testing.T) {
	clk := &clock.Settable{Frozen: true}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clk.Set(t0)
	c := ttlcache.New[string, int](clk, 2)
	if _, ok := c.Get("a", time.Minute); ok {
		t.Fatal("a value before any put")
	}
	c.Put("a", 1)
	if v, ok := c.Get("a", time.Minute); !ok || v != 1 {
		t.Fatalf("Get = %v, %v", v, ok)
	}
	if _, ok := c.Get("a", 0); ok {
		t.Fatal("fresh with a max age of 0")
	}
	clk.Set(t0.Add(time.Minute))
	if _, ok := c.Get("a", time.Minute); ok {
		t.Fatal("fresh at its max age")
	}
	clk.Set(t0.Add(-time.Second))
	if _, ok := c.Get("a", time.Hour); ok {
		t.Fatal("fresh with the clock set back before the put")
	}
	clk.Set(t0)
	c.Put("b", 2)
	c.Put("c", 3) // full at two: emptied first
	if _, ok := c.Get("a", time.Minute); ok {
		t.Fatal("a full cache was not emptied")
	}
	if v, ok := c.Get("c", time.Minute); !ok || v != 3 {
		t.Fatalf("Get(c) = %v, %v", v, ok)
	}
}
