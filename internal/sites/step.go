package sites

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/fulfilment"
)

// Waiting is the error Deliver returns while deliveries are pending. The fulfilment runner
// recognises it by its WaitingFor method: the request is parked (dsr.Service.Wait) instead
// of failing an attempt, and the deliveries job wakes it (dsr.Service.Resume) once the last
// delivery settled.
type Waiting struct{ Pending, Total int }

func (w *Waiting) Error() string { return "sites: " + w.WaitingFor() }

// WaitingFor says what the request waits for, for its timeline: counts, no names.
func (w *Waiting) WaitingFor() string {
	return fmt.Sprintf("%d of %d site deliveries to be confirmed", w.Pending, w.Total)
}

// EventOf is the event a request of type t tells sites of, and false for types sites are
// not told of (access, portability, objection).
func EventOf(t dsr.Type) (string, bool) {
	switch t {
	case dsr.Erasure:
		return Erasure, true
	case dsr.Rectification:
		return Rectification, true
	case dsr.Restriction:
		return Restriction, true
	}
	return "", false
}

// DataOf is what a delivery about r tells the site beyond the subject's id: the corrected
// fields of a rectification, the restriction's new state; nothing for an erasure.
func DataOf(r dsr.Request) any {
	switch r.Type {
	case dsr.Rectification:
		if r.Rectification != nil {
			return r.Rectification
		}
	case dsr.Restriction:
		return map[string]bool{"restricted": !r.Lift}
	}
	return struct{}{}
}

// Deliver is the step of a rights request's work that tells the sites: it makes the
// deliveries (idempotent, see Enqueue) and answers with a detail once every one confirmed
// (or when no site takes the event); a *Waiting error while some are pending; and a
// permanent failure naming each system that did not confirm, and why, once none is pending
// and some failed. The request's subject must still be known (run it before the subject id
// is erased).
func (s *Service) Deliver(ctx context.Context, r dsr.Request) (detail string, err error) {
	event, ok := EventOf(r.Type)
	if !ok || r.SubjectID == "" {
		return "no sites to tell", nil
	}
	total, err := s.Enqueue(ctx, r, event, DataOf(r))
	if err != nil {
		return "", err
	}
	if total == 0 {
		return "no sites to tell", nil
	}
	ds, err := s.Deliveries(ctx, r.Tenant, r.ID)
	if err != nil {
		return "", err
	}
	var pending int
	var failed []string
	for _, d := range ds {
		switch d.State {
		case Pending:
			pending++
		case Failed:
			failed = append(failed, d.Name+" ("+d.SystemID+"): "+d.LastError)
		}
	}
	switch {
	case pending > 0:
		return "", &Waiting{Pending: pending, Total: len(ds)}
	case len(failed) > 0:
		reason := "sites did not confirm: " + strings.Join(failed, "; ")
		return "", fulfilment.Permanent(reason, fmt.Errorf("sites: %d deliveries failed", len(failed)))
	}
	return strconv.Itoa(len(ds)) + " sites confirmed", nil
}
