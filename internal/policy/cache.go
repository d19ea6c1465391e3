package policy

import (
	"context"
	"sync"
	"time"

	"github.com/example/gdpr/internal/clock"
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
	src   Source
	clock clock.Clock

	mu      sync.Mutex
	tenants map[string]cachedTimeline
}

type cachedTimeline struct {
	tl Timeline
	at time.Time
}

// NewCache returns a cache over src.
func NewCache(src Source, clk clock.Clock) *Cache {
	return &Cache{src: src, clock: clk, tenants: map[string]cachedTimeline{}}
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
	now := c.clock.Now()
	c.mu.Lock()
	e, ok := c.tenants[tenantID]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < maxAge && !now.Before(e.at) {
		return e.tl, nil
	}
	tl, err := c.src.Timeline(ctx, tenantID)
	if err != nil {
		return Timeline{}, err
	}
	c.mu.Lock()
	c.tenants[tenantID] = cachedTimeline{tl: tl, at: now}
	c.mu.Unlock()
	return tl, nil
}
