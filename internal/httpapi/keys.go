package httpapi

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/ttlcache"
)

// KeyResolver finds the tenant and role of an API key; tenant.Store is one. An unknown key is
// tenant.ErrUnknownKey.
type KeyResolver interface {
	Resolve(ctx context.Context, key string) (tenantID, role string, err error)
}

// KeyCacheTTL is how long a resolved key is remembered: the longest a rotated key keeps
// working on an instance that resolved it just before the rotation.
const KeyCacheTTL = 30 * time.Second

// maxCachedKeys bounds the cache; when full it is emptied, which costs only reads.
const maxCachedKeys = 10_000

// keyCache remembers keys resolved to a tenant for KeyCacheTTL, so that a warm instance
// reads the table for a key once per 30 s, not on every call. Only keys that resolved are
// kept, so random keys cannot fill it; keys are held as their SHA-256, never in clear.
type keyCache struct {
	keys KeyResolver
	m    *ttlcache.Cache[[32]byte, resolvedKey]
}

type resolvedKey struct{ tenant, role string }

func newKeyCache(keys KeyResolver, clk clock.Clock) *keyCache {
	return &keyCache{keys: keys, m: ttlcache.New[[32]byte, resolvedKey](clk, maxCachedKeys)}
}

// resolve answers from the cache, or asks the resolver and remembers what it found.
func (c *keyCache) resolve(ctx context.Context, key string) (tenantID, role string, err error) {
	h := sha256.Sum256([]byte(key))
	if e, ok := c.m.Get(h, KeyCacheTTL); ok {
		return e.tenant, e.role, nil
	}
	tenantID, role, err = c.keys.Resolve(ctx, key)
	if err != nil {
		return "", "", err
	}
	c.m.Put(h, resolvedKey{tenant: tenantID, role: role})
	return tenantID, role, nil
}
