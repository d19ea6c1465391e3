package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/tenant"
)

// retentionJob is the Input of RetentionFunction's schedule in template.yaml.
const retentionJob = "retention"

// retentionReport is what a run did, by kind, over every tenant.
type retentionReport struct {
	Job     string         `json:"job"`
	Deleted map[string]int `json:"deleted"`
	Expired map[string]int `json:"expired"`
}

// Retention builds RetentionFunction's job: for every tenant, requests left unverified for
// 7 days expire, and idempotency records and rate-limit counters past their time are
// deleted. A tenant that fails does not stop the others; the run then fails, so the
// schedule retries it (every step is idempotent).
func Retention(p *ports.Ports) ScheduleHandler {
	svc := requestService(p)
	tenants := tenant.Store{Table: p.Table, Clock: p.Clock}
	return func(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
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
			Deleted: map[string]int{"idempotency_records": 0, "rate_limit_counters": 0},
			Expired: map[string]int{"requests": 0},
		}
		var errs []error
		for _, id := range ids {
			n, err := svc.ExpireUnverified(ctx, id, now)
			rep.Expired["requests"] += n
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: expire requests: %w", id, err))
			}
			var d dsr.Deleted
			d, err = svc.DeleteExpired(ctx, id, now)
			rep.Deleted["idempotency_records"] += d.IdempotencyRecords
			rep.Deleted["rate_limit_counters"] += d.RateLimitCounters
			if err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: delete expired records: %w", id, err))
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
}
