package dsr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/table"
)

// Kinds of a request's deadlines on the expiry index besides KindRequests (unverified
// requests expire). A request has one place on the index, so it holds its next deadline only
// (see deadline): each owner's step moves it on to the one after.
const (
	// KindCodes: a verification code past its 24 hours is deleted (ClearCode).
	KindCodes = "verification_codes"
	// KindReminder and KindOverdue: an unanswered request's next reminder to the DPO, and
	// its due date (Watch owns both).
	KindReminder = "reminder"
	KindOverdue  = "overdue"
)

// Counter names of Watch's report (expiry.Handoff results).
const (
	DoneReminder = "reminders_sent"
	DoneOverdue  = "overdue"
)

// DPONotice is an email to the tenant's DPO about the deadline of a request: a reminder Days
// before the due date DueAt it was sent for, or, with Days 0, the report that the request is
// overdue. It names the request, its type and due date, nothing about the person.
//
// A notice is claimed (stored) before it is sent, so of two overlapping runs one sends it;
// a claim not confirmed Sent within noticeLease — its run stopped between claiming and
// sending — is taken over by a later run and sent then. So a notice goes out once, twice
// only when a run stops between sending and confirming.
type DPONotice struct {
	Days      int       `json:"days"`
	DueAt     time.Time `json:"due_at"`
	ClaimedAt time.Time `json:"claimed_at"`
	Sent      bool      `json:"sent"`
}

// noticeLease is how long a claimed notice is left to the run that claimed it.
const noticeLease = 10 * time.Minute

// Unanswered tells whether a request's deadline runs with nobody having answered it: it is
// verified and not closed (awaiting approval, verified or processing), or failed (a person
// must now take it up).
func (s Status) Unanswered() bool {
	return s == Failed || (!s.Closed() && s != PendingVerification)
}

// reminderAt is when the reminder days before due is due: that many whole days before the
// end of the due day.
func reminderAt(due time.Time, days int) time.Time {
	return due.Add(time.Second).AddDate(0, 0, -days)
}

// overdueAt is the first second after the due date.
func overdueAt(due time.Time) time.Time { return due.Add(time.Second) }

// notice returns the index of the notice of days for the current due date, or -1.
func (r *Request) notice(days int) int {
	return slices.IndexFunc(r.DPONotices, func(n DPONotice) bool { return n.Days == days && n.DueAt.Equal(r.DueAt) })
}

// tightest is the fewest days of a notice claimed for the current due date (0: the overdue
// report), or -1 for none. Reminders of more days than it are past and never sent: a run
// that finds several due at once sends the nearest one only.
func (r *Request) tightest() int {
	t := -1
	for _, n := range r.DPONotices {
		if n.DueAt.Equal(r.DueAt) && (t < 0 || n.Days < t) {
			t = n.Days
		}
	}
	return t
}

// deadline is the request's next deadline on the expiry index and its kind; ok is false
// when it has none.
func (r *Request) deadline() (kind string, at time.Time, ok bool) {
	switch {
	case r.Status == PendingVerification && r.CodeHash != "":
		return KindCodes, r.CodeExpiresAt, true
	case r.Status == PendingVerification:
		return KindRequests, r.ReceivedAt.Add(UnverifiedTTL), true
	case !r.Status.Unanswered():
		return "", time.Time{}, false
	}
	consider := func(k string, t time.Time) {
		if !ok || t.Before(at) {
			kind, at, ok = k, t, true
		}
	}
	for _, n := range r.DPONotices {
		if n.DueAt.Equal(r.DueAt) && !n.Sent {
			consider(KindReminder, n.ClaimedAt.Add(noticeLease))
		}
	}
	tight := r.tightest()
	if tight == 0 {
		return kind, at, ok
	}
	consider(KindOverdue, overdueAt(r.DueAt))
	for _, d := range r.ReminderDays {
		if d > 0 && (tight < 0 || d < tight) {
			consider(KindReminder, reminderAt(r.DueAt, d))
		}
	}
	return kind, at, ok
}

// errNothingDue ends a Watch that finds nothing to send.
var errNothingDue = errors.New("dsr: no notice due")

