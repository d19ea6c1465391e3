package rights

import (
	"context"
	"errors"
	"slices"

	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/export"
	"github.com/example/gdpr/internal/fulfilment"
	"github.com/example/gdpr/internal/notify"
	"github.com/example/gdpr/internal/subject"
)

// Steps of an erasure, in order. Each is recorded on the request when done (its timeline shows
// it), so a run stopped anywhere resumes at the first step not recorded.
const (
	// stepGate closes the login gate and the intake at once, while the rest is erased.
	stepGate = "gate"
	// stepNotices erases the policy notice markers and the addresses' bounce marks (package
	// notify), while the profile still names the address.
	stepNotices = "notices"
	// stepProfile erases the profile and the email lookups, in one transaction.
	stepProfile = "profile"
	// stepDevices erases the device observations, a page at a time.
	stepDevices = "devices"
	// stepExports erases the exports of the subject's access and portability requests.
	stepExports = "exports"
	// stepConsent moves the ledger to the pseudonym, without evidence, and erases the state.
	stepConsent = "consent"
	// stepRequests keeps the subject's other requests under the pseudonym alone.
	stepRequests = "requests"
	// stepReceipt emails the receipt, while the address is still known.
	stepReceipt = "receipt"
	// stepContact erases the address and the subject id from the erasure request itself.
	stepContact = "contact"
)

// Erased are the categories an erasure removes from this service's stores, as the receipt
// lists them (dsr's category.* phrases). Stored answers of recent calls (idempotency records)
// are not among them: they are sealed under a key only the caller holds and expire within
// 24 hours, and nothing links them to a subject (DESIGN.md, Erasure).
var Erased = []string{"profile", "email_lookup", "devices", "consent", "consent_ledger", "exports", "requests", "policy_notices"}

// erase runs the erasure's steps. The gate comes first so that nothing new comes in while the
// rest is erased; the receipt comes after every store (and every External step) and before
// the contact address, which it needs, is erased last.
func (s *Service) erase(ctx context.Context, j *fulfilment.Job) error {
	r := j.Request
	tid, sid := r.Tenant, r.SubjectID
	if !r.Done(stepGate) {
		found, err := s.Consent.CloseGate(ctx, tid, sid)
		if err != nil {
			return err
		}
		if !found {
			_, _, err := subject.GetProfile(ctx, s.Table, tid, sid)
			if errors.Is(err, subject.ErrNotFound) {
				return s.noData(ctx, j)
			}
			if err != nil {
				return err
			}
		}
		if err := j.Step(ctx, stepGate, func(context.Context) (string, error) { return "login gate closed", nil }); err != nil {
			return err
		}
	}
	pseudonym := subject.Pseudonym(s.Secrets, tid, sid)
	steps := []struct {
		name string
		do   func(ctx context.Context) (string, error)
	}{
		{stepNotices, func(ctx context.Context) (string, error) {
			p, _, err := subject.GetProfile(ctx, s.Table, tid, sid)
			if err != nil && !errors.Is(err, subject.ErrNotFound) {
				return "", err
			}
			contact, err := s.Requests.Contact(r)
			if err != nil {
				return "", err
			}
			n, err := notify.EraseSubject(ctx, s.Table, s.Secrets, tid, sid, p.Email, contact)
			return "notice markers of " + count(n, "policy versions"), err
		}},
		{stepProfile, func(ctx context.Context) (string, error) {
			contact, err := s.Requests.Contact(r)
			if err != nil {
				return "", err
			}
			p, n, err := subject.EraseProfile(ctx, s.Table, s.Secrets, tid, sid, contact)
			detail := count(n, "email lookups")
			if p {
				detail = "profile, " + detail
			}
			return detail, err
		}},
		{stepDevices, func(ctx context.Context) (string, error) {
			n, err := s.Consent.EraseDevices(ctx, tid, sid)
			return count(n, "device observations"), err
		}},
		{stepExports, func(ctx context.Context) (string, error) {
			n, err := s.eraseExports(ctx, tid, pseudonym)
			return count(n, "exports"), err
		}},
		{stepConsent, func(ctx context.Context) (string, error) {
			found, err := s.Consent.EraseState(ctx, tid, sid, r.ID)
			if !found {
				return "no consent state", err
			}
			return "consent state; ledger kept under the pseudonym", err
		}},
		{stepRequests, func(ctx context.Context) (string, error) {
			n, err := s.anonymizeRequests(ctx, tid, pseudonym, r.ID)
			return count(n, "requests"), err
		}},
	}
	for _, st := range steps {
		if err := j.Step(ctx, st.name, st.do); err != nil {
			return err
		}
	}
	if err := s.external(ctx, j); err != nil {
		return err
	}
	if err := j.Step(ctx, stepReceipt, func(ctx context.Context) (string, error) {
		t, err := s.Tenants.Get(ctx, tid)
		if err != nil {
			return "", err
		}
		n := dsr.Notice{Erased: Erased}
		for _, st := range s.External {
			told, err := st.Systems(ctx, j.Request)
			if err != nil {
				return "", err
			}
			n.Systems = append(n.Systems, told...)
		}
		for _, c := range t.Retained {
			n.Retained = append(n.Retained, dsr.Retained{Category: c.Category, Reason: c.Reason})
		}
		return "erasure_receipt", s.Requests.Tell(ctx, j.Request, "erasure_receipt", n)
	}); err != nil {
		return err
	}
	return j.Step(ctx, stepContact, func(ctx context.Context) (string, error) {
		_, err := s.Requests.Anonymize(ctx, tid, r.ID, r.ID)
		return "contact and subject id erased", err
	})
}

// eraseExports deletes the export of each of the subject's access and portability requests.
// Deleting an absent object is no error, so a replay deletes nothing twice in effect.
func (s *Service) eraseExports(ctx context.Context, tenantID, pseudonym string) (int, error) {
	ids, err := s.Requests.SubjectRequests(ctx, tenantID, pseudonym)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		r, err := s.Requests.Get(ctx, tenantID, id)
		if err != nil {
			return n, err
		}
		if r.Type != dsr.Access && r.Type != dsr.Portability {
			continue
		}
		if err := s.Objects.Delete(ctx, export.ObjectKey(tenantID, id)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// anonymizeRequests keeps the subject's other requests under the pseudonym alone; the erasure
// request itself keeps its contact until the receipt is sent (stepContact).
func (s *Service) anonymizeRequests(ctx context.Context, tenantID, pseudonym, erasure string) (int, error) {
	ids, err := s.Requests.SubjectRequests(ctx, tenantID, pseudonym)
	if err != nil {
		return 0, err
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return id == erasure })
	for _, id := range ids {
		if _, err := s.Requests.Anonymize(ctx, tenantID, id, erasure); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}
