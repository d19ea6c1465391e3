// Package notifyfn builds the two functions of policy change notices, on one notify.Runner
// built in one place: NotifyFunction (New), fed by the table's stream, starts the run of each
// version published; NoticesFunction (NewNotices), on a schedule, continues every run not
// done. The policy routes themselves are RequestsFunction's (package policyapi).
package notifyfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/notify"
	"github.com/example/gdpr/internal/policy"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/schedule"
	"github.com/example/gdpr/internal/tenant"
)

// Settings, all optional, from the function's environment.
const (
	// EnvMaxRate caps the send rate of notices (messages per second) below the transport's,
	// leaving room for the service's other mail.
	EnvMaxRate = "NOTIFY_MAX_RATE"
	// EnvConcurrency is how many shards of a run are worked at once.
	EnvConcurrency = "NOTIFY_CONCURRENCY"
)

// JobName is the "job" of NoticesFunction's schedule Input.
const JobName = "notifications"

// New builds NotifyFunction: the stream records of published versions.
func New(p *ports.Ports) (func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error), error) {
	f, err := NewWith(p, os.Getenv)
	if err != nil {
		return nil, err
	}
	return f.Stream, nil
}

// NewNotices builds NoticesFunction: the schedule that continues every run not done.
func NewNotices(p *ports.Ports) (func(context.Context, json.RawMessage) (json.RawMessage, error), error) {
	f, err := NewWith(p, os.Getenv)
	if err != nil {
		return nil, err
	}
	return f.Schedule, nil
}

// Function is either function's work: the runner both hand their events to.
type Function struct {
	Runner *notify.Runner
	log    *slog.Logger
}

// NewWith builds the runner on p with settings from env.
func NewWith(p *ports.Ports, env func(string) string) (*Function, error) {
	var maxRate float64
	if v := env(EnvMaxRate); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("notifyfn: %s must be a positive number", EnvMaxRate)
		}
		maxRate = r
	}
	conc := notify.DefaultConcurrency
	if v := env(EnvConcurrency); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 16 {
			return nil, fmt.Errorf("notifyfn: %s must be 1 to 16", EnvConcurrency)
		}
		conc = n
	}
	rates, _ := p.Mail.(mail.RateSource)
	tenants := tenant.NewCache(tenant.Store{Table: p.Table, Clock: p.Clock}, p.Clock)
	policies := policy.Store{Table: p.Table, Clock: p.Clock, Tenants: tenants, Audit: audit.Log{Table: p.Table}}
	return &Function{
		Runner: &notify.Runner{
			Table:       p.Table,
			Clock:       p.Clock,
			Secrets:     p.Secrets,
			Mail:        p.Mail,
			Pacer:       notify.NewPacer(rates, maxRate, p.Log),
			Tenants:     tenants,
			Policies:    policies,
			Audit:       audit.Log{Table: p.Table},
			Log:         p.Log,
			Concurrency: conc,
		},
		log: p.Log,
	}, nil
}

// Stream starts (and works on, until the deadline) the run of each published version a
// record names. A record whose run could not be worked on is reported for retry; one whose
// run another invocation holds, or is done, succeeds: a duplicate record sends nothing.
func (f *Function) Stream(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var resp events.DynamoDBEventResponse
	for _, rec := range ev.Records {
		tenantID, version, ok := policy.ParseKey(rec.Change.Keys["pk"].String(), rec.Change.Keys["sk"].String())
		if !ok {
			f.log.Warn("stream record is not a policy version; skipped", "event_id", rec.EventID)
			continue
		}
		rep, err := f.Runner.Work(ctx, tenantID, version)
		if errors.Is(err, notify.ErrRunNotFound) {
			// A version is published with its run, in one transaction: a record without one
			// is no publication of this service, and retrying it cannot change that.
			f.log.Warn("stream record names a version without a run; skipped", "tenant", tenantID, "version", version)
			continue
		}
		if err != nil {
			f.log.Error("notification run failed; record to be retried", "tenant", tenantID, "version", version,
				"sequence", rec.Change.SequenceNumber, "error", err.Error())
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: rec.Change.SequenceNumber})
			continue
		}
		f.log.Info("notification run worked on", "tenant", tenantID, "version", version, "state", rep.State, "notified", rep.Notified, "busy", rep.Busy)
	}
	return resp, nil
}

// scheduleReport is what the schedule answers (and POST /_local/jobs/notifications shows).
type scheduleReport struct {
	Job  string          `json:"job"`
	Runs []notify.Report `json:"runs"`
}

// Schedule takes the schedule's Input ({"job":"notifications"}) and continues every run not
// done, until the deadline. A run that failed is named in the report and makes the invocation
// fail, so that the function's alarm sees it.
func (f *Function) Schedule(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
	if err := schedule.Check(input, JobName); err != nil {
		return nil, fmt.Errorf("notifyfn: %w", err)
	}
	reps, err := f.Runner.WorkAll(ctx)
	if err != nil {
		f.log.Error("notification runs failed", "error", err.Error())
		return nil, err
	}
	return json.Marshal(scheduleReport{Job: JobName, Runs: reps})
}
