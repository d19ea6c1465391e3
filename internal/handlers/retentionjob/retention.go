// Package retentionjob is RetentionFunction: the scheduled storage-limitation and deadline job.
package retentionjob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/idempotency"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/tenant"
)

// retentionJob is the Input of RetentionFunction's schedule in template.yaml.
const retentionJob = "retention"

// retentionReport is what a run did, by kind, over every tenant. Every kind is listed, with 0
// when nothing of it expired, so the report's shape does not depend on the data.
type retentionReport struct {
	Job     string         `json:"job"`
	Tenants int            `json:"tenants"`
	Deleted map[string]int `json:"deleted"`
	Expired map[string]int `json:"expired"`
}

// New builds the job: for every tenant, one walk of the expiry index
// deletes what has outlived its retention (device observations, idempotency records,
// rate-limit counters) and hands deadlines to their owners (requests left unverified for 7
// days expire). A tenant that fails does not stop the others; the run then fails, so the
// schedule retries it (every step is idempotent).
func New(p *ports.Ports) (func(context.Context, json.RawMessage) (json.RawMessage, error), error) {
	tenants := tenant.Store{Table: p.Table, Clock: p.Clock}
	svc := dsr.New(p.Table, tenants, p.Mail, p.Clock, p.Secrets)
	sweeper := expiry.Sweeper{Table: p.Table, Deadlines: map[string]expiry.DeadlineFunc{dsr.KindRequests: svc.ExpireRequest}}
	job := func(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
		var in struct {
			Job string `json:"job"`
		}
		dec := json.NewDecoder(bytes.NewReader(input))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil || in.Job != retentionJob {
			return nil, fmt.Errorf("handlers: retention: input is not {\"job\":%q}", retentionJob)
		}
		now := p.Clock.Now()
		ids, err := tenants.List(ctx)
		if err != nil {
			return nil, fmt.Errorf("handlers: retention: %w", err)
		}
		rep := retentionReport{
			Job:     retentionJob,
			Tenants: len(ids),
			Deleted: map[string]int{consent.KindDevices: 0, idempotency.Kind: 0, dsr.KindRateLimit: 0},
			Expired: map[string]int{dsr.KindRequests: 0},
		}
		var errs []error
		for _, id := range ids {
			t, err := tenants.Get(ctx, id)
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
				continue
			}
			r, err := sweeper.Sweep(ctx, id, t.CreatedAt, now)
			for kind, n := range r.Deleted {
				rep.Deleted[kind] += n
			}
			for kind, n := range r.Expired {
				rep.Expired[kind] += n
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %w", id, err))
			}
		}
		p.Log.LogAttrs(ctx, slog.LevelInfo, "retention",
			slog.Int("tenants", len(ids)),
			slog.Any("deleted", rep.Deleted),
			slog.Any("expired", rep.Expired),
		)
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("handlers: retention: %w", err)
		}
		return json.Marshal(rep)
	}
	return job, nil
}
