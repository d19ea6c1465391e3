package dsr

import (
	"context"
	"slices"
	"time"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/subject"
)

// Erasure of what requests hold about their subject (Art. 17). A request record is proof that
// a right was exercised and answered (Art. 5(2)), so it is kept, but only under the subject's
// pseudonym: Anonymize removes the subject id, the contact address, and the free texts that
// may name the person (the note, the rectified values, an operator's explanations).

// SubjectRequests returns the ids of the requests about a subject, found through the audit
// trail's index by pseudonym (every request that matched a subject has its audit entries
// there), oldest first. A request that matched no subject when it was submitted (an address
// not yet on file) names no subject anywhere and is not found.
func (s *Service) SubjectRequests(ctx context.Context, tenantID, pseudonym string) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	f := audit.Filter{Subject: pseudonym, Limit: 1000}
	for {
		entries, next, err := s.audit().List(ctx, tenantID, f)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.RequestID != "" && !seen[e.RequestID] {
				seen[e.RequestID] = true
				ids = append(ids, e.RequestID)
			}
		}
		if next == "" {
			slices.Reverse(ids)
			return ids, nil
		}
		f.Cursor = next
	}
}

// Anonymize rewrites a request to keep only its subject's pseudonym, on behalf of the erasure
// request erasure: no subject id, contact, note, rectified values or operator texts remain. A
// request already so changes nothing (a replayed step writes nothing). An open request
// anonymized this way can no longer email its subject. Errors: request_not_found.
func (s *Service) Anonymize(ctx context.Context, tenantID, id, erasure string) (Request, error) {
	r, _, err := s.load(ctx, tenantID, id)
	if err != nil || anonymous(r) {
		return r, err
	}
	return s.update(ctx, tenantID, id, s.now, func(r *Request, now time.Time) ([]audit.Event, error) {
		if r.SubjectID != "" {
			r.Pseudonym = subject.Pseudonym(s.Secrets, r.Tenant, r.SubjectID)
		}
		r.SubjectID, r.SealedContact, r.Note, r.Rectification, r.ExtensionReason = "", "", "", nil, ""
		if r.Rejection != nil {
			r.Rejection.Detail = ""
		}
		r.event(now, "anonymized", audit.ActorSystem, erasure)
		return []audit.Event{s.change(*r, "request.anonymized", audit.ActorSystem, map[string]string{"erasure": erasure})}, nil
	})
}

func anonymous(r Request) bool {
	return r.SubjectID == "" && r.SealedContact == "" && r.Note == "" && r.Rectification == nil &&
		r.ExtensionReason == "" && (r.Rejection == nil || r.Rejection.Detail == "")
}
