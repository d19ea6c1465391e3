package consent

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/policy"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// State is the stored consent state of one subject: the item CONSENT of its partition. The
// table's item version is its optimistic lock: every change is a put conditional on the
// version read, so concurrent writers never lose an update and never fork the ledger.
type State struct {
	SubjectID     string `json:"subject_id"`
	PolicyVersion string `json:"policy_version"`
	// TermsVersion is the policy version of the last decision on terms, which the reconsent
	// rule asks about ("" in states written before it was kept: PolicyVersion then stands).
	TermsVersion string                  `json:"terms_version,omitempty"`
	Purposes     map[string]PurposeState `json:"purposes"`
	// Restricted and Objected are set by the fulfilment of restriction and objection requests.
	Restricted bool `json:"restricted"`
	Objected   bool `json:"objected"`
	// Erased marks a subject whose data was erased: it reads as not found, and a new
	// decision starts it afresh (the chain goes on).
	Erased bool `json:"erased"`
	// Seq, LastHash and LastAt describe the newest ledger entry: the next one links to it.
	Seq       int64     `json:"seq"`
	LastHash  string    `json:"last_hash"`
	LastAt    time.Time `json:"last_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at"`
	// ActiveAt is the subject's last activity but requests, and Attrs its inactivity
	// deadline (activity.go).
	ActiveAt time.Time `json:"active_at,omitzero"`
	expiry.Attrs
}

func (st State) granted(purpose string) bool { return st.Purposes[purpose].Granted }

// Tenants gives a tenant's settings; tenant.Store and tenant.Cache are ones. Errors:
// tenant.ErrNotFound.
type Tenants interface {
	Get(ctx context.Context, id string) (tenant.Tenant, error)
}

// Policies is what the consent rules need of the privacy policies a tenant publishes. No
// package implements it yet (the policies issue adds the catalogue), so every function builds
// its Service without one, which treats every tenant as having published none: any policy
// version is accepted and no reconsent is required.
type Policies interface {
	// Published tells whether the tenant has published version, and whether it has
	// published any version at all.
	Published(ctx context.Context, tenant, version string) (published, anyPublished bool, err error)
	// Timeline returns the tenant's published versions, for the reconsent rule.
	Timeline(ctx context.Context, tenant string) (policy.Timeline, error)
}

// Config holds a Service's dependencies. Policies may be nil.
type Config struct {
	Table    table.Table
	Clock    clock.Clock
	Secrets  secrets.Master
	Tenants  Tenants
	Policies Policies
}

// Service applies the consent rules over the table port.
//
// Table operations per call, with Tenants a tenant.Cache (it reads each tenant at most once per
// tenant.CacheTTL per process; a plain tenant.Store adds one Get to every call):
//
//	Get (the login gate)    1 Get (state)
//	Record                  1 Get (state) + 1 Transact (state, entry); with an email that is
//	                        kept: + 1 Get (profile), and the Transact also writes the profile
//	                        and the email lookup
//	Withdraw, Object        1 Get (state) + 1 Transact (state, entry)
//	SetRestricted           1 Get (state) + 1 Put (state); nothing when already so
//	History                 1 Get (state) + 1 Query
//	PutProfile              2 Get (state, profile) + 1 Transact (check state, profile, and the
//	                        email lookups that change)
//	GetProfile              1 Get (profile)
//	RecordDevice            1 Get (state) + 1 Transact (check state, device)
//
// With Policies a policy.Cache, the tenant's policy versions are read (1 Query) at most once
// per policy.CacheTTL per process, and again when a decision names a version not in them.
//
// A write that loses to a concurrent writer reads again and retries (table.Retry), adding
// those operations again.
type Service struct {
	table    table.Table
	clock    clock.Clock
	secrets  secrets.Master
	policies Policies
	tenants  Tenants
}

// New returns a Service.
func New(c Config) *Service {
	return &Service{
		table:    c.Table,
		clock:    c.Clock,
		secrets:  c.Secrets,
		policies: c.Policies,
		tenants:  c.Tenants,
	}
}

// Get returns a subject's consent state: the gate a plugin asks before it logs a user in.
// Errors: ErrNotFound (also for an erased subject), tenant.ErrNotFound.
func (s *Service) Get(ctx context.Context, tenantID, subjectID string) (View, error) {
	t, err := s.tenants.Get(ctx, tenantID)
	if err != nil {
		return View{}, err
	}
	st, _, err := s.state(ctx, tenantID, subjectID)
	if err != nil {
		return View{}, err
	}
	if st.Erased {
		return View{}, ErrNotFound
	}
	return s.view(ctx, t, st)
}

