package dsr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/table"
)

// Filter selects requests of the operator's queue.
type Filter struct {
	Status Status
	Type   Type
	// DueBefore keeps requests due strictly before it; zero keeps all.
	DueBefore time.Time
	// Overdue keeps the requests flagged overdue (see Watch) only.
	Overdue bool
	Limit   int
	// Cursor continues the page before (the table's cursor: the HTTP layer seals it).
	Cursor string
}

// Validate checks the filter's values.
func (f Filter) Validate() error {
	var fe []apperr.FieldError
	if f.Status != "" && !slices.Contains(Statuses, f.Status) {
		fe = append(fe, apperr.FieldError{Field: "status", Message: "must be a request status"})
	}
	if f.Type != "" && !slices.Contains(Types, f.Type) {
		fe = append(fe, apperr.FieldError{Field: "type", Message: "must be a request type"})
	}
	if f.Limit < 1 || f.Limit > maxScanned {
		fe = append(fe, apperr.FieldError{Field: "limit", Message: "must be an integer from 1 to 1000"})
	}
	if len(fe) > 0 {
		return apperr.Validation(fe...)
	}
	return nil
}

// maxScanned bounds the requests one page reads when a type or overdue is asked for: these are filtered
// while reading the due-date index, so such a page may hold fewer than Limit requests and
// still have a next cursor.
const maxScanned = 1000

// List returns one page of the tenant's requests, soonest due first, and the cursor of the
// next page ("" on the last). It reads one index partition — all requests, or those of one
// status — from the first item it needs: with no type asked for, a page costs one query
// whatever the number of requests. Errors: validation_failed; invalid_cursor.
func (s *Service) List(ctx context.Context, tenantID string, f Filter) ([]Request, string, error) {
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	q := table.Query{Index: indexAll, PK: allPK(tenantID), Cursor: f.Cursor}
	if f.Status != "" {
		q = table.Query{Index: indexStatus, PK: statusPK(tenantID, f.Status), Cursor: f.Cursor}
	}
	if !f.DueBefore.IsZero() {
		// Sort keys are "{due_at}#{id}": every key of a due date before the bound sorts below
		// the bound's own text, and every key of a due date at or after it above.
		b := f.DueBefore.UTC()
		q.To = b.Truncate(time.Second).Format(time.RFC3339)
		if b.Truncate(time.Second).Before(b) {
			q.To += "#~" // due at the bound's whole second is still before the bound
		}
	}
	out := []Request{}
	for scanned := 0; ; {
		q.Limit = f.Limit - len(out)
		page, err := s.Table.Query(ctx, q)
		if errors.Is(err, table.ErrBadCursor) {
			return nil, "", apperr.New(apperr.Invalid, apperr.CodeInvalidCursor, "The cursor is not one this list issued.")
		}
		if err != nil {
			return nil, "", fmt.Errorf("dsr: list: %w", err)
		}
		scanned += len(page.Items)
		for _, it := range page.Items {
			r, err := decodeRequest(it)
			if err != nil {
				return nil, "", err
			}
			if (f.Type == "" || r.Type == f.Type) && (!f.Overdue || r.Overdue) {
				out = append(out, r)
			}
		}
		if page.Next == "" || len(out) == f.Limit || scanned >= maxScanned {
			return out, page.Next, nil
		}
		q.Cursor = page.Next
	}
}
