package policy

import (
	"context"
	"time"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/ttlcache"
)

// CacheTTL is how long a Cache keeps a tenant's timeline.
const CacheTTL = 30 * time.Second

// Source reads a tenant's timeline (Store).
type Source interface {
	Timeline(ctx context.Context, tenantID string) (Timeline, error)
}

// Cache keeps each tenant's timeline for CacheTTL, so that the login gate costs no policy
// read on most calls. A stale timeline cannot change a reconsent answer: a version takes
// effect at least the notice period (days) after it is published, far beyond CacheTTL, and
// the rule is evaluated at the caller's now. A consent naming a version the cached timeline
// does not hold reads again, so a version is accepted as soon as it is published (and an
// unknown one costs a read each time: a Query of the tenant's versions).
type Cache struct {
	src     Source
	tenants *ttlcache.Cache[string, Timeline]
}

// maxCached bounds the cache; when full it is emptied, which costs only reads.
const maxCached = 10_000

// NewCache returns a cache over src.
func NewCache(src Source, clk clock.Clock) *Cache {
	return &Cache{src: src, tenants: ttlcache.New[string, Timeline](clk, maxCached)}
}

// Timeline returns the tenant's timeline, read at most CacheTTL ago.
func (c *Cache) Timeline(ctx context.Context, tenantID string) (Timeline, error) {
	return c.get(ctx, tenantID, CacheTTL)
}

// Published tells whether the tenant has published version, and whether it has published
// any version at all.
func (c *Cache) Published(ctx context.Context, tenantID, version string) (published, any bool, err error) {
	tl, err := c.Timeline(ctx, tenantID)
	if err != nil {
		return false, false, err
	}
	if _, ok := tl.Find(version); !ok {
		if tl, err = c.get(ctx, tenantID, 0); err != nil {
			return false, false, err
		}
	}
	_, ok := tl.Find(version)
	return ok, tl.Any(), nil
}

func (c *Cache) get(ctx context.Context, tenantID string, maxAge time.Duration) (Timeline, error) {
	if tl, ok := c.tenants.Get(tenantID, maxAge); ok {
		return tl, nil
	}
	tl, err := c.src.Timeline(ctx, tenantID)
	if err != nil {
		return Timeline{}, err
	}
	c.tenants.Put(tenantID, tl)
	return tl, nil
}