// Record records one decision: it appends an entry to the subject's ledger and updates the
// state, in one transaction. A subject is created by its first decision.
//
// Rules: every purpose must be on the tenant's list; with GPC, marketing is recorded as refused
// whatever the decision says; a subject who objected to marketing is granted it again only by
// MethodExplicitOptIn, which also ends the objection.
//
// Decision.Email is the subject's contact address (for requests by email and policy notices).
// It is kept only when, after the decision, terms is granted and processing is not restricted
// (a subject who refused the terms has no account to keep an address for), and only when the
// subject's profile holds no email yet: it is then written to the profile (created with just
// the email when there is none) and to the email lookup, in the decision's transaction. An
// address already on the profile is never replaced from here; the profile and rectification
// change it.
//
// Errors: validation_failed, unknown_purpose, ErrUnknownPolicyVersion, ErrMarketingObjected,
// ErrEmailInUse (nothing is stored then), tenant.ErrNotFound.
func (s *Service) Record(ctx context.Context, tenantID string, d Decision) (Receipt, error) {
	if err := d.Validate(); err != nil {
		return Receipt{}, err
	}
	t, err := s.tenants.Get(ctx, tenantID)
	if err != nil {
		return Receipt{}, err
	}
	var unknown []string
	for name := range d.Purposes {
		if _, ok := t.Purpose(name); !ok {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return Receipt{}, unknownPurposes("purposes.", unknown)
	}
	if err := s.checkPolicy(ctx, tenantID, d.PolicyVersion); err != nil {
		return Receipt{}, err
	}
	purposes := maps.Clone(d.Purposes)
	if _, ok := t.Purpose(PurposeMarketing); ok && d.GPC {
		purposes[PurposeMarketing] = false
	}

	w := subject.NewProfileWrite(s.secrets, tenantID, d.SubjectID)
	var entry Entry
	var next State
	err = table.Retry(ctx, func() error {
		st, version, err := s.state(ctx, tenantID, d.SubjectID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if st.Erased {
			st = State{Seq: st.Seq, LastHash: st.LastHash, LastAt: st.LastAt}
		}
		if st.Objected && purposes[PurposeMarketing] && d.Method != MethodExplicitOptIn {
			return ErrMarketingObjected
		}
		entry, next = s.append(tenantID, d.SubjectID, st, purposes, d.Method, d.PolicyVersion)
		touch(&next, t, next.LastAt)
		entry.GPC = d.GPC
		if !d.Evidence.IsZero() {
			ev := d.Evidence
			salt := secrets.Random(16)
			entry.Evidence, entry.EvidenceSalt, entry.EvidenceDigest = &ev, base64.RawURLEncoding.EncodeToString(salt), EvidenceDigest(salt, ev)
		}
		if d.Method == MethodExplicitOptIn && purposes[PurposeMarketing] {
			next.Objected = false
		}
		ws, err := s.entryWrites(tenantID, d.SubjectID, &next, version, &entry)
		if err != nil {
			return err
		}
		if d.Email != "" && next.granted(PurposeTerms) && !next.Restricted {
			more, err := s.contactEmailWrites(ctx, tenantID, d.SubjectID, d.Email, w, next.LastAt)
			if err != nil {
				return err
			}
			ws = append(ws, more...)
		}
		return s.transact(ctx, ws, w)
	})
	if err != nil {
		return Receipt{}, err
	}
	v, err := s.view(ctx, t, next)
	return Receipt{Entry: entry, State: v}, err
}

// Withdraw takes back consent for the named purposes, or for every purpose when none is named,
// in one ledger entry with MethodWithdrawal. Errors: validation_failed, unknown_purpose (a
// purpose neither on the tenant's list nor in the subject's state), ErrNotFound.
func (s *Service) Withdraw(ctx context.Context, tenantID string, w Withdrawal) (View, error) {
	if err := w.Validate(); err != nil {
		return View{}, err
	}
	t, err := s.tenants.Get(ctx, tenantID)
	if err != nil {
		return View{}, err
	}
	var next State
	err = table.Retry(ctx, func() error {
		st, version, err := s.state(ctx, tenantID, w.SubjectID)
		if err != nil {
			return err
		}
		if st.Erased {
			return ErrNotFound
		}
		names := w.Purposes
		if len(names) == 0 {
			names = allPurposes(t, st)
		}
		var unknown []string
		purposes := make(map[string]bool, len(names))
		for _, name := range names {
			_, listed := t.Purpose(name)
			_, held := st.Purposes[name]
			if !listed && !held {
				unknown = append(unknown, name)
			}
			purposes[name] = false
		}
		if len(unknown) > 0 {
			slices.Sort(unknown)
			return unknownPurposes("purposes.", unknown)
		}
		var entry Entry
		entry, next = s.append(tenantID, w.SubjectID, st, purposes, MethodWithdrawal, st.PolicyVersion)
		touch(&next, t, next.LastAt)
		entry.GPC = w.GPC
		return s.commit(ctx, tenantID, w.SubjectID, &next, version, &entry)
	})
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, t, next)
}

// Object applies an objection to direct marketing (Art. 21(2)): marketing is withdrawn and the
// subject marked objected, in one ledger entry with MethodObjection naming the request. It is
// idempotent: a subject already objected and without marketing is left as it is, so a
// redelivered request changes nothing. Errors: ErrNotFound.
func (s *Service) Object(ctx context.Context, tenantID, subjectID, requestID string) (View, error) {
	t, err := s.tenants.Get(ctx, tenantID)
	if err != nil {
		return View{}, err
	}
	var next State
	err = table.Retry(ctx, func() error {
		st, version, err := s.state(ctx, tenantID, subjectID)
		if err != nil {
			return err
		}
		if st.Erased {
			return ErrNotFound
		}
		if st.Objected && !st.granted(PurposeMarketing) {
			next = st
			return nil
		}
		var entry Entry
		entry, next = s.append(tenantID, subjectID, st, map[string]bool{PurposeMarketing: false}, MethodObjection, st.PolicyVersion)
		entry.RequestID = requestID
		next.Objected = true
		return s.commit(ctx, tenantID, subjectID, &next, version, &entry)
	})
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, t, next)
}

