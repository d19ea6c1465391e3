package dsr

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/example/gdpr/internal/subject"
)

// ClosedStatusTTL is how long a request's access token still reads its status after the
// request closed (API.md); access and portability requests may stay readable longer, for as
// long as their export lives (StatusKept).
const ClosedStatusTTL = 7 * 24 * time.Hour

// recentlyClosed tells whether a closed request closed less than ClosedStatusTTL ago.
func (s *Service) recentlyClosed(r Request) bool {
	return r.CompletedAt != nil && s.Clock.Now().Before(r.CompletedAt.Add(ClosedStatusTTL))
}

// OfSubject calls fn with every request about the subject, oldest received first, and stops
// at fn's first error.
//
// Requests are found by SubjectRequests, without a Scan: one query per 1,000 audit entries
// of the subject plus one read per request.
func (s *Service) OfSubject(ctx context.Context, tenantID, subjectID string, fn func(Request) error) error {
	if subject.ValidateID(subjectID) != nil {
		return nil
	}
	ids, err := s.SubjectRequests(ctx, tenantID, subject.Pseudonym(s.Secrets, tenantID, subjectID))
	if err != nil {
		return err
	}
	reqs := make([]Request, 0, len(ids))
	for _, id := range ids {
		r, _, err := s.load(ctx, tenantID, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if r.SubjectID == subjectID {
			reqs = append(reqs, r)
		}
	}
	slices.SortFunc(reqs, func(a, b Request) int { return a.ReceivedAt.Compare(b.ReceivedAt) })
	for _, r := range reqs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}