// Watch is the owner of KindReminder and KindOverdue (an expiry.Handoff): it sends the DPO
// the one notice of the request due at now — the overdue report once the due date has
// passed (flagging the request overdue, audited), else the reminder of the fewest days whose
// time has come — claiming it first (see DPONotice). A tenant without a DPO email gets the
// notices recorded, audited and flagged, and no email. It names what it sent: DoneReminder,
// DoneOverdue, or "".
func (s *Service) Watch(ctx context.Context, tenantID string, k table.Key, now time.Time) (string, error) {
	id, ok := isRequestKey(tenantID, k)
	if !ok {
		return "", fmt.Errorf("dsr: %s is not a request of its tenant", k)
	}
	t, err := s.Tenants.Get(ctx, tenantID)
	if err != nil {
		return "", err
	}
	now = now.UTC().Truncate(time.Second)
	var claim DPONotice
	r, err := s.update(ctx, tenantID, id, func() time.Time { return now }, func(r *Request, now time.Time) ([]audit.Event, error) {
		n, ev, err := s.claimNotice(r, now)
		if err != nil {
			return nil, err
		}
		claim = n
		if t.DPOEmail == "" {
			r.DPONotices[r.notice(n.Days)].Sent = true
		}
		return ev, nil
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, errNothingDue) {
		return "", nil // erased, answered, or handled by an overlapping run
	}
	if err != nil {
		return "", err
	}
	done := DoneReminder
	if claim.Days == 0 {
		done = DoneOverdue
	}
	if t.DPOEmail == "" {
		return done, nil
	}
	name := "dpo_reminder"
	if claim.Days == 0 {
		name = "dpo_overdue"
	}
	m, err := render(defaultLocale, name, mailData{Tenant: r.Tenant, RequestID: r.ID, Type: r.Type, Lift: r.Lift, ReceivedAt: r.ReceivedAt, DueAt: r.DueAt})
	if err != nil {
		return "", err
	}
	m.To, m.Tenant = t.DPOEmail, r.Tenant
	// A DPO address that bounced permanently is not tried again on every run: the notice is
	// confirmed as if sent (the overdue alarm still fires on the metric).
	if _, err := s.Mail.Send(ctx, m); err != nil && !errors.Is(err, mail.ErrUndeliverable) {
		// The claim lapses and a later run sends it.
		return "", fmt.Errorf("dsr: %s email of request %s: %w", name, r.ID, err)
	}
	_, err = s.update(ctx, tenantID, id, s.now, func(r *Request, _ time.Time) ([]audit.Event, error) {
		i := r.notice(claim.Days)
		if i < 0 || r.DPONotices[i].Sent || !r.DPONotices[i].ClaimedAt.Equal(claim.ClaimedAt) {
			return nil, errUnchanged // taken over since: the run that took it confirms it
		}
		r.DPONotices[i].Sent = true
		return nil, nil
	})
	if err != nil && err != errUnchanged && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	return done, nil
}

// claimNotice picks the notice of r due at now and claims it on r: a lapsed claim is taken
// over; else the overdue report, once the due date has passed; else the reminder of the
// fewest days whose time has come. Errors: errNothingDue.
func (s *Service) claimNotice(r *Request, now time.Time) (DPONotice, []audit.Event, error) {
	if !r.Status.Unanswered() {
		return DPONotice{}, nil, errNothingDue
	}
	for i, n := range r.DPONotices {
		if n.DueAt.Equal(r.DueAt) && !n.Sent && !now.Before(n.ClaimedAt.Add(noticeLease)) {
			r.DPONotices[i].ClaimedAt = now
			return r.DPONotices[i], nil, nil
		}
	}
	tight := r.tightest()
	if tight == 0 {
		return DPONotice{}, nil, errNothingDue
	}
	due := r.DueAt.Format(time.RFC3339)
	if !now.Before(overdueAt(r.DueAt)) {
		n := DPONotice{Days: 0, DueAt: r.DueAt, ClaimedAt: now}
		r.DPONotices = append(r.DPONotices, n)
		r.Overdue = true
		r.event(now, "overdue", audit.ActorSystem, "due "+due)
		return n, []audit.Event{s.change(*r, "request.overdue", audit.ActorSystem, map[string]string{"due_at": due, "status": string(r.Status)})}, nil
	}
	days := -1
	for _, d := range r.ReminderDays {
		if d > 0 && (tight < 0 || d < tight) && !now.Before(reminderAt(r.DueAt, d)) && (days < 0 || d < days) {
			days = d
		}
	}
	if days < 0 {
		return DPONotice{}, nil, errNothingDue
	}
	n := DPONotice{Days: days, DueAt: r.DueAt, ClaimedAt: now}
	r.DPONotices = append(r.DPONotices, n)
	ds := strconv.Itoa(days)
	r.event(now, "reminder", audit.ActorSystem, ds+" days before due "+due)
	return n, []audit.Event{s.change(*r, "request.reminder", audit.ActorSystem, map[string]string{"days": ds, "due_at": due})}, nil
}

// ClearCode is the owner of KindCodes (an expiry.Handoff): a verification code past its
// expiry is deleted from its request, which goes on waiting for verification until it
// expires (a code presented later is refused as expired, as before). Used codes are deleted
// when the request is verified.
func (s *Service) ClearCode(ctx context.Context, tenantID string, k table.Key, now time.Time) (string, error) {
	id, ok := isRequestKey(tenantID, k)
	if !ok {
		return "", fmt.Errorf("dsr: %s is not a request of its tenant", k)
	}
	_, err := s.update(ctx, tenantID, id, func() time.Time { return now.UTC().Truncate(time.Second) }, func(r *Request, now time.Time) ([]audit.Event, error) {
		if r.Status != PendingVerification || r.CodeHash == "" || now.Before(r.CodeExpiresAt) {
			return nil, errNotDue
		}
		r.CodeHash, r.CodeExpiresAt = "", time.Time{}
		return nil, nil
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, errNotDue) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return expiry.Deleted, nil
}

// Deadlines and Owners are this package's parts of the expiry sweep (expiry.Sweeper): the
// owners of every deadline a request holds on the index.
func (s *Service) Deadlines() map[string]expiry.DeadlineFunc {
	return map[string]expiry.DeadlineFunc{KindRequests: s.ExpireRequest}
}

// Owners: see Deadlines.
func (s *Service) Owners() map[string]expiry.Handoff {
	return map[string]expiry.Handoff{KindCodes: s.ClearCode, KindReminder: s.Watch, KindOverdue: s.Watch}
}