// SetRestricted flags or unflags the subject's processing as restricted (Art. 18). While
// restricted, no new profile or device data is taken in. Restriction is not a consent decision,
// so it writes no ledger entry; setting what is already set writes nothing. Errors: ErrNotFound.
func (s *Service) SetRestricted(ctx context.Context, tenantID, subjectID string, restricted bool) (View, error) {
	t, err := s.tenants.Get(ctx, tenantID)
	if err != nil {
		return View{}, err
	}
	var st State
	err = table.Retry(ctx, func() error {
		var version int64
		var err error
		st, version, err = s.state(ctx, tenantID, subjectID)
		if err != nil {
			return err
		}
		if st.Erased {
			return ErrNotFound
		}
		if st.Restricted != restricted {
			st.Restricted, st.UpdatedAt = restricted, s.clock.Now()
			it, err := table.NewItem(subject.Key(tenantID, subjectID, subject.SKConsent), version, st)
			if err != nil {
				return err
			}
			if err := s.table.Put(ctx, it, table.VersionIs(version)); err != nil {
				if errors.Is(err, table.ErrConflict) {
					return table.ErrRetry
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, t, st)
}

// History returns one page of the subject's ledger, newest first. Errors: ErrNotFound,
// table.ErrBadCursor.
func (s *Service) History(ctx context.Context, tenantID, subjectID string, limit int, cursor string) ([]Entry, string, error) {
	st, _, err := s.state(ctx, tenantID, subjectID)
	if err != nil {
		return nil, "", err
	}
	if st.Erased {
		return nil, "", ErrNotFound
	}
	page, err := s.table.Query(ctx, table.Query{
		PK:     subject.PK(tenantID, subjectID),
		Prefix: subject.SKLedgerPrefix,
		Desc:   true,
		Limit:  limit,
		Cursor: cursor,
	})
	if err != nil {
		return nil, "", err
	}
	entries := make([]Entry, len(page.Items))
	for i, it := range page.Items {
		if err := it.Decode(&entries[i]); err != nil {
			return nil, "", err
		}
	}
	return entries, page.Next, nil
}

// append builds the ledger entry of a decision on purposes and the state after it. The entry's
// time never goes back along the chain: a writer whose clock is behind the last entry's (two
// Lambda hosts disagree by a few milliseconds) records the last entry's time, so the ledger's
// sort key order stays the chain order. The caller sets the entry's Hash and the state's
// LastHash once the entry is complete.
func (s *Service) append(tenantID, subjectID string, st State, purposes map[string]bool, m Method, policyVersion string) (Entry, State) {
	now := s.clock.Now().UTC()
	if now.Before(st.LastAt) {
		now = st.LastAt
	}
	e := Entry{
		ReceiptID:     secrets.NewID("rcpt_", secrets.IDBytes),
		Seq:           st.Seq + 1,
		Tenant:        tenantID,
		Subject:       subject.Pseudonym(s.secrets, tenantID, subjectID),
		RecordedAt:    now,
		PolicyVersion: policyVersion,
		Purposes:      purposes,
		Method:        m,
		PrevHash:      st.LastHash,
	}
	next := st
	next.SubjectID = subjectID
	next.PolicyVersion = policyVersion
	next.Purposes = maps.Clone(st.Purposes)
	if next.Purposes == nil {
		next.Purposes = map[string]PurposeState{}
	}
	for name, granted := range purposes {
		next.Purposes[name] = PurposeState{Granted: granted, At: now}
	}
	if _, ok := purposes[PurposeTerms]; ok {
		next.TermsVersion = policyVersion
	}
	next.Seq, next.LastAt, next.UpdatedAt = e.Seq, now, now
	return e, next
}

// commit writes a decision's entry with the new state.
func (s *Service) commit(ctx context.Context, tenantID, subjectID string, next *State, version int64, entry *Entry) error {
	ws, err := s.entryWrites(tenantID, subjectID, next, version, entry)
	if err != nil {
		return err
	}
	return s.transact(ctx, ws, nil)
}

// entryWrites seal the entry (its hash, which the state then links to) and return the two
// writes of every decision: the state, conditional on the version read, and the new ledger
// entry, which must not exist.
func (s *Service) entryWrites(tenantID, subjectID string, next *State, version int64, entry *Entry) ([]table.Write, error) {
	entry.Hash = entry.ComputeHash()
	next.LastHash = entry.Hash
	st, err := table.NewItem(subject.Key(tenantID, subjectID, subject.SKConsent), version, next)
	if err != nil {
		return nil, err
	}
	e, err := table.NewItem(subject.Key(tenantID, subjectID, ledgerSK(entry.RecordedAt, entry.Seq)), 0, entry)
	if err != nil {
		return nil, err
	}
	return []table.Write{table.Put(st, table.VersionIs(version)), table.Put(e, table.Cond{Kind: table.IfAbsent})}, nil
}

// transact runs the writes of one attempt. With a profile write among them, its Failed reads
// the outcome (a lookup another subject holds is ErrEmailInUse); otherwise any failed
// condition means a concurrent writer: table.ErrRetry.
func (s *Service) transact(ctx context.Context, ws []table.Write, w *subject.ProfileWrite) error {
	err := s.table.Transact(ctx, ws)
	if w != nil {
		return w.Failed(ctx, s.table, err)
	}
	if errors.Is(err, table.ErrConflict) {
		return fmt.Errorf("%w: %w", table.ErrRetry, err)
	}
	return err
}

// state reads a subject's state and its version. Errors: ErrNotFound.
func (s *Service) state(ctx context.Context, tenantID, subjectID string) (State, int64, error) {
	if subject.ValidateID(subjectID) != nil {
		return State{}, 0, ErrNotFound
	}
	it, err := s.table.Get(ctx, subject.Key(tenantID, subjectID, subject.SKConsent))
	if errors.Is(err, table.ErrNotFound) {
		return State{}, 0, ErrNotFound
	}
	if err != nil {
		return State{}, 0, err
	}
	var st State
	if err := it.Decode(&st); err != nil {
		return State{}, 0, err
	}
	return st, it.Version, nil
}

// view renders a state for clients: every purpose of the tenant's list, and any other the
// state still holds (a purpose taken off the list stays visible, and withdrawable).
func (s *Service) view(ctx context.Context, t tenant.Tenant, st State) (View, error) {
	v := View{
		SubjectID:     st.SubjectID,
		PolicyVersion: st.PolicyVersion,
		Purposes:      make(map[string]PurposeState, len(t.Purposes)),
		Restricted:    st.Restricted,
		Objected:      st.Objected,
	}
	for _, name := range allPurposes(t, st) {
		v.Purposes[name] = st.Purposes[name]
	}
	v.LoginAllowed = !st.Erased && st.granted(PurposeTerms)
	for _, p := range t.Purposes {
		if p.Required && !st.granted(p.Name) {
			v.LoginAllowed = false
		}
	}
	if s.policies != nil {
		tl, err := s.policies.Timeline(ctx, t.ID)
		if err != nil {
			return View{}, err
		}
		termsVersion := st.TermsVersion
		if termsVersion == "" {
			termsVersion = st.PolicyVersion
		}
		v.ReconsentRequired = tl.ReconsentRequired(s.clock.Now(), st.Purposes[PurposeTerms].At, termsVersion)
	}
	return v, nil
}

// allPurposes lists the tenant's purposes and then any other the state holds, sorted.
func allPurposes(t tenant.Tenant, st State) []string {
	var names []string
	for _, p := range t.Purposes {
		names = append(names, p.Name)
	}
	for name := range st.Purposes {
		if _, ok := t.Purpose(name); !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func (s *Service) checkPolicy(ctx context.Context, tenantID, version string) error {
	if s.policies == nil {
		return nil
	}
	published, anyPublished, err := s.policies.Published(ctx, tenantID, version)
	if err != nil {
		return err
	}
	if anyPublished && !published {
		return ErrUnknownPolicyVersion
	}
	return nil
}
