package dsr

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
)

// errNotDue ends an expiry that finds the request verified, closed or not yet due.
var errNotDue = errors.New("dsr: request not due to expire")

// ExpireRequest is the owner of the "requests" deadline on the expiry index (an
// expiry.DeadlineFunc): a request still unverified UnverifiedTTL after it was received
// becomes expired. It tells whether it expired the request.
func (s *Service) ExpireRequest(ctx context.Context, tenantID string, k table.Key, now time.Time) (bool, error) {
	id, ok := isRequestKey(tenantID, k)
	if !ok {
		return false, fmt.Errorf("dsr: %s is not a request of its tenant", k)
	}
	now = now.UTC().Truncate(time.Second)
	_, err := s.update(ctx, tenantID, id, func() time.Time { return now }, func(r *Request, now time.Time) ([]audit.Event, error) {
		if r.Status != PendingVerification || now.Before(r.ReceivedAt.Add(UnverifiedTTL)) {
			return nil, errNotDue
		}
		ev, err := s.transition(r, Expired, now, audit.ActorSystem, "not verified within 7 days")
		return []audit.Event{ev}, err
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, errNotDue) {
		return false, nil // erased or moved on since the index was read
	}
	return err == nil, err
}

// DoneInactive names an erasure opened for an inactive subject in the retention report.
const DoneInactive = "inactive_erasures"

// OpenErasure opens an erasure request of a subject on the system's own motion (the tenant's
// inactive_days): nobody is asked to verify it, so it is stored verified and the rights
// function fulfils it like any other — or, where the tenant wants erasures approved, it
// awaits an operator's approval as a verified request of the subject's would. Its receipt
// goes to the address on file, or nowhere when there is none. The request's id is derived
// from the subject's pseudonym and since (its last activity), so a run repeated or
// overlapping opens it once; created is false when it was open already.
func (s *Service) OpenErasure(ctx context.Context, tenantID, subjectID string, since time.Time, days int) (created bool, err error) {
	t, err := s.Tenants.Get(ctx, tenantID)
	if err != nil {
		return false, err
	}
	p, _, err := subject.GetProfile(ctx, s.Table, tenantID, subjectID)
	if err != nil && !errors.Is(err, subject.ErrNotFound) {
		return false, err
	}
	status := Verified
	if t.NeedsApproval(string(Erasure)) {
		status = AwaitingApproval
	}
	sum := sha256.Sum256([]byte("inactive\n" + subject.Pseudonym(s.Secrets, tenantID, subjectID) + "\n" + since.UTC().Format(time.RFC3339Nano)))
	now := s.now()
	r := Request{
		ID:           "req_" + base64.RawURLEncoding.EncodeToString(sum[:16]),
		Tenant:       tenantID,
		Type:         Erasure,
		Status:       status,
		SubjectID:    subjectID,
		ReceivedAt:   now,
		DueAt:        DueAt(now, AnswerMonths, t.Holidays),
		VerifiedAt:   &now,
		ReminderDays: t.ReminderDays,
	}
	s.sealContact(&r, p.Email)
	why := "inactive for " + strconv.Itoa(days) + " days"
	r.event(now, "received", audit.ActorSystem, string(r.Type))
	r.event(now, string(status), audit.ActorSystem, why+": no verification needed")
	opened := false
	err = s.commit(ctx, func() error {
		// Read first: a conflict of the transaction may be the audit chain's.
		_, _, err := s.load(ctx, tenantID, r.ID)
		if err == nil {
			opened = true // by an earlier or overlapping run
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		return s.save(ctx, &r, 0, now, nil, audit.Event{
			Actor:     audit.ActorSystem,
			Action:    "request.received",
			Subject:   s.pseudonym(r),
			RequestID: r.ID,
			Detail:    map[string]string{"type": string(r.Type), "due_at": r.DueAt.Format(time.RFC3339), "status": string(status), "reason": why},
		})
	})
	return err == nil && !opened, err
}

// LastActivity is when the subject last submitted a request (the zero time for never);
// requests the system opened do not count.
func (s *Service) LastActivity(ctx context.Context, tenantID, subjectID string) (time.Time, error) {
	var last time.Time
	err := s.OfSubject(ctx, tenantID, subjectID, func(r Request) error {
		if len(r.Timeline) > 0 && r.Timeline[0].Actor != audit.ActorSystem && r.ReceivedAt.After(last) {
			last = r.ReceivedAt
		}
		return nil
	})
	return last, err
}
