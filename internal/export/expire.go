package export

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/objects"
	"github.com/example/gdpr/internal/table"
)

// Expire is the owner of KindExports on the expiry index (an expiry.Handoff): an export past
// its expiry loses its object, then its record. In that order, so that a run stopped between
// the two leaves a record the next sweep finds and finishes, never an object nobody knows of;
// deleting an object already gone is no error. Without the record the status route shows no
// link and the download route answers export_expired. The bucket's lifecycle rule remains a
// second net.
func (s Records) Expire(store objects.Store) expiry.Handoff {
	return func(ctx context.Context, tenantID string, k table.Key, now time.Time) (string, error) {
		it, err := s.Table.Get(ctx, k)
		if errors.Is(err, table.ErrNotFound) {
			return "", nil // deleted by an overlapping run
		}
		if err != nil {
			return "", err
		}
		var r Record
		if err := it.Decode(&r); err != nil {
			return "", err
		}
		if k != RecordKey(tenantID, r.RequestID) {
			return "", fmt.Errorf("export: an exports deadline on %s, which is no export record", k)
		}
		if now.Before(r.ExpiresAt) {
			return "", nil
		}
		if err := store.Delete(ctx, r.ObjectKey); err != nil {
			return "", fmt.Errorf("export: delete the expired package of %s: %w", r.RequestID, err)
		}
		err = s.Table.Delete(ctx, k, table.VersionIs(it.Version))
		switch {
		case errors.Is(err, table.ErrConflict):
			return "", nil // written again since it was read: its new expiry decides
		case err != nil:
			return "", err
		}
		return expiry.Deleted, nil
	}
}
