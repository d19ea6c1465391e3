package sites

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
)

// States of a delivery.
const (
	Pending   = "pending"
	Confirmed = "confirmed"
	Failed    = "failed"
)

// Queue is the deliveries' queue on the expiry index: pending deliveries by next attempt.
const Queue expiry.Queue = "DLV"

// Delivery is one event told to one system, as operators see it.
type Delivery struct {
	SystemID  string `json:"system_id"`
	Name      string `json:"name"`
	Event     string `json:"event"`
	State     string `json:"state"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error,omitempty"`
}

// delivery is a delivery as the table keeps it, in its request's partition. Its body holds
// the subject's id at the site (and, for a rectification, the new values), so it is sealed,
// and dropped once the site confirmed.
type delivery struct {
	Delivery
	// WebhookID is the webhook-id of every call of this delivery, so the site can dedupe.
	WebhookID string `json:"webhook_id"`
	Tenant    string `json:"tenant"`
	RequestID string `json:"request_id"`
	// Subject is the subject's pseudonym, for the audit trail.
	Subject   string     `json:"subject,omitempty"`
	Body      string     `json:"body_sealed,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	GiveUpAt  time.Time  `json:"give_up_at"`
	NextAt    *time.Time `json:"next_at,omitempty"`
	SettledAt *time.Time `json:"settled_at,omitempty"`
	// Wake is set on the delivery that settled its request's last one while the request's
	// work was still running: the job asks the request again until it waits or closes.
	Wake bool `json:"wake,omitempty"`
	expiry.Attrs
}

func deliveryKey(tenant, requestID, systemID, event string) table.Key {
	return table.Key{PK: "T#" + tenant + "#R#" + requestID, SK: deliveryPrefix + systemID + "#" + event}
}

const deliveryPrefix = "DLV#"

// queued puts d on the queue at t, or takes it off for a zero t.
func (d *delivery) queued(k table.Key, t time.Time) {
	if t.IsZero() {
		d.NextAt, d.Attrs = nil, expiry.Attrs{}
		return
	}
	d.NextAt, d.Attrs = &t, Queue.At(d.Tenant, k, t)
}

// Body is what a site receives.
type Body struct {
	Type      string `json:"type"`
	RequestID string `json:"request_id"`
	Tenant    string `json:"tenant"`
	SubjectID string `json:"subject_id"`
	Data      any    `json:"data"`
}

// firstRetry is how long after a delivery is made the job attempts it, should the first
// attempt (made at once) never report: the maker crashed, say.
const firstRetry = time.Minute

// Enqueue makes one delivery of event about the request r for each system that takes the
// event, and attempts each new one at once. It is idempotent: a delivery exists once per
// request, system and event (a conditional put), keeps its webhook-id on every call, and
// a repeated Enqueue neither makes nor calls again what exists (the job retries). n is the
// number of the request's deliveries of event. data is the body's data member: what the
// site needs and nothing more.
func (s *Service) Enqueue(ctx context.Context, r dsr.Request, event string, data any) (n int, err error) {
	systems, err := s.Systems(ctx, r.Tenant)
	if err != nil {
		return 0, err
	}
	body, err := json.Marshal(Body{Type: "subject." + event, RequestID: r.ID, Tenant: r.Tenant, SubjectID: r.SubjectID, Data: data})
	if err != nil {
		return 0, err
	}
	now := s.now()
	type made struct {
		k table.Key
		d delivery
	}
	var fresh []made
	for _, sys := range systems {
		if !sys.Takes(event) {
			continue
		}
		n++
		k := deliveryKey(r.Tenant, r.ID, sys.ID, event)
		d := delivery{
			Delivery:  Delivery{SystemID: sys.ID, Name: sys.Name, Event: event, State: Pending},
			WebhookID: "msg_" + base64.RawURLEncoding.EncodeToString(secrets.Random(16)),
			Tenant:    r.Tenant, RequestID: r.ID,
			Body:      s.Secrets.Seal(secrets.ForSites, body, []byte(k.PK+"|"+k.SK)),
			CreatedAt: now, GiveUpAt: now.Add(Window),
		}
		if r.SubjectID != "" {
			d.Subject = subject.Pseudonym(s.Secrets, r.Tenant, r.SubjectID)
		}
		d.queued(k, now.Add(firstRetry))
		it, err := table.NewItem(k, 0, d)
		if err != nil {
			return 0, err
		}
		switch err := s.Table.Put(ctx, it, table.Cond{Kind: table.IfAbsent}); {
		case errors.Is(err, table.ErrConflict):
			continue // made before: a replay
		case err != nil:
			return 0, err
		}
		fresh = append(fresh, made{k, d})
	}
	// The first calls go out together: a slow site does not hold up the others.
	errs := make([]error, len(fresh))
	var wg sync.WaitGroup
	for i, m := range fresh {
		wg.Go(func() { _, errs[i] = s.attempt(ctx, m.k, m.d, 1) })
	}
	wg.Wait()
	return n, errors.Join(errs...)
}

// attempt calls the site once and stores the outcome, conditional on the version read
// (version), and returns the delivery's state after it. A delivery another attempt changed
// meanwhile is left to it (state "").
func (s *Service) attempt(ctx context.Context, k table.Key, d delivery, version int64) (state string, err error) {
	outcome := s.call(ctx, k, d)
	now := s.now()
	d.Attempts++
	var ev *audit.Event
	switch {
	case outcome == "":
		d.State, d.LastError, d.Body, d.SettledAt = Confirmed, "", "", &now
		d.queued(k, time.Time{})
		ev = s.deliveryEvent("delivery.confirmed", d, nil)
	case !now.Before(d.GiveUpAt) || outcome == reasonRemoved:
		d.State, d.LastError, d.SettledAt = Failed, outcome, &now
		d.queued(k, time.Time{})
		ev = s.deliveryEvent("delivery.failed", d, map[string]string{"reason": outcome, "attempts": strconv.Itoa(d.Attempts)})
	default:
		d.LastError = outcome
		next := now.Add(Backoff(d.Attempts))
		if next.After(d.GiveUpAt) {
			next = d.GiveUpAt // one last call when the window closes
		}
		d.queued(k, next)
	}
	it, err := table.NewItem(k, version, d)
	if err != nil {
		return "", err
	}
	w := table.Put(it, table.VersionIs(version))
	if ev == nil {
		err = s.Table.Put(ctx, it, table.VersionIs(version))
	} else {
		err = s.audited(ctx, d.Tenant, now, w, *ev)
	}
	if errors.Is(err, table.ErrConflict) {
		return "", nil // another attempt stored its outcome first
	}
	if err != nil {
		return "", err
	}
	s.Log.Info("delivery", "tenant", d.Tenant, "request_id", d.RequestID, "system_id", d.SystemID, "event", d.Event,
		"attempt", d.Attempts, "state", d.State, "outcome", d.LastError)
	if d.State == Pending {
		return Pending, nil
	}
	return d.State, s.settled(ctx, k, d, version+1)
}

func (s *Service) deliveryEvent(action string, d delivery, detail map[string]string) *audit.Event {
	if detail == nil {
		detail = map[string]string{}
	}
	detail["system_id"], detail["name"], detail["event"], detail["webhook_id"] = d.SystemID, d.Name, d.Event, d.WebhookID
	return &audit.Event{Actor: audit.ActorSystem, Action: action, Subject: d.Subject, RequestID: d.RequestID, Detail: detail}
}

// reasonRemoved fails a delivery to a system no longer registered.
const reasonRemoved = "system removed"

// maxAnswer bounds how much of a site's answer is read (and thrown away): enough for the
// connection to be reused, never enough to matter.
const maxAnswer = 64 << 10

// call makes one call of d, signed with the system's current secret, and returns "" for a
// 2xx answer or why it failed otherwise. The answer's body is never kept or logged.
func (s *Service) call(ctx context.Context, k table.Key, d delivery) string {
	st, _, err := s.load(ctx, d.Tenant, d.SystemID)
	if errors.Is(err, ErrSystemNotFound) {
		return reasonRemoved
	}
	if err != nil {
		return "system unreadable"
	}
	secret, err := s.openSecret(systemKey(d.Tenant, d.SystemID), st.Secret)
	if err != nil {
		return "signing secret unreadable"
	}
	body, err := s.Secrets.Open(secrets.ForSites, d.Body, []byte(k.PK+"|"+k.SK))
	if err != nil {
		return "body unreadable"
	}
	if _, err := ValidateURL(st.URL, s.Local); err != nil {
		return "url not allowed"
	}
	ts := s.Clock.Now().Unix()
	sig, err := Sign(secret, d.WebhookID, ts, body)
	if err != nil {
		return "signing secret unreadable"
	}
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.URL, bytes.NewReader(body))
	if err != nil {
		return "url not allowed"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gdpr-service-webhooks/1")
	req.Header.Set("webhook-id", d.WebhookID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := s.Client.Do(req)
	if err != nil {
		return reason(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return ""
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fmt.Sprintf("HTTP %d: redirects are not followed", resp.StatusCode)
	}
	return fmt.Sprintf("HTTP %d", resp.StatusCode)
}

// Backoff is the wait after the n-th failed attempt: a minute, doubling each time up to six
// hours, of which a random half is taken off (jitter), so that sites that failed together
// are not called together again.
func Backoff(n int) time.Duration {
	d := time.Minute << min(n-1, 9)
	d = min(d, 6*time.Hour)
	return d/2 + rand.N(d/2)
}

// list reads the request's deliveries with their versions.
func (s *Service) list(ctx context.Context, tenant, requestID string) ([]table.Item, []delivery, error) {
	// At most MaxSystems systems times three events.
	page, err := s.Table.Query(ctx, table.Query{PK: "T#" + tenant + "#R#" + requestID, Prefix: deliveryPrefix, Limit: 3 * MaxSystems})
	if err != nil {
		return nil, nil, err
	}
	ds := make([]delivery, len(page.Items))
	for i, it := range page.Items {
		if err := it.Decode(&ds[i]); err != nil {
			return nil, nil, err
		}
	}
	return page.Items, ds, nil
}

// Deliveries lists a request's deliveries, for operators.
func (s *Service) Deliveries(ctx context.Context, tenant, requestID string) ([]Delivery, error) {
	_, ds, err := s.list(ctx, tenant, requestID)
	if err != nil {
		return nil, err
	}
	out := make([]Delivery, len(ds)) // [] rather than null when there are none
	for i, d := range ds {
		out[i] = d.Delivery
	}
	return out, nil
}

// Failure is one system that did not confirm, and why.
type Failure struct {
	SystemID string `json:"system_id"`
	Name     string `json:"name"`
	Event    string `json:"event"`
	Reason   string `json:"reason"`
}

// Status tells where a request's deliveries stand: all confirmed (true also when there are
// none), or which failed. A request with deliveries neither all confirmed nor failed waits.
func (s *Service) Status(ctx context.Context, tenant, requestID string) (allConfirmed bool, failed []Failure, err error) {
	_, ds, err := s.list(ctx, tenant, requestID)
	if err != nil {
		return false, nil, err
	}
	allConfirmed = true
	for _, d := range ds {
		switch d.State {
		case Failed:
			failed = append(failed, Failure{SystemID: d.SystemID, Name: d.Name, Event: d.Event, Reason: d.LastError})
			allConfirmed = false
		case Pending:
			allConfirmed = false
		}
	}
	return allConfirmed, failed, nil
}

// Told names the systems that confirmed a delivery of the request, for the receipt.
func (s *Service) Told(ctx context.Context, tenant, requestID string) ([]string, error) {
	_, ds, err := s.list(ctx, tenant, requestID)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range ds {
		if d.State == Confirmed {
			names = append(names, d.Name)
		}
	}
	return names, nil
}

// Requeue takes a request's failed deliveries back to pending, with a new window, for the
// next run of the job, and returns how many. Their webhook-ids stay.
func (s *Service) Requeue(ctx context.Context, tenant, requestID, actor string) (int, error) {
	items, ds, err := s.list(ctx, tenant, requestID)
	if err != nil {
		return 0, err
	}
	now, n := s.now(), 0
	for i, d := range ds {
		if d.State != Failed {
			continue
		}
		d.State, d.GiveUpAt, d.SettledAt, d.Wake = Pending, now.Add(Window), nil, false
		d.queued(items[i].Key, now)
		it, err := table.NewItem(items[i].Key, items[i].Version, d)
		if err != nil {
			return n, err
		}
		ev := s.deliveryEvent("delivery.requeued", d, nil)
		ev.Actor = actor
		if err := s.audited(ctx, tenant, now, table.Put(it, table.VersionIs(items[i].Version)), *ev); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// settled is run when d (stored at version) has settled: when its request's deliveries
// all have, the request is woken, so that its work goes on (and completes, or fails naming
// the systems). While the request's work still runs it cannot be woken; d then stays on the
// queue, marked Wake, and the job asks again a minute later.
func (s *Service) settled(ctx context.Context, k table.Key, d delivery, version int64) error {
	if s.Requests == nil {
		return nil
	}
	_, ds, err := s.list(ctx, d.Tenant, d.RequestID)
	if err != nil {
		return err
	}
	for _, o := range ds {
		if o.State == Pending {
			return nil // the last to settle wakes the request
		}
	}
	r, woken, err := s.Requests.Resume(ctx, d.Tenant, d.RequestID, "deliveries settled")
	if err != nil {
		return err
	}
	recheck := !woken && r.Status == dsr.Processing && s.now().Before(d.GiveUpAt.Add(24*time.Hour))
	if recheck == d.Wake {
		return nil
	}
	d.Wake = recheck
	if recheck {
		d.queued(k, s.now().Add(time.Minute))
	} else {
		d.queued(k, time.Time{})
	}
	it, err := table.NewItem(k, version, d)
	if err != nil {
		return err
	}
	if err := s.Table.Put(ctx, it, table.VersionIs(version)); err != nil && !errors.Is(err, table.ErrConflict) {
		return err
	}
	return nil
}
