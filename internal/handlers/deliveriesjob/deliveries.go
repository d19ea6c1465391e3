// Package deliveriesjob is DeliveriesFunction: the scheduled job that retries the calls to
// marketplace sites that are due, and wakes the requests whose deliveries have all settled.
package deliveriesjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/schedule"
	"github.com/example/gdpr/internal/sites"
	"github.com/example/gdpr/internal/tenant"
)

// deliveriesJob is the Input of DeliveriesFunction's schedule in template.yaml.
const deliveriesJob = "deliveries"

type report struct {
	Job     string `json:"job"`
	Tenants int    `json:"tenants"`
	sites.Report
}

// New builds the job: for every tenant, the due deliveries are read from their queue on the
// expiry index by time and attempted, within the run's budget. A tenant that fails does not
// stop the others; the run then fails, and the next one reads the same deliveries again
// (every attempt is conditional on the delivery's version).
func New(p *ports.Ports) (func(context.Context, json.RawMessage) (json.RawMessage, error), error) {
	tenants := tenant.Store{Table: p.Table, Clock: p.Clock}
	svc := sites.New(p.Table, p.Clock, p.Secrets, p.Local, p.Log)
	svc.Requests = dsr.New(p.Table, tenants, p.Mail, p.Clock, p.Secrets)
	return func(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
		if err := schedule.Check(input, deliveriesJob); err != nil {
			return nil, fmt.Errorf("handlers: deliveries: %w", err)
		}
		ids, err := tenants.List(ctx)
		if err != nil {
			return nil, fmt.Errorf("handlers: deliveries: %w", err)
		}
		rep := report{Job: deliveriesJob, Tenants: len(ids)}
		var errs []error
		for _, id := range ids {
			t, err := tenants.Get(ctx, id)
			if err == nil {
				err = svc.Due(ctx, id, t.CreatedAt, sites.DefaultBudget, &rep.Report)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
			}
		}
		p.Log.LogAttrs(ctx, slog.LevelInfo, "deliveries",
			slog.Int("tenants", len(ids)), slog.Int("attempted", rep.Attempted),
			slog.Int("confirmed", rep.Confirmed), slog.Int("failed", rep.Failed), slog.Bool("more", rep.More))
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("handlers: deliveries: %w", err)
		}
		return json.Marshal(rep)
	}, nil
}
