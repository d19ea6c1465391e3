// Package ttlcache keeps values a process read from the table for a short time (a tenant's
// settings, its policy timeline, a resolved API key), so that a warm Lambda instance does not
// read them on every call. It holds the one freshness rule they share.
package ttlcache

import (
	"sync"
	"time"

	"github.com/example/gdpr/internal/clock"
)

// Cache maps keys to values, each fresh for a while after it was put. When it holds max
// entries it is emptied, which costs only reads again.
type Cache[K comparable, V any] struct {
	clock clock.Clock
	max   int
	mu    sync.Mutex
	m     map[K]entry[V]
}

type entry[V any] struct {
	v  V
	at time.Time
}

// New returns a cache of at most max entries, timed by clk.
func New[K comparable, V any](clk clock.Clock, max int) *Cache[K, V] {
	return &Cache[K, V]{clock: clk, max: max, m: map[K]entry[V]{}}
}

// Get returns the value put for k less than maxAge ago. A clock set back before the put
// (tests, /_local/clock) makes the entry stale rather than eternal.
func (c *Cache[K, V]) Get(k K, maxAge time.Duration) (V, bool) {
	now := c.clock.Now()
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < maxAge && !now.Before(e.at) {
		return e.v, true
	}
	var zero V
	return zero, false
}

// Put keeps v for k from now.
func (c *Cache[K, V]) Put(k K, v V) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = entry[V]{v: v, at: now}
}
