package notify

import (
	"context"
	"errors"
	"time"

	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
)

// An address known to bounce is marked by the item BOUNCE beside its email lookup
// (T#{t}#E#{hmac(email)}): keyed by the keyed hash, so the mark holds no address. Runs write
// it when the transport rejects a notice, and skip marked addresses (counted suppressed,
// reason bouncing), so that a run does not hammer a dead mailbox and hurt the sender's
// reputation. A bounce notification consumer (SES through SNS) would write the same mark.
const skBounce = "BOUNCE"

type bounceMark struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

func bounceKey(m secrets.Master, tenantID, email string) table.Key {
	return table.Key{PK: subject.EmailKey(m, tenantID, email).PK, SK: skBounce}
}

func isBounced(ctx context.Context, t table.Table, m secrets.Master, tenantID, email string) (bool, error) {
	_, err := t.Get(ctx, bounceKey(m, tenantID, email))
	if errors.Is(err, table.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// MarkBounced marks email as known to bounce in tenant, with the transport's reason.
func MarkBounced(ctx context.Context, t table.Table, m secrets.Master, tenantID, email, reason string, at time.Time) error {
	email, err := subject.NormalizeEmail(email)
	if err != nil {
		return err
	}
	return markBounced(ctx, t, m, tenantID, email, reason, at)
}

func markBounced(ctx context.Context, t table.Table, m secrets.Master, tenantID, email, reason string, at time.Time) error {
	it, err := table.NewItem(bounceKey(m, tenantID, email), 0, bounceMark{Reason: reason, At: at.UTC()})
	if err != nil {
		return err
	}
	return t.Put(ctx, it, table.Cond{Kind: table.Always})
}
