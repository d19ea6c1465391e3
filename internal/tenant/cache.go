package tenant

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/example/gdpr/internal/clock"
)

// CacheTTL is how long a process keeps a tenant's settings. Purposes, periods and limits
// change rarely, and the login gate must cost one read, not two: a change reaches every
// Lambda instance within this time.
const CacheTTL = 30 * time.Second

// Reader reads a tenant's settings; Store and Cache are readers.
type Reader interface {
	Get(ctx context.Context, id string) (Tenant, error)
}

// Cache keeps tenants' settings in the process for CacheTTL. One cache serves a function's
// HTTP layer and its domain service, so a request reads each tenant at most once per TTL.
// Unknown tenants are not cached: a name never seen costs a read each time, as before.
type Cache struct {
	src   Reader
	clock clock.Clock
	mu    sync.Mutex
	m     map[string]cached
}

type cached struct {
	t       Tenant
	fetched time.Time
}

// NewCache returns a cache in front of src, timed by clk.
func NewCache(src Reader, clk clock.Clock) *Cache {
	return &Cache{src: src, clock: clk, m: map[string]cached{}}
}

// Get returns a tenant's settings, from the cache while they are fresh. Errors: ErrNotFound.
func (c *Cache) Get(ctx context.Context, id string) (Tenant, error) {
	now := c.clock.Now()
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	// A clock set back (tests, /_local/clock) makes an entry stale rather than eternal.
	if ok && now.Sub(e.fetched) < CacheTTL && !now.Before(e.fetched) {
		return e.t, nil
	}
	t, err := c.src.Get(ctx, id)
	if err != nil {
		return Tenant{}, err
	}
	c.mu.Lock()
	c.m[id] = cached{t: t, fetched: now}
	c.mu.Unlock()
	return t, nil
}

// Exists tells whether a tenant exists.
func (c *Cache) Exists(ctx context.Context, id string) (bool, error) {
	return exists(c.Get(ctx, id))
}

func exists(_ Tenant, err error) (bool, error) {
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
