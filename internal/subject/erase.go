package subject

import (
	"context"
	"errors"
	"fmt"

	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
)

// EraseProfile deletes the subject's profile and the email lookups that point to the subject
// (the profile's address, and any of also: the request's contact, which may be an address a
// rectification has replaced since), in one transaction conditional on what was read. It
// reports what it found: profile, and how many lookups.
func EraseProfile(ctx context.Context, t table.Table, m secrets.Master, tenantID, subjectID string, also ...string) (profile bool, lookups int, err error) {
	err = table.Retry(ctx, func() error {
		profile, lookups = false, 0
		p, version, err := GetProfile(ctx, t, tenantID, subjectID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		var ws []table.Write
		if version > 0 {
			profile = true
			ws = append(ws, table.Delete(ProfileKey(tenantID, subjectID), table.VersionIs(version)))
		}
		seen := map[table.Key]bool{}
		for _, email := range append([]string{p.Email}, also...) {
			if email == "" {
				continue
			}
			k := EmailKey(m, tenantID, email)
			if seen[k] {
				continue
			}
			seen[k] = true
			it, err := t.Get(ctx, k)
			if errors.Is(err, table.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			var l EmailLookup
			if err := it.Decode(&l); err != nil {
				return err
			}
			if l.SubjectID == subjectID {
				ws = append(ws, table.Delete(k, table.VersionIs(it.Version)))
				lookups++
			}
		}
		if len(ws) == 0 {
			return nil
		}
		err = t.Transact(ctx, ws)
		if errors.Is(err, table.ErrConflict) {
			return fmt.Errorf("%w: %w", table.ErrRetry, err)
		}
		return err
	})
	return profile, lookups, err
}
