package consent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/tenant"
)

// requestsLog stands in for dsr in this domain test: the last request of each subject, and
// the erasures opened.
type requestsLog struct {
	last   map[string]time.Time
	opened []string
}

func (r *requestsLog) LastActivity(_ context.Context, _, subjectID string) (time.Time, error) {
	return r.last[subjectID], nil
}

func (r *requestsLog) OpenErasure(_ context.Context, _, subjectID string, since time.Time, _ int) (bool, error) {
	key := subjectID + "@" + since.Format(time.RFC3339)
	for _, o := range r.opened {
		if o == key {
			return false, nil
		}
	}
	r.opened = append(r.opened, key)
	return true, nil
}

// stateOf reads the consent state item as stored: its activity, deadline and version.
func (e *env) stateOf(t *testing.T, subjectID string) (consent.State, int64) {
	t.Helper()
	it, err := e.table.Get(t.Context(), subject.Key(e.tenant, subjectID, subject.SKConsent))
	if err != nil {
		t.Fatal(err)
	}
	var st consent.State
	if err := it.Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st, it.Version
}

// testActivity: every activity keeps the subject's last activity and inactivity deadline on
// its consent state, at most one write a day beyond the activity's own; the deadline's owner
// opens one erasure for a subject inactive since, and re-arms one active since.
func testActivity(t *testing.T, open opener) {
	e := newEnv(t, open, func(tn *tenant.Tenant) { tn.InactiveDays = 30 })
	ctx := t.Context()
	period := 30 * 24 * time.Hour
	e.record(t, decision("u-1", all(true, true, false)))
	e.record(t, decision("u-2", all(true, true, false)))
	st, v := e.stateOf(t, "u-1")
	if !near(st.ActiveAt, start) || st.Kind != consent.KindInactive || st.XPK != expiry.DayPK(e.tenant, start.Add(period)) {
		t.Fatalf("after a decision: active %s, deadline %q %q", st.ActiveAt, st.Kind, st.XPK)
	}
	device := consent.Device{IP: "203.0.113.9", Browser: "Firefox"}
	e.tick(time.Hour)
	if _, err := e.svc.RecordDevice(ctx, e.tenant, "u-1", device); err != nil {
		t.Fatal(err)
	}
	if _, v2 := e.stateOf(t, "u-1"); v2 != v {
		t.Fatal("an observation within the day wrote the state")
	}
	e.tick(24 * time.Hour)
	if _, err := e.svc.RecordDevice(ctx, e.tenant, "u-1", device); err != nil {
		t.Fatal(err)
	}
	busy := start.Add(25 * time.Hour)
	if st, v2 := e.stateOf(t, "u-1"); v2 != v+1 || !near(st.ActiveAt, busy) || st.XPK != expiry.DayPK(e.tenant, busy.Add(period)) {
		t.Fatalf("an observation a day later: version %d (was %d), active %s, deadline %q", v2, v, st.ActiveAt, st.XPK)
	}
	e.tick(time.Hour)
	if _, err := e.svc.PutProfile(ctx, e.tenant, "u-2", consent.ProfileInput{FirstName: "Bo"}); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.stateOf(t, "u-2"); !near(st.ActiveAt, start.Add(26*time.Hour)) {
		t.Fatalf("a profile change a day later: active %s", st.ActiveAt)
	}

	reqs := &requestsLog{last: map[string]time.Time{"u-2": start.Add(40 * 24 * time.Hour)}}
	inactive := e.svc.Inactive(reqs, "opened")
	now := start.Add(26*time.Hour + period + time.Minute)
	for _, id := range []string{"u-1", "u-2"} {
		k := subject.Key(e.tenant, id, subject.SKConsent)
		for range 2 {
			if _, err := inactive(ctx, e.tenant, k, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(reqs.opened) != 1 || !strings.HasPrefix(reqs.opened[0], "u-1@") {
		t.Fatalf("erasures opened %v, want one for u-1", reqs.opened)
	}
	if st, _ := e.stateOf(t, "u-1"); st.XPK != "" {
		t.Fatalf("u-1 still on the index at %q", st.XPK)
	}
	// u-2 submitted a request on day 40: its deadline moves to 30 days after it.
	if st, _ := e.stateOf(t, "u-2"); st.XPK != expiry.DayPK(e.tenant, reqs.last["u-2"].Add(period)) {
		t.Fatalf("u-2 deadline %q, want 30 days after its request", st.XPK)
	}
}

// near tells whether a is within a second of b: the test clock moves on from where it is set.
func near(a, b time.Time) bool { return a.Sub(b).Abs() < time.Second }
