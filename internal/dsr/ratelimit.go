package dsr

import (
	"context"
	"errors"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// Window is the rate limits' fixed window: a counter per key and clock hour. A client can
// send up to twice the limit around the turn of an hour; in exchange a check costs one read
// per key and the counter is written in the submission's own transaction, so counters are
// exact across any number of Lambda instances and never count a request that was not stored.
const Window = time.Hour

// KindRateLimit names rate-limit counters on the expiry index.
const KindRateLimit = "rate_limit_counters"

// counter is one key's count in one window. Its key holds a keyed hash of the email or the
// address, never the value; it expires (TTL and expiry index) when its window ends.
type counter struct {
	N int `json:"n"`
	expiry.Attrs
}

const counterPrefix = "#RL#"

func counterKey(tenantID, hash string, window time.Time) table.Key {
	return table.Key{PK: "T#" + tenantID + counterPrefix + hash, SK: window.UTC().Format("2006-01-02T15")}
}

// count reads the counters of a public submission's email and source address and returns
// their increments, or rate_limited (with RetryAfter) when either has reached its limit.
func (s *Service) count(ctx context.Context, t tenant.Tenant, email, source string, now time.Time) ([]table.Write, error) {
	window := now.Truncate(Window)
	end := window.Add(Window)
	perEmail, perSource := t.SubmissionLimits()
	var ws []table.Write
	for _, c := range []struct {
		kind, value string
		max         int
	}{{"email", email, perEmail}, {"source", source, perSource}} {
		if c.value == "" {
			continue // no source address outside API Gateway (tests, gdprctl)
		}
		// The email lookup's key, in a message of its own: these hashes match no lookup key.
		h := s.Secrets.Hash(secrets.ForEmailLookup, "rate-limit\x00"+c.kind+"\x00"+t.ID+"\x00"+c.value)
		k := counterKey(t.ID, h, window)
		var cnt counter
		it, err := s.Table.Get(ctx, k)
		switch {
		case err == nil:
			if err := it.Decode(&cnt); err != nil {
				return nil, err
			}
		case !errors.Is(err, table.ErrNotFound):
			return nil, err
		}
		if cnt.N >= c.max {
			e := apperr.New(apperr.RateLimited, apperr.CodeRateLimited, "Too many requests from this address or for this email; try again later.")
			e.RetryAfter = end.Sub(now)
			return nil, e
		}
		cnt.N++
		cnt.Attrs = expiry.At(t.ID, KindRateLimit, k, end)
		next, err := table.NewItem(k, it.Version, cnt)
		if err != nil {
			return nil, err
		}
		ws = append(ws, table.Put(next, table.VersionIs(it.Version)))
	}
	return ws, nil
}
