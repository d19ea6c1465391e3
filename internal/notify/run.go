// Package notify tells every subject of a tenant about a new policy version, once, before it
// takes effect: the notification run that publishing a version starts. A run pages through the
// tenant's subjects shard by shard on GSI1, claims each subject with a conditional put before
// it sends, keeps a cursor and counters per shard, stops before its invocation's deadline and
// goes on at the next one, paced to the mail transport's send rate.
package notify

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/policy"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
)

// States of a run.
const (
	StatePending = "pending" // published, no invocation has worked on it yet
	StateRunning = "running"
	StateDone    = "done"
)

// Outcomes of one subject, as its marker records them.
const (
	markerSending    = "sending"
	markerSent       = "sent"
	markerFailed     = "failed"
	markerSuppressed = "suppressed"
)

// Reasons recorded with an outcome.
const (
	ReasonErased      = "erased"
	ReasonNoEmail     = "no_email"
	ReasonBouncing    = "bouncing"
	ReasonInterrupted = "interrupted" // the send's outcome was never recorded: not retried, so never twice
)

// run is the item RUN#{version} in the tenant's policy partition: the run's state and its
// lease. Counters live in its shards.
type run struct {
	Version     string    `json:"version"`
	EffectiveAt time.Time `json:"effective_at"`
	State       string    `json:"state"`
	PublishedAt time.Time `json:"published_at"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	// LateAt is when an invocation first found the run unfinished after the version took
	// effect: notices sent from then on came late.
	LateAt time.Time `json:"late_at,omitzero"`
	// LeaseOwner works on the run until LeaseUntil: one process at a time, so that its pacer
	// is the run's only one.
	LeaseOwner string    `json:"lease_owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
}

// shard is the item RUN#{version}#SHARD#{nn}: how far a run got through one shard of the
// subjects (After: the last GSI1 sort key done) and what it did there.
type shard struct {
	N int `json:"n"`
	// After is the GSI1 sort key of the last subject done; "" before the first.
	After string `json:"after"`
	// Counted is set once Total holds the shard's subjects as counted at its start.
	Counted    bool  `json:"counted"`
	Total      int64 `json:"total"`
	Done       bool  `json:"done"`
	Processed  int64 `json:"processed"`
	Sent       int64 `json:"sent"`
	Failed     int64 `json:"failed"`
	Suppressed int64 `json:"suppressed"`
	// Late counts notices sent after the version took effect.
	Late int64 `json:"late"`
	// Reasons counts failures and suppressions by reason.
	Reasons map[string]int64 `json:"reasons,omitempty"`
}

// marker is the item S#{subject} of T#{t}#P#{version}: the subject's claim and outcome.
type marker struct {
	State  string    `json:"state"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
	Late   bool      `json:"late,omitempty"`
}

func runKey(tenantID, version string) table.Key {
	return table.Key{PK: policy.PK(tenantID), SK: "RUN#" + version}
}

func shardPrefix(version string) string { return "RUN#" + version + "#SHARD#" }

func shardKey(tenantID, version string, n int) table.Key {
	return table.Key{PK: policy.PK(tenantID), SK: fmt.Sprintf("%s%02d", shardPrefix(version), n)}
}

func markerKey(tenantID, version, subjectID string) table.Key {
	return table.Key{PK: policy.PK(tenantID) + "#" + version, SK: "S#" + subjectID}
}

// registryPK is the partition of the runs not done, across tenants (like the TENANTS
// registry, it names tenants and versions only): the schedule reads it instead of every
// tenant's policies.
const registryPK = "NOTIFYRUNS"

func registryKey(tenantID, version string) table.Key {
	return table.Key{PK: registryPK, SK: tenantID + "#" + version}
}

type registryEntry struct {
	Tenant  string `json:"tenant"`
	Version string `json:"version"`
}

// StartWrites are the writes that start the run of a version being published, for
// policy.Store.Publish to commit with it: the run, pending, and its registry entry.
func StartWrites(tenantID string, p policy.Policy) ([]table.Write, error) {
	r, err := table.NewItem(runKey(tenantID, p.Version), 0, run{Version: p.Version, EffectiveAt: p.EffectiveAt, State: StatePending, PublishedAt: p.PublishedAt})
	if err != nil {
		return nil, err
	}
	e, err := table.NewItem(registryKey(tenantID, p.Version), 0, registryEntry{Tenant: tenantID, Version: p.Version})
	if err != nil {
		return nil, err
	}
	return []table.Write{table.Put(r, table.Cond{Kind: table.IfAbsent}), table.Put(e, table.Cond{Kind: table.IfAbsent})}, nil
}

// Publish publishes a version with its run: what POST /v1/policies and gdprctl policies
// publish do. Errors: those of policy.Store.Publish.
func Publish(ctx context.Context, s policy.Store, tenantID string, in policy.Input) (policy.Policy, error) {
	return s.Publish(ctx, tenantID, in, func(p policy.Policy) ([]table.Write, error) { return StartWrites(tenantID, p) })
}

// Status is a run as GET /v1/policies/{version}/notifications shows it. Total is the
// tenant's subjects as counted when each shard began (exact once the run is done); Total =
// Sent + Pending + Failed + Suppressed.
type Status struct {
	Version    string           `json:"version"`
	State      string           `json:"state"`
	Total      int64            `json:"total"`
	Sent       int64            `json:"sent"`
	Pending    int64            `json:"pending"`
	Failed     int64            `json:"failed"`
	Suppressed int64            `json:"suppressed"`
	Reasons    map[string]int64 `json:"reasons"`
	// Late is set when the version took effect before the run finished.
	Late        *Late     `json:"late,omitempty"`
	EffectiveAt time.Time `json:"effective_at"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
}

