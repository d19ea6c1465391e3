// Package rights fulfils the rights a data subject exercises on this service's own stores:
// erasure (Art. 17), rectification (Art. 16), restriction (Art. 18) and objection (Art. 21),
// each as the fulfilment.Work of its request, in resumable, idempotent steps.
package rights

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/fulfilment"
	"github.com/example/gdpr/internal/objects"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// Types are the request types this package fulfils: the stream trigger's filter names them.
var Types = []dsr.Type{dsr.Erasure, dsr.Rectification, dsr.Restriction, dsr.Objection}

// Tenants gives a tenant's settings (the categories it retains); tenant.Cache is one.
type Tenants interface {
	Get(ctx context.Context, id string) (tenant.Tenant, error)
}

// Step is one step that carries a right beyond this service's own stores: the marketplace
// sites' deliveries plug in here. It runs after the service's own steps of an erasure,
// rectification or restriction and before the subject is told. Like every step, Do is
// idempotent and its detail names no person.
type Step struct {
	Name string
	Do   func(ctx context.Context, r dsr.Request) (detail string, err error)
	// Systems names the sites the step told, for the receipt. It is asked when the receipt is
	// sent, which may be in a later run than Do's.
	Systems func(ctx context.Context, r dsr.Request) ([]string, error)
}

// Service holds what the rights' work needs.
type Service struct {
	Table    table.Table
	Clock    clock.Clock
	Secrets  secrets.Master
	Tenants  Tenants
	Consent  *consent.Service
	Requests *dsr.Service
	Objects  objects.Store
	// External lists the steps run after the service's own ones; nil for none.
	External []Step
}

// Work is the fulfilment of one request of Types.
func (s *Service) Work(ctx context.Context, j *fulfilment.Job) error {
	r := j.Request
	if r.SubjectID == "" && !r.Done(stepGate) {
		return s.noData(ctx, j)
	}
	switch r.Type {
	case dsr.Erasure:
		return s.erase(ctx, j)
	case dsr.Rectification:
		return s.rectify(ctx, j)
	case dsr.Restriction:
		return s.restrict(ctx, j)
	case dsr.Objection:
		return s.object(ctx, j)
	}
	return fulfilment.Permanent("not a type of the rights function", fmt.Errorf("rights: type %q", r.Type))
}

// noData answers a request about a subject of whom nothing is held.
func (s *Service) noData(ctx context.Context, j *fulfilment.Job) error {
	return j.Step(ctx, "no_data", func(ctx context.Context) (string, error) {
		return "", s.Requests.Tell(ctx, j.Request, "no_data", dsr.Notice{})
	})
}

// tell is a step that sends one email.
func (s *Service) tell(ctx context.Context, j *fulfilment.Job, step, message string, n dsr.Notice) error {
	return j.Step(ctx, step, func(ctx context.Context) (string, error) {
		return message, s.Requests.Tell(ctx, j.Request, message, n)
	})
}

// rectify applies the request's fields to the profile through the profile owner's own rules
// (the intake checked them by the same rules), then confirms.
func (s *Service) rectify(ctx context.Context, j *fulfilment.Job) error {
	r := j.Request
	if r.Rectification == nil {
		return fulfilment.Permanent("rectification without fields", errors.New("rights: no fields"))
	}
	err := j.Step(ctx, "rectify", func(ctx context.Context) (string, error) {
		_, err := subject.Rectify(ctx, s.Table, s.Secrets, r.Tenant, r.SubjectID, *r.Rectification, s.Clock.Now())
		return changedFields(*r.Rectification), err
	})
	switch {
	case errors.Is(err, subject.ErrNotFound):
		return s.noData(ctx, j)
	case errors.Is(err, subject.ErrEmailInUse):
		return fulfilment.Permanent("the new email address belongs to another subject", err)
	case err != nil:
		return err
	}
	if err := s.external(ctx, j); err != nil {
		return err
	}
	return s.tell(ctx, j, "told", "rectification_done", dsr.Notice{})
}

// changedFields names the fields a rectification corrects, never their values.
func changedFields(c dsr.ProfileFields) string {
	var names []string
	for _, f := range []struct {
		name string
		v    *string
	}{{"first_name", c.FirstName}, {"last_name", c.LastName}, {"username", c.Username}, {"email", c.Email}, {"phone", c.Phone}, {"company", c.Company}} {
		if f.v != nil {
			names = append(names, f.name)
		}
	}
	return strings.Join(names, ",")
}

// restrict flags the subject restricted, or lifts the flag. A lift is told to the subject
// before it takes effect (Art. 18(3)): the notice is a step of its own, done before the flag
// changes.
func (s *Service) restrict(ctx context.Context, j *fulfilment.Job) error {
	r := j.Request
	if !r.Lift {
		if err := j.Step(ctx, "restrict", func(ctx context.Context) (string, error) {
			_, err := s.Consent.SetRestricted(ctx, r.Tenant, r.SubjectID, true)
			return "restricted", err
		}); err != nil {
			return s.unknownIsNoData(ctx, j, err)
		}
		if err := s.external(ctx, j); err != nil {
			return err
		}
		return s.tell(ctx, j, "told", "restriction_done", dsr.Notice{})
	}
	if !r.Done("lifting_notice") {
		// Nothing to lift for a subject of whom nothing is held: no notice either.
		if _, err := s.Consent.Get(ctx, r.Tenant, r.SubjectID); err != nil {
			return s.unknownIsNoData(ctx, j, err)
		}
	}
	if err := s.tell(ctx, j, "lifting_notice", "restriction_lifting", dsr.Notice{}); err != nil {
		return err
	}
	if err := j.Step(ctx, "lift", func(ctx context.Context) (string, error) {
		_, err := s.Consent.SetRestricted(ctx, r.Tenant, r.SubjectID, false)
		return "restriction lifted", err
	}); err != nil {
		return err
	}
	if err := s.external(ctx, j); err != nil {
		return err
	}
	return s.tell(ctx, j, "told", "restriction_done", dsr.Notice{})
}

// external runs the External steps, in order.
func (s *Service) external(ctx context.Context, j *fulfilment.Job) error {
	for _, st := range s.External {
		if err := j.Step(ctx, st.Name, func(ctx context.Context) (string, error) { return st.Do(ctx, j.Request) }); err != nil {
			return err
		}
	}
	return nil
}

// object withdraws marketing with a ledger entry naming the request and marks the subject
// objected; consent.Record then refuses marketing but by an explicit opt-in.
func (s *Service) object(ctx context.Context, j *fulfilment.Job) error {
	r := j.Request
	if err := j.Step(ctx, "object", func(ctx context.Context) (string, error) {
		_, err := s.Consent.Object(ctx, r.Tenant, r.SubjectID, r.ID)
		return "marketing withdrawn", err
	}); err != nil {
		return s.unknownIsNoData(ctx, j, err)
	}
	return s.tell(ctx, j, "told", "objection_done", dsr.Notice{})
}

// unknownIsNoData answers a subject the consent store does not know with no_data.
func (s *Service) unknownIsNoData(ctx context.Context, j *fulfilment.Job, err error) error {
	if errors.Is(err, consent.ErrNotFound) {
		return s.noData(ctx, j)
	}
	return err
}

func count(n int, what string) string { return strconv.Itoa(n) + " " + what }
