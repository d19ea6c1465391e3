// Package retentionjob is RetentionFunction: the scheduled storage-limitation and deadline job.
package retentionjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/export"
	"github.com/example/gdpr/internal/idempotency"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/schedule"
	"github.com/example/gdpr/internal/tenant"
)

// retentionJob is the Input of RetentionFunction's schedule in template.yaml.
const retentionJob = "retention"

// Handler is the job's function, as the schedule and /_local/jobs call it.
type Handler = func(context.Context, json.RawMessage) (json.RawMessage, error)

// Report is what a run did over every tenant, by task. Every count is listed, with 0 when
// there was nothing to do, so the report's shape does not depend on the data.
type Report struct {
	Job     string `json:"job"`
	Tenants int    `json:"tenants"`
	// Finished is false when the run stopped before its deadline with work left: the next
	// run goes on from there.
	Finished bool `json:"finished"`
	// Deleted: items past their retention, by kind (device observations, exports with their
	// objects, idempotency records, rate-limit counters, expired verification codes).
	Deleted map[string]int `json:"deleted"`
	// Expired: requests left unverified for 7 days.
	Expired map[string]int `json:"expired"`
	// Deadlines: reminders sent to DPOs, requests found overdue (flagged and reported),
	// erasures opened for inactive subjects.
	Deadlines map[string]int `json:"deadlines"`
}

func newReport() Report {
	return Report{
		Job:      retentionJob,
		Finished: true,
		Deleted: map[string]int{consent.KindDevices: 0, export.KindExports: 0, idempotency.Kind: 0,
			dsr.KindRateLimit: 0, dsr.KindCodes: 0},
		Expired:   map[string]int{dsr.KindRequests: 0},
		Deadlines: map[string]int{dsr.DoneReminder: 0, dsr.DoneOverdue: 0, dsr.DoneInactive: 0},
	}
}

// New builds the job: for every tenant, one walk of the expiry index (expiry.Sweeper) from
// the tenant's checkpoint deletes what has outlived its retention and hands deadlines and
// expired exports to their owners. A tenant that fails does not stop the others; the run then
// fails, so the schedule retries it (every step is idempotent). A run that nears its deadline
// stops, answers what it did with finished false, and the next goes on.
func New(p *ports.Ports) (Handler, error) {
	store := tenant.Store{Table: p.Table, Clock: p.Clock}
	tenants := tenant.NewCache(store, p.Clock)
	svc := dsr.New(p.Table, tenants, p.Mail, p.Clock, p.Secrets)
	subjects := consent.New(consent.Config{Table: p.Table, Clock: p.Clock, Secrets: p.Secrets, Tenants: tenants})
	owners := svc.Owners()
	owners[export.KindExports] = export.Records{Table: p.Table, Clock: p.Clock}.Expire(p.Objects)
	owners[consent.KindInactive] = subjects.Inactive(svc, dsr.DoneInactive)
	sweeper := expiry.Sweeper{Table: p.Table, Deadlines: svc.Deadlines(), Owners: owners}
	job := func(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
		if err := schedule.Check(input, retentionJob); err != nil {
			return nil, fmt.Errorf("handlers: retention: %w", err)
		}
		now := p.Clock.Now()
		ids, err := store.List(ctx)
		if err != nil {
			return nil, fmt.Errorf("handlers: retention: %w", err)
		}
		rep := newReport()
		rep.Tenants = len(ids)
		var errs []error
		for _, id := range ids {
			t, err := store.Get(ctx, id)
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
				continue
			}
			r, err := sweeper.Sweep(ctx, id, t.CreatedAt, now)
			add(rep.Deleted, r.Deleted)
			add(rep.Expired, r.Expired)
			add(rep.Deadlines, r.Done)
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
			}
			if err == nil && !r.Finished {
				rep.Finished = false
				break
			}
		}
		p.Log.LogAttrs(ctx, slog.LevelInfo, "retention",
			slog.Int("tenants", len(ids)),
			slog.Bool("finished", rep.Finished),
			slog.Any("deleted", rep.Deleted),
			slog.Any("expired", rep.Expired),
			slog.Any("deadlines", rep.Deadlines),
		)
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("handlers: retention: %w", err)
		}
		return json.Marshal(rep)
	}
	return job, nil
}

func add(to, from map[string]int) {
	for k, n := range maps.All(from) {
		to[k] += n
	}
}
