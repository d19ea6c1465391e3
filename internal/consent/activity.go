package consent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// Inactivity (the tenant's inactive_days): a subject with no consent decision, profile
// change, device observation or request for that long has its data erased. The subject's
// last activity is kept on its consent state (ActiveAt), which every such activity but a
// request already reads, and while the tenant's setting is on, the state is on the expiry
// index at ActiveAt plus the period (KindInactive), so the retention job finds the inactive
// among the subjects whose deadline came, without reading the others. Decisions write the
// state anyway; a profile change or device observation turns its condition check on the
// state into a put of it when ActiveAt is a day old or more (activityGrain), so it costs at
// most one write a day more. Requests are dsr's and are looked up when the deadline comes.
// An erasure deletes the state and with it the deadline.
//
// Subjects last active while the setting was off are not on the index: they are found
// after their next activity.

// KindInactive names consent states on the expiry index by their inactivity deadline.
const KindInactive = "inactive"

// activityGrain is how stale ActiveAt may be before an activity that does not write the
// state anyway writes it: deadlines are a day precise at most.
const activityGrain = 24 * time.Hour

// inactivePeriod is the tenant's period of inactivity; 0 when off.
func inactivePeriod(t tenant.Tenant) time.Duration {
	return time.Duration(t.InactiveDays) * 24 * time.Hour
}

// touch records an activity at now on st: ActiveAt, and the inactivity deadline while the
// tenant's setting is on.
func touch(st *State, t tenant.Tenant, now time.Time) {
	st.ActiveAt = now.UTC()
	st.Attrs = expiry.Attrs{}
	if p := inactivePeriod(t); p > 0 {
		st.Attrs = expiry.Deadline(t.ID, KindInactive, subject.Key(t.ID, st.SubjectID, subject.SKConsent), st.ActiveAt.Add(p))
	}
}

// stale tells whether an activity at now should write st (see activityGrain), or whether its
// place on the index disagrees with the tenant's setting.
func stale(st State, t tenant.Tenant, now time.Time) bool {
	return now.Sub(st.ActiveAt) >= activityGrain || (st.XPK != "") != (inactivePeriod(t) > 0)
}

// stateWrite is the write that keeps an activity's transaction conditional on the state read
// at version: a check, or a put recording the activity when ActiveAt is stale.
func stateWrite(st State, version int64, t tenant.Tenant, now time.Time) (table.Write, error) {
	k := subject.Key(t.ID, st.SubjectID, subject.SKConsent)
	if !stale(st, t, now) {
		return table.Check(k, table.VersionIs(version)), nil
	}
	touch(&st, t, now)
	it, err := table.NewItem(k, version, st)
	if err != nil {
		return table.Write{}, err
	}
	return table.Put(it, table.VersionIs(version)), nil
}

// Requests is what the inactivity task needs of data subject requests; dsr.Service is one.
type Requests interface {
	// LastActivity is when the subject last submitted a request; zero for never.
	LastActivity(ctx context.Context, tenantID, subjectID string) (time.Time, error)
	// OpenErasure opens the system's erasure of an inactive subject, once per since.
	OpenErasure(ctx context.Context, tenantID, subjectID string, since time.Time, days int) (bool, error)
}

// Inactive is the owner of KindInactive (an expiry.Handoff): a subject whose deadline came
// and who has not been active since, requests included, gets an erasure opened (reqs); one
// that has is put back on the index at its new deadline. Either way the state leaves the day
// it was found on. It names an erasure it opened dsrDone, else "".
func (s *Service) Inactive(reqs Requests, dsrDone string) expiry.Handoff {
	return func(ctx context.Context, tenantID string, k table.Key, now time.Time) (string, error) {
		subjectID, ok := strings.CutPrefix(k.PK, subject.PK(tenantID, ""))
		if !ok || k.SK != subject.SKConsent || subject.ValidateID(subjectID) != nil {
			return "", errors.New("consent: an inactivity deadline on an item that is no consent state")
		}
		t, err := s.tenants.Get(ctx, tenantID)
		if err != nil {
			return "", err
		}
		period := inactivePeriod(t)
		lastRequest, err := reqs.LastActivity(ctx, tenantID, subjectID)
		if err != nil {
			return "", err
		}
		done := ""
		err = table.Retry(ctx, func() error {
			st, version, err := s.state(ctx, tenantID, subjectID)
			if errors.Is(err, ErrNotFound) || err == nil && (st.Erased || st.XPK == "") {
				return nil // erased, or handled since
			}
			if err != nil {
				return err
			}
			last := st.ActiveAt
			if lastRequest.After(last) {
				last = lastRequest
			}
			switch {
			case period == 0:
				// Turned off since: off the index until the next activity.
				st.Attrs = expiry.Attrs{}
			case now.Before(last.Add(period)):
				// Active since (a request), or the period grew: its new deadline.
				touch(&st, t, last)
				st.Attrs = expiry.Deadline(t.ID, KindInactive, k, latestTime(last.Add(period), now))
			default:
				opened, err := reqs.OpenErasure(ctx, tenantID, subjectID, last, t.InactiveDays)
				if err != nil {
					return err
				}
				if opened {
					done = dsrDone
				}
				// Off the index: the erasure deletes the state, and an activity meanwhile
				// puts it back on.
				st.Attrs = expiry.Attrs{}
			}
			it, err := table.NewItem(k, version, st)
			if err != nil {
				return err
			}
			if err := s.table.Put(ctx, it, table.VersionIs(version)); errors.Is(err, table.ErrConflict) {
				return fmt.Errorf("%w: %w", table.ErrRetry, err)
			} else if err != nil {
				return err
			}
			return nil
		})
		return done, err
	}
}

func latestTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
