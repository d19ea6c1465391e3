package tenant

import (
	"context"
	"errors"
	"time"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/ttlcache"
)

// CacheTTL is how long a process keeps a tenant's settings. Purposes, periods and limits
// change rarely, and the login gate must cost one read, not two: a change reaches every
// Lambda instance within this time.
const CacheTTL = 30 * time.Second

// Reader reads a tenant's settings; Store and Cache are readers.
type Reader interface {
	Get(ctx context.Context, id string) (Tenant, error)
}

// maxCached bounds each cache; when full it is emptied, which costs only reads.
const maxCached = 10_000

// Cache keeps tenants' settings in the process for CacheTTL. One cache serves a function's
// HTTP layer and its domain service, so a request reads each tenant at most once per TTL.
// Unknown tenants are not cached: a name never seen costs a read each time, as before.
type Cache struct {
	src Reader
	m   *ttlcache.Cache[string, Tenant]
}

// NewCache returns a cache in front of src, timed by clk.
func NewCache(src Reader, clk clock.Clock) *Cache {
	return &Cache{src: src, m: ttlcache.New[string, Tenant](clk, maxCached)}
}

// Get returns a tenant's settings, from the cache while they are fresh. Errors: ErrNotFound.
func (c *Cache) Get(ctx context.Context, id string) (Tenant, error) {
	if t, ok := c.m.Get(id, CacheTTL); ok {
		return t, nil
	}
	t, err := c.src.Get(ctx, id)
	if err != nil {
		return Tenant{}, err
	}
	c.m.Put(id, t)
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
