package notify

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/bounces"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/policy"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// Defaults of a Runner.
const (
	DefaultConcurrency = 4
	DefaultPageSize    = 100
	// DefaultMargin is kept free before an invocation's deadline: the checkpoints of the
	// shards are written in it.
	DefaultMargin = 5 * time.Second
	// maxSlice bounds an invocation without a deadline (a local job called by hand).
	maxSlice = 10 * time.Minute
	// leaseSlack is added to the deadline for the lease: an invocation works no later than
	// its deadline, so a lease past its end belongs to an invocation that is gone.
	leaseSlack = 30 * time.Second
	// backoffMax bounds one wait after a throttled or failed send.
	backoffMax     = 30 * time.Second
	backoffBase    = 200 * time.Millisecond
	transientTries = 4
)

// Runner works on notification runs.
//
// Table operations per subject, constant whatever the tenant's size: 2 Gets (the consent
// state: erased?, and the address's bounce mark) and 2 Puts (the marker's claim before the
// send, its outcome after; 1 for a suppressed subject, none for an erased one), plus 1/PageSize of a GSI1 Query
// for the page and 1/PageSize of a shard checkpoint Put, plus 1/1000 of a counting Query at
// the shard's start. A subject met again after a crash (its marker exists) costs 1 Get of the
// marker instead of the sends.
type Runner struct {
	Table   table.Table
	Clock   clock.Clock
	Secrets secrets.Master
	Mail    mail.Sender
	// Pacer is shared by every run and shard of the process.
	Pacer   *Pacer
	Tenants interface {
		Get(ctx context.Context, id string) (tenant.Tenant, error)
	}
	Policies policy.Store
	Audit    audit.Log
	Log      *slog.Logger
	// Concurrency is how many shards of a run are worked at once (DefaultConcurrency).
	Concurrency int
	// PageSize is how many subjects one GSI1 query reads (DefaultPageSize).
	PageSize int
	// Margin is left free before the deadline (DefaultMargin).
	Margin time.Duration
}

// Report tells what one invocation did to one run.
type Report struct {
	Tenant  string `json:"tenant"`
	Version string `json:"version"`
	// State is the run's state after the invocation; Busy when another invocation holds it.
	State string `json:"state"`
	Busy  bool   `json:"busy,omitempty"`
	// Notified counts the subjects this invocation dealt with.
	Notified int64  `json:"notified"`
	Error    string `json:"error,omitempty"`
}

// errStop ends a shard's work for this invocation: the deadline is near.
var errStop = errors.New("notify: stopping before the deadline")

// WorkAll works on every run not done, one after the other, until the deadline.
func (r *Runner) WorkAll(ctx context.Context) ([]Report, error) {
	var entries []registryEntry
	q := table.Query{PK: registryPK, Limit: 1000}
	for {
		page, err := r.Table.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			var e registryEntry
			if err := it.Decode(&e); err != nil {
				return nil, err
			}
			entries = append(entries, e)
		}
		if page.Next == "" || len(page.Items) == 0 {
			break
		}
		q.Cursor = page.Next
	}
	reports := []Report{}
	var errs []error
	for _, e := range entries {
		if time.Now().After(r.stopAt(ctx)) {
			break
		}
		rep, err := r.Work(ctx, e.Tenant, e.Version)
		if err != nil {
			errs = append(errs, err)
		}
		reports = append(reports, rep)
	}
	return reports, errors.Join(errs...)
}

// stopAt is when work stops: the deadline less the margin, or maxSlice from now.
func (r *Runner) stopAt(ctx context.Context) time.Time {
	margin := r.Margin
	if margin == 0 {
		margin = DefaultMargin
	}
	if d, ok := ctx.Deadline(); ok {
		return d.Add(-margin)
	}
	return time.Now().Add(maxSlice)
}