// Late tells that the version took effect before every subject was told.
type Late struct {
	// Since is when a run was first found unfinished after the effective time.
	Since time.Time `json:"since"`
	// Sent counts the notices sent after the effective time; Pending those still to send.
	Sent    int64 `json:"sent"`
	Pending int64 `json:"pending"`
}

// ErrRunNotFound answers a version without a run (it was never published).
var ErrRunNotFound = apperr.New(apperr.NotFound, policy.CodePolicyNotFound, "No such policy version.")

// ReadStatus reads a run's status: 1 Get (the run) + 1 Query (its shards). Errors:
// ErrRunNotFound.
func ReadStatus(ctx context.Context, t table.Table, tenantID, version string, now time.Time) (Status, error) {
	if !policy.ValidVersion.MatchString(version) {
		return Status{}, ErrRunNotFound
	}
	it, err := t.Get(ctx, runKey(tenantID, version))
	if errors.Is(err, table.ErrNotFound) {
		return Status{}, ErrRunNotFound
	}
	if err != nil {
		return Status{}, err
	}
	var r run
	if err := it.Decode(&r); err != nil {
		return Status{}, err
	}
	shards, err := readShards(ctx, t, tenantID, version)
	if err != nil {
		return Status{}, err
	}
	return status(r, shards, now), nil
}

func status(r run, shards map[int]shard, now time.Time) Status {
	s := Status{Version: r.Version, State: r.State, EffectiveAt: r.EffectiveAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Reasons: map[string]int64{}}
	var late int64
	for _, sh := range shards {
		total := max(sh.Total, sh.Processed)
		if sh.Done {
			total = sh.Processed
		}
		s.Total += total
		s.Sent += sh.Sent
		s.Failed += sh.Failed
		s.Suppressed += sh.Suppressed
		s.Pending += total - sh.Processed
		late += sh.Late
		for k, v := range sh.Reasons {
			s.Reasons[k] += v
		}
	}
	since := r.LateAt
	if since.IsZero() && r.State != StateDone && !now.Before(r.EffectiveAt) {
		since = r.EffectiveAt
	}
	if !since.IsZero() {
		s.Late = &Late{Since: since, Sent: late, Pending: s.Pending}
	}
	return s
}

func readShards(ctx context.Context, t table.Table, tenantID, version string) (map[int]shard, error) {
	out := map[int]shard{}
	q := table.Query{PK: policy.PK(tenantID), Prefix: shardPrefix(version), Limit: subject.Shards}
	for {
		page, err := t.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			var sh shard
			if err := it.Decode(&sh); err != nil {
				return nil, err
			}
			out[sh.N] = sh
		}
		if page.Next == "" || len(page.Items) == 0 {
			return out, nil
		}
		q.Cursor = page.Next
	}
}

func (sh *shard) count(m marker) {
	sh.Processed++
	switch m.State {
	case markerSent:
		sh.Sent++
		if m.Late {
			sh.Late++
		}
		return
	case markerSuppressed:
		sh.Suppressed++
	default: // failed, or a claim whose send was never recorded
		sh.Failed++
		if m.State == markerSending {
			m.Reason = ReasonInterrupted
		}
	}
	if sh.Reasons == nil {
		sh.Reasons = map[string]int64{}
	}
	sh.Reasons[m.Reason]++
}

func (sh shard) clone() shard {
	sh.Reasons = maps.Clone(sh.Reasons)
	return sh
}
