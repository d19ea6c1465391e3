package notify

import (
	"context"

	"github.com/example/gdpr/internal/bounces"
	"github.com/example/gdpr/internal/policy"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
)

// EraseSubject deletes what notification runs keep about a subject, for its erasure: the
// notice marker of every version the tenant published (its key names the subject id) and the
// bounce marks of emails (the subject's addresses; keyed by their keyed hash). Deleting what is
// absent is no error, so a replay changes nothing. It answers the versions looked at.
//
// Table operations: 1 Query per 1,000 versions, 1 Delete per version and 1 per address.
//
// Runs write no marker for a subject whose consent state is erased, so once the login gate is
// closed only a run that read the subject before can still write one (DESIGN.md, Known limits).
func EraseSubject(ctx context.Context, t table.Table, m secrets.Master, tenantID, subjectID string, emails ...string) (int, error) {
	tl, err := policy.Store{Table: t}.Timeline(ctx, tenantID)
	if err != nil {
		return 0, err
	}
	versions := tl.All()
	for _, p := range versions {
		if err := t.Delete(ctx, markerKey(tenantID, p.Version, subjectID), table.Cond{Kind: table.Always}); err != nil {
			return 0, err
		}
	}
	for _, e := range emails {
		if err := (bounces.Store{Table: t, Secrets: m}).Erase(ctx, tenantID, e); err != nil {
			return 0, err
		}
	}
	return len(versions), nil
}