// Work works on one run until it is done or the deadline is near. It takes the run's lease
// first: while another invocation holds it, it returns at once with Busy. A run already done
// changes nothing: a redelivered stream record sends nothing twice.
func (r *Runner) Work(ctx context.Context, tenantID, version string) (Report, error) {
	rep := Report{Tenant: tenantID, Version: version}
	stop := r.stopAt(ctx)
	// The lease is the invocation's own, not the process's: gdprd runs the stream's and the
	// schedule's invocations in one process, and they must not work on one run together.
	owner := base64.RawURLEncoding.EncodeToString(secrets.Random(12))
	rn, rv, ok, err := r.lease(ctx, tenantID, version, owner, stop)
	if err != nil {
		rep.Error = err.Error()
		return rep, err
	}
	rep.State = rn.State
	if !ok {
		rep.Busy = rn.State != StateDone
		return rep, nil
	}
	p, err := r.Policies.Get(ctx, tenantID, version)
	if err != nil {
		return rep, err
	}
	t, err := r.Tenants.Get(ctx, tenantID)
	if err != nil {
		return rep, err
	}
	shards, err := readShards(ctx, r.Table, tenantID, version)
	if err != nil {
		return rep, err
	}
	w := &work{Runner: r, tenant: tenantID, policy: p, dpo: t.DPOEmail, stop: stop}
	conc := r.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var mu sync.Mutex
	final := map[int]shard{}
	var errs []error
	for n := range subject.Shards {
		sh, found := shards[n]
		if !found {
			sh = shard{N: n}
		}
		if sh.Done {
			final[n] = sh
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			out, notified, err := w.shard(ctx, sh)
			mu.Lock()
			defer mu.Unlock()
			final[n] = out
			rep.Notified += notified
			if err != nil && !errors.Is(err, errStop) {
				errs = append(errs, fmt.Errorf("shard %d: %w", n, err))
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		// Gone as a killed invocation would be: the lease runs out, the next one goes on
		// from the checkpoints and markers.
		return rep, err
	}
	done := len(final) == subject.Shards
	for _, sh := range final {
		done = done && sh.Done
	}
	if done {
		rn, err = r.complete(ctx, tenantID, rn, rv, final)
	} else {
		rn, err = r.release(ctx, tenantID, rn, rv)
	}
	rep.State = rn.State
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		rep.Error = err.Error()
		return rep, err
	}
	return rep, nil
}

// lease reads the run and takes it for this invocation until stop (plus slack). It answers
// ok false when the run is done or another invocation holds it. Taking a run that has taken
// effect unfinished records, once, that it is late, in the audit too.
func (r *Runner) lease(ctx context.Context, tenantID, version, owner string, stop time.Time) (run, int64, bool, error) {
	for attempt := 0; ; attempt++ {
		it, err := r.Table.Get(ctx, runKey(tenantID, version))
		if errors.Is(err, table.ErrNotFound) {
			return run{}, 0, false, ErrRunNotFound
		}
		if err != nil {
			return run{}, 0, false, err
		}
		var rn run
		if err := it.Decode(&rn); err != nil {
			return run{}, 0, false, err
		}
		now := r.Clock.Now()
		if rn.State == StateDone || (rn.LeaseOwner != "" && now.Before(rn.LeaseUntil)) {
			return rn, it.Version, false, nil
		}
		next := rn
		next.LeaseOwner = owner
		next.LeaseUntil = now.Add(time.Until(stop) + r.marginOr() + leaseSlack)
		if next.State == StatePending {
			next.State, next.StartedAt = StateRunning, now
		}
		ws := []table.Write{}
		if next.LateAt.IsZero() && !now.Before(rn.EffectiveAt) {
			next.LateAt = now
			aw, err := r.Audit.Append(ctx, tenantID, now, audit.Event{Actor: audit.ActorSystem, Action: "policy.notices_late",
				Detail: map[string]string{"version": version, "effective_at": rn.EffectiveAt.Format(time.RFC3339)}})
			if err != nil {
				return run{}, 0, false, err
			}
			ws = aw
		}
		ni, err := table.NewItem(runKey(tenantID, version), it.Version, next)
		if err != nil {
			return run{}, 0, false, err
		}
		err = r.Table.Transact(ctx, append([]table.Write{table.Put(ni, table.VersionIs(it.Version))}, ws...))
		if err == nil {
			if !next.LateAt.IsZero() && rn.LateAt.IsZero() {
				r.log().Warn("policy took effect before every subject was told", "tenant", tenantID, "version", version)
			}
			return next, it.Version + 1, true, nil
		}
		if !errors.Is(err, table.ErrConflict) || attempt == 10 {
			return run{}, 0, false, err
		}
	}
}

func (r *Runner) marginOr() time.Duration {
	if r.Margin == 0 {
		return DefaultMargin
	}
	return r.Margin
}

// release gives the lease back, so that the next invocation need not wait for it to end.
func (r *Runner) release(ctx context.Context, tenantID string, rn run, version int64) (run, error) {
	rn.LeaseOwner, rn.LeaseUntil = "", time.Time{}
	it, err := table.NewItem(runKey(tenantID, rn.Version), version, rn)
	if err != nil {
		return rn, err
	}
	return rn, r.Table.Put(ctx, it, table.VersionIs(version))
}

// complete marks the run done, drops it from the registry and audits its counts, in one
// transaction under the lease's version: a second invocation cannot complete it again.
func (r *Runner) complete(ctx context.Context, tenantID string, rn run, version int64, shards map[int]shard) (run, error) {
	now := r.Clock.Now()
	rn.State, rn.FinishedAt, rn.LeaseOwner, rn.LeaseUntil = StateDone, now, "", time.Time{}
	st := status(rn, shards, now)
	detail := map[string]string{
		"version":    rn.Version,
		"total":      strconv.FormatInt(st.Total, 10),
		"sent":       strconv.FormatInt(st.Sent, 10),
		"failed":     strconv.FormatInt(st.Failed, 10),
		"suppressed": strconv.FormatInt(st.Suppressed, 10),
	}
	if !rn.LateAt.IsZero() {
		detail["late_since"] = rn.LateAt.Format(time.RFC3339)
		detail["late_sent"] = strconv.FormatInt(st.Late.Sent, 10)
	}
	for attempt := 0; ; attempt++ {
		aw, err := r.Audit.Append(ctx, tenantID, now, audit.Event{Actor: audit.ActorSystem, Action: "policy.notices_completed", Detail: detail})
		if err != nil {
			return rn, err
		}
		it, err := table.NewItem(runKey(tenantID, rn.Version), version, rn)
		if err != nil {
			return rn, err
		}
		ws := append([]table.Write{
			table.Put(it, table.VersionIs(version)),
			table.Delete(registryKey(tenantID, rn.Version), table.Cond{}),
		}, aw...)
		err = r.Table.Transact(ctx, ws)
		var ce *table.ConflictError
		if err == nil || !errors.As(err, &ce) || ce.Index < 2 || attempt == 10 {
			if err == nil {
				r.log().Info("notification run done", "tenant", tenantID, "version", rn.Version, "sent", st.Sent, "failed", st.Failed, "suppressed", st.Suppressed)
			}
			return rn, err
		}
	}
}

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// work is one invocation's work on one run.
type work struct {
	*Runner
	tenant string
	policy policy.Policy
	dpo    string
	stop   time.Time
}

// profileEntry is what a run reads of a profile on GSI1.
type profileEntry struct {
	SubjectID string `json:"subject_id"`
	Email     string `json:"email"`
	GSI1SK    string `json:"gsi1sk"`
}

// shard works on one shard until it is done, the deadline is near (errStop) or a failure
// stops it; its checkpoint is written after every page and at the stop. A cancelled context
// stops it without a checkpoint, as a killed process would.
func (w *work) shard(ctx context.Context, sh shard) (shard, int64, error) {
	var notified int64
	pageSize := w.PageSize
	if pageSize <= 0 {
		pageSize = DefaultPageSize
	}
	if !sh.Counted {
		n, err := w.countShard(ctx, sh.N)
		if err != nil {
			return sh, 0, err
		}
		sh.Total, sh.Counted = n, true
	}
	version := int64(-1) // unknown until read: the checkpoint is written under it
	save := func(next shard) error {
		err := w.saveShard(ctx, next, &version)
		if err == nil {
			sh = next
		}
		return err
	}
	cur := sh.clone()
	for {
		from := "S#"
		if cur.After != "" {
			// The next key after After: ids hold no character below "-", so a space sorts
			// between After and every key that extends it.
			from = cur.After + " "
		}
		page, err := w.Table.Query(ctx, table.Query{Index: "GSI1", PK: subject.ShardPK(w.tenant, cur.N), From: from, Limit: pageSize})
		if err != nil {
			return sh, notified, err
		}
		for _, it := range page.Items {
			if ctx.Err() != nil {
				return sh, notified, ctx.Err()
			}
			var pe profileEntry
			if err := it.Decode(&pe); err != nil {
				return sh, notified, err
			}
			m, err := w.subject(ctx, pe)
			if err != nil {
				if ctx.Err() != nil {
					return sh, notified, ctx.Err()
				}
				serr := save(cur)
				return sh, notified, errors.Join(err, serr)
			}
			cur.count(m)
			cur.After = pe.GSI1SK
			notified++
		}
		if len(page.Items) < pageSize || page.Next == "" {
			cur.Done = true
		}
		if err := save(cur.clone()); err != nil {
			return sh, notified, err
		}
		if cur.Done {
			return sh, notified, nil
		}
	}
}

// countShard counts a shard's subjects with pages of 1,000.
func (w *work) countShard(ctx context.Context, n int) (int64, error) {
	var total int64
	q := table.Query{Index: "GSI1", PK: subject.ShardPK(w.tenant, n), Prefix: "S#", Limit: 1000}
	for {
		page, err := w.Table.Query(ctx, q)
		if err != nil {
			return 0, err
		}
		total += int64(len(page.Items))
		if page.Next == "" || len(page.Items) == 0 {
			return total, nil
		}
		q.Cursor = page.Next
	}
}

// saveShard writes a shard's checkpoint under the version last written (read first when
// unknown). Only the run's lease holder writes it, so a conflict means a lost lease.
func (w *work) saveShard(ctx context.Context, sh shard, version *int64) error {
	k := shardKey(w.tenant, w.policy.Version, sh.N)
	if *version < 0 {
		it, err := w.Table.Get(ctx, k)
		switch {
		case errors.Is(err, table.ErrNotFound):
			*version = 0
		case err != nil:
			return err
		default:
			*version = it.Version
		}
	}
	it, err := table.NewItem(k, *version, sh)
	if err != nil {
		return err
	}
	if err := w.Table.Put(ctx, it, table.VersionIs(*version)); err != nil {
		return fmt.Errorf("notify: checkpoint: %w", err)
	}
	*version++
	return nil
}

// subject tells one subject, once, and returns the outcome its marker holds. errStop means
// nothing was sent and no claim is left: the subject is the first of the next invocation.
func (w *work) subject(ctx context.Context, pe profileEntry) (marker, error) {
	reason, err := w.suppressed(ctx, pe)
	if err != nil {
		return marker{}, err
	}
	now := w.Clock.Now()
	late := !now.Before(w.policy.EffectiveAt)
	mk := markerKey(w.tenant, w.policy.Version, pe.SubjectID)
	if reason != "" {
		m := marker{State: markerSuppressed, Reason: reason, At: now}
		if reason == ReasonErased {
			// No marker: its key would name a subject being erased (EraseSubject), and an
			// erased subject is never sent to, so there is no send to guard.
			return m, nil
		}
		return w.claim(ctx, mk, m)
	}
	if !w.Pacer.Wait(ctx, w.stop) {
		if ctx.Err() != nil {
			return marker{}, ctx.Err()
		}
		return marker{}, errStop
	}
	// From the claim to the outcome the subject's step is not cancelled: a killed
	// invocation stops between subjects, never between a claim, its send and its record.
	if err := ctx.Err(); err != nil {
		return marker{}, err
	}
	// Rendered before the claim, so that a notice that cannot be written leaves no marker.
	msg, err := renderNotice(defaultLocale, noticeData{Tenant: w.tenant, Policy: w.policy, DPO: w.dpo})
	if err != nil {
		return marker{}, err
	}
	sctx := context.WithoutCancel(ctx)
	claim := marker{State: markerSending, At: now}
	if m, err := w.claim(sctx, mk, claim); err != nil || m != claim {
		return m, err // told before: the marker says how
	}
	msg.To = pe.Email
	for attempt := 0; ; attempt++ {
		_, err := w.Mail.Send(sctx, msg)
		switch {
		case err == nil:
			at := w.Clock.Now()
			return w.record(sctx, mk, marker{State: markerSent, At: at, Late: late || !at.Before(w.policy.EffectiveAt)})
		case errors.Is(err, mail.ErrRejected):
			code := reasonOf(err)
			if err := (bounces.Store{Table: w.Table, Secrets: w.Secrets}).Mark(sctx, w.tenant, pe.Email, code, w.Clock.Now()); err != nil {
				w.log().Warn("bounce mark not written", "tenant", w.tenant, "error", err.Error())
			}
			return w.record(sctx, mk, marker{State: markerFailed, Reason: code, At: w.Clock.Now()})
		case errors.Is(err, mail.ErrThrottled):
			// Throttled: nothing was sent. Wait and send again; at the deadline give the
			// claim back, so that the next invocation sends it.
			w.log().Warn("send throttled; backing off", "tenant", w.tenant, "attempt", attempt+1)
		case attempt+1 >= transientTries:
			// Not throttled, not rejected: a timeout, a 5xx. Give the claim back and stop
			// this shard for now.
			return marker{}, errors.Join(fmt.Errorf("notify: send: %w", err), w.unclaim(sctx, mk))
		}
		if !sleep(ctx, backoff(attempt), w.stop) {
			if err := w.unclaim(sctx, mk); err != nil {
				return marker{}, err
			}
			if ctx.Err() != nil {
				return marker{}, ctx.Err()
			}
			return marker{}, errStop
		}
		if !w.Pacer.Wait(ctx, w.stop) {
			if err := w.unclaim(sctx, mk); err != nil {
				return marker{}, err
			}
			if ctx.Err() != nil {
				return marker{}, ctx.Err()
			}
			return marker{}, errStop
		}
	}
}

// suppressed tells why a subject is not to be told, or "": erased, no address, an address
// that bounced. A restricted subject is told: informing is not the processing restricted.
func (w *work) suppressed(ctx context.Context, pe profileEntry) (string, error) {
	it, err := w.Table.Get(ctx, subject.Key(w.tenant, pe.SubjectID, subject.SKConsent))
	switch {
	case errors.Is(err, table.ErrNotFound):
	case err != nil:
		return "", err
	default:
		var st struct {
			Erased bool `json:"erased"`
		}
		if err := it.Decode(&st); err != nil {
			return "", err
		}
		if st.Erased {
			return ReasonErased, nil
		}
	}
	if pe.Email == "" {
		return ReasonNoEmail, nil
	}
	bounced, err := (bounces.Store{Table: w.Table, Secrets: w.Secrets}).IsBounced(ctx, w.tenant, pe.Email)
	if err != nil {
		return "", err
	}
	if bounced {
		return ReasonBouncing, nil
	}
	return "", nil
}

// claim puts the marker if the subject has none; otherwise it returns the one there.
func (w *work) claim(ctx context.Context, k table.Key, m marker) (marker, error) {
	it, err := table.NewItem(k, 0, m)
	if err != nil {
		return marker{}, err
	}
	err = w.Table.Put(ctx, it, table.Cond{Kind: table.IfAbsent})
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, table.ErrConflict) {
		return marker{}, err
	}
	got, err := w.Table.Get(ctx, k)
	if err != nil {
		return marker{}, err
	}
	var old marker
	return old, got.Decode(&old)
}

// record writes the outcome over the claim (version 1: this invocation's own).
func (w *work) record(ctx context.Context, k table.Key, m marker) (marker, error) {
	it, err := table.NewItem(k, 1, m)
	if err != nil {
		return marker{}, err
	}
	return m, w.Table.Put(ctx, it, table.VersionIs(1))
}

// unclaim removes a claim whose message was never sent.
func (w *work) unclaim(ctx context.Context, k table.Key) error {
	return w.Table.Delete(ctx, k, table.VersionIs(1))
}

// reasonOf is the code a failed send names (SES's error code), or "rejected".
func reasonOf(err error) string {
	var c interface{ ErrorCode() string }
	if errors.As(err, &c) && c.ErrorCode() != "" {
		return c.ErrorCode()
	}
	return "rejected"
}

// backoff is the wait after the attempt-th failed send: doubling, full jitter, capped.
func backoff(attempt int) time.Duration {
	d := backoffBase << min(attempt, 10)
	if d > backoffMax {
		d = backoffMax
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d, unless ctx ends or the wait would pass until.
func sleep(ctx context.Context, d time.Duration, until time.Time) bool {
	if time.Now().Add(d).After(until) {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
