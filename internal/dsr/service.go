package dsr

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// Tenants reads a tenant's settings; tenant.Store implements it.
type Tenants interface {
	Get(ctx context.Context, id string) (tenant.Tenant, error)
}

// Service runs data subject requests on the table port. Every change of a request is written
// in one transaction with its audit entry.
type Service struct {
	Table   table.Table
	Tenants Tenants
	Mail    mail.Sender
	Clock   clock.Clock
	Secrets secrets.Master
}

// New returns the service on these ports.
func New(t table.Table, tenants Tenants, m mail.Sender, clk clock.Clock, sec secrets.Master) *Service {
	return &Service{Table: t, Tenants: tenants, Mail: m, Clock: clk, Secrets: sec}
}

// Caller is who submits a request.
type Caller struct {
	// Actor is audit.ActorSubject for the public route, audit.ActorSite or
	// audit.ActorOperator for a key's holder.
	Actor string
	// Source is the caller's network address: public submissions are rate limited by it.
	Source string
}

func (c Caller) public() bool { return c.Actor == audit.ActorSubject }

// now is the service's time, to the second: time stamps of requests and the audit trail.
func (s *Service) now() time.Time { return s.Clock.Now().UTC().Truncate(time.Second) }

func (s *Service) audit() audit.Log { return audit.Log{Table: s.Table} }

// Submit validates and stores a request, pending verification, and emails its verification
// code to the address on file for the matching subject (or to the address given when none
// matches). Its answer does not depend on whether a subject matched.
//
// Errors: validation_failed; rate_limited (public callers, with RetryAfter); tenant_not_found.
func (s *Service) Submit(ctx context.Context, tenantID string, in Input, c Caller) (Request, error) {
	if err := in.Validate(c.public()); err != nil {
		return Request{}, err
	}
	t, err := s.Tenants.Get(ctx, tenantID)
	if err != nil {
		return Request{}, err
	}
	subjectID, to, err := s.recipient(ctx, tenantID, in, c.public())
	if err != nil {
		return Request{}, err
	}
	now := s.now()
	code := newSecret()
	r := Request{
		ID:            newID(),
		Tenant:        tenantID,
		Type:          in.Type,
		Status:        PendingVerification,
		SubjectID:     subjectID,
		Rectification: in.Rectification,
		Lift:          in.Lift != nil && *in.Lift,
		Note:          in.Note,
		ReceivedAt:    now,
		DueAt:         DueAt(now, AnswerMonths, t.Holidays),
		ReminderDays:  t.ReminderDays,
		CodeHash:      hashSecret(code),
		CodeExpiresAt: now.Add(CodeTTL),
	}
	s.sealContact(&r, to)
	r.event(now, "received", c.Actor, string(r.Type))
	r.event(now, "verification_sent", audit.ActorSystem, "")
	err = s.commit(ctx, func() error {
		var counters []table.Write
		if c.public() {
			var err error
			if counters, err = s.count(ctx, t, in.Email, c.Source, now); err != nil {
				return err
			}
		}
		return s.save(ctx, &r, 0, now, counters, audit.Event{
			Actor:     c.Actor,
			Action:    "request.received",
			Subject:   s.pseudonym(r),
			RequestID: r.ID,
			Detail:    map[string]string{"type": string(r.Type), "due_at": r.DueAt.Format(time.RFC3339)},
		})
	})
	if err != nil {
		return Request{}, err
	}
	return s.notify(ctx, r, "verification", mailData{Code: code})
}

// recipient finds the subject a request is about and the address its code goes to.
//
// A public caller proves nothing but, once verified, control of the address the code goes to:
// the request is about the subject holding that email (a subject_id it also names counts for
// nothing) and the code goes to that very address. So naming someone's id sends them nothing,
// and known and unknown emails cost the same reads. A site vouches for its user: its subject
// id names the subject, and the code goes to the address on file, or to the email the site
// gives when there is none.
func (s *Service) recipient(ctx context.Context, tenantID string, in Input, public bool) (subjectID, to string, err error) {
	if !public && in.SubjectID != "" {
		p, _, err := subject.GetProfile(ctx, s.Table, tenantID, in.SubjectID)
		switch {
		case err == nil && p.Email != "":
			return in.SubjectID, p.Email, nil
		case err != nil && !errors.Is(err, subject.ErrNotFound):
			return "", "", err
		case in.Email == "":
			return "", "", errNoAddress
		default:
			return in.SubjectID, in.Email, nil
		}
	}
	id, err := subject.FindByEmail(ctx, s.Table, s.Secrets, tenantID, in.Email)
	if errors.Is(err, subject.ErrNotFound) {
		return "", in.Email, nil
	}
	if err != nil {
		return "", "", err
	}
	// The lookup is keyed by the address on file: it is the email given.
	return id, in.Email, nil
}

// Verify checks a verification code. The right code verifies the request (once) and returns
// the access token of its status route, which is stored only as a hash. Each wrong code counts;
// the fifth locks the request. A request of a type the tenant wants approved
// (tenant.Settings.ApprovalRequired) then awaits an operator's approval (see Approve) instead
// of becoming verified.
//
// Errors: request_not_found; invalid_code; verification_locked; code_expired (the code is over
// 24 hours old, or the request over 7 days unverified); invalid_transition (the request is
// no longer pending verification).
func (s *Service) Verify(ctx context.Context, tenantID, id, code string) (Request, string, error) {
	t, err := s.Tenants.Get(ctx, tenantID)
	if errors.Is(err, tenant.ErrNotFound) {
		return Request{}, "", ErrNotFound
	}
	if err != nil {
		return Request{}, "", err
	}
	var token string
	// refused fails a call whose change is stored all the same: a wrong code counts.
	var refused error
	r, err := s.update(ctx, tenantID, id, s.now, func(r *Request, now time.Time) ([]audit.Event, error) {
		refused = nil
		switch {
		case r.Status == Expired, r.Status == PendingVerification && !now.Before(r.ReceivedAt.Add(UnverifiedTTL)):
			return nil, ErrCodeExpired
		case r.Status != PendingVerification:
			return nil, invalidTransition(r.Status, Verified)
		case r.Locked:
			return nil, ErrLocked
		case !now.Before(r.CodeExpiresAt):
			return nil, ErrCodeExpired
		}
		if !sameHash(hashSecret(strings.TrimSpace(code)), r.CodeHash) {
			r.WrongCodes++
			if r.WrongCodes < MaxWrongCodes {
				refused = ErrInvalidCode
				return nil, nil
			}
			r.Locked, refused = true, ErrLocked
			r.event(now, "verification_locked", audit.ActorSystem, "")
			return []audit.Event{s.change(*r, "request.verification_locked", audit.ActorSystem, nil)}, nil
		}
		token = newToken()
		r.TokenHash, r.VerifiedAt = hashSecret(token), &now
		to := Verified
		if t.NeedsApproval(string(r.Type)) {
			to = AwaitingApproval
		}
		ev, err := s.transition(r, to, now, audit.ActorSubject, "")
		return []audit.Event{ev}, err
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		return Request{}, "", err
	}
	return r, token, nil
}

// Status returns the request that token was issued for, while the request is open and for
// ClosedStatusTTL after it closed (see StatusKept). Errors: as StatusKept.
func (s *Service) Status(ctx context.Context, tenantID, id, token string) (Request, error) {
	return s.StatusKept(ctx, tenantID, id, token, nil)
}

// StatusKept is Status where alive, when not nil, may keep a closed request readable after
// ClosedStatusTTL: an access or portability request for as long as its export lives.
// Errors: unauthenticated, for a token that is missing, wrong, of another request or of a
// request closed too long ago, and for a request that does not exist: the answer tells
// nothing more.
func (s *Service) StatusKept(ctx context.Context, tenantID, id, token string, alive func(Request) (bool, error)) (Request, error) {
	if ValidateID(id) != nil {
		return Request{}, ErrUnauthorized
	}
	r, _, err := s.load(ctx, tenantID, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Request{}, err
	}
	// Compare even when there is nothing to compare with, so that timing does not tell.
	ok := sameHash(hashSecret(token), r.TokenHash)
	if err != nil || !ok || token == "" || r.TokenHash == "" {
		return Request{}, ErrUnauthorized
	}
	if r.Status.Closed() && !s.recentlyClosed(r) {
		keep := false
		if alive != nil {
			if keep, err = alive(r); err != nil {
				return Request{}, err
			}
		}
		if !keep {
			return Request{}, ErrUnauthorized
		}
	}
	return r, nil
}

// Get returns a request. Errors: request_not_found.
func (s *Service) Get(ctx context.Context, tenantID, id string) (Request, error) {
	r, _, err := s.load(ctx, tenantID, id)
	return r, err
}

// Extend moves the due date to three months after receipt (two further months, Art. 12(3)),
// once, before the first due date passes, and emails the subject the reason.
// Errors: validation_failed; request_not_found; cannot_extend.
func (s *Service) Extend(ctx context.Context, tenantID, id, reason, actor string) (Request, error) {
	if n := utf8.RuneCountInString(strings.TrimSpace(reason)); n == 0 || utf8.RuneCountInString(reason) > MaxReason {
		return Request{}, apperr.Validation(apperr.FieldError{Field: "reason", Message: "must be 1 to 1000 characters"})
	}
	t, err := s.Tenants.Get(ctx, tenantID)
	if err != nil {
		return Request{}, err
	}
	r, err := s.update(ctx, tenantID, id, s.now, func(r *Request, now time.Time) ([]audit.Event, error) {
		if r.Extended || r.Status.Closed() || now.After(r.DueAt) {
			return nil, ErrCannotExtend
		}
		first := r.DueAt
		r.DueAt, r.Extended, r.ExtensionReason = DueAt(r.ReceivedAt, ExtendedMonths, t.Holidays), true, reason
		r.event(now, "extended", actor, "due "+r.DueAt.Format(time.RFC3339))
		return []audit.Event{s.change(*r, "request.extended", actor, map[string]string{
			"from_due_at": first.Format(time.RFC3339), "due_at": r.DueAt.Format(time.RFC3339),
		})}, nil
	})
	if err != nil {
		return Request{}, err
	}
	return s.notify(ctx, r, "extension", mailData{Reason: reason})
}

// Validate checks a rejection.
func (j Rejection) Validate() error {
	var fe []apperr.FieldError
	if !slices.Contains(RejectReasons, j.Reason) {
		fe = append(fe, apperr.FieldError{Field: "reason", Message: "must be one of manifestly_unfounded, excessive, identity_unverified, other"})
	}
	switch {
	case utf8.RuneCountInString(j.Detail) > MaxReason:
		fe = append(fe, apperr.FieldError{Field: "detail", Message: "must be at most 1000 characters"})
	case j.Reason == OtherReason && strings.TrimSpace(j.Detail) == "":
		fe = append(fe, apperr.FieldError{Field: "detail", Message: "is required when reason is other"})
	}
	if len(fe) > 0 {
		return apperr.Validation(fe...)
	}
	return nil
}

// Approve is an operator's approval of a request that awaits it: the request becomes verified,
// and so is taken up for fulfilment (the stream triggers of the fulfilment functions select
// verified requests). Its due date is unchanged. Errors: request_not_found;
// invalid_transition (the request does not await approval).
func (s *Service) Approve(ctx context.Context, tenantID, id, actor string) (Request, error) {
	return s.update(ctx, tenantID, id, s.now, func(r *Request, now time.Time) ([]audit.Event, error) {
		if r.Status != AwaitingApproval {
			return nil, invalidTransition(r.Status, Verified)
		}
		ev, err := s.transition(r, Verified, now, actor, "approved")
		ev.Action = "request.approved"
		return []audit.Event{ev}, err
	})
}

// Reject refuses a request that is pending verification, awaiting approval or verified, and
// emails the subject the reason and their right to complain to a supervisory authority and to
// a court (Art. 12(4)).
// Errors: validation_failed; request_not_found; invalid_transition.
func (s *Service) Reject(ctx context.Context, tenantID, id string, j Rejection, actor string) (Request, error) {
	if err := j.Validate(); err != nil {
		return Request{}, err
	}
	r, err := s.update(ctx, tenantID, id, s.now, func(r *Request, now time.Time) ([]audit.Event, error) {
		ev, err := s.transition(r, Rejected, now, actor, j.Reason)
		if err != nil {
			return nil, err
		}
		r.Rejection = &j
		ev.Detail["reason"] = j.Reason
		return []audit.Event{ev}, nil
	})
	if err != nil {
		return Request{}, err
	}
	return s.notify(ctx, r, "rejection", mailData{Reason: j.Detail, RejectReason: j.Reason})
}

// update reads a request, lets change modify it, and saves it with the audit events change
// returns, in one transaction; a lost race reads and changes it afresh (see commit). Each
// attempt takes its time from now. When change fails nothing is saved and update returns its
// error. Errors: request_not_found, and those of change.
func (s *Service) update(ctx context.Context, tenantID, id string, now func() time.Time, change func(r *Request, now time.Time) ([]audit.Event, error)) (Request, error) {
	var r Request
	err := s.commit(ctx, func() error {
		at := now()
		cur, version, err := s.load(ctx, tenantID, id)
		if err != nil {
			return err
		}
		events, err := change(&cur, at)
		if err != nil {
			return err
		}
		r = cur
		return s.save(ctx, &r, version, at, nil, events...)
	})
	if err != nil {
		return Request{}, err
	}
	return r, nil
}

// load reads a request and its version. Errors: request_not_found.
func (s *Service) load(ctx context.Context, tenantID, id string) (Request, int64, error) {
	if ValidateID(id) != nil {
		return Request{}, 0, ErrNotFound
	}
	it, err := s.Table.Get(ctx, requestKey(tenantID, id))
	if errors.Is(err, table.ErrNotFound) {
		return Request{}, 0, ErrNotFound
	}
	if err != nil {
		return Request{}, 0, err
	}
	r, err := decodeRequest(it)
	return r, it.Version, err
}

// save writes the request read at version, with extra writes and the audit entries of
// events, in one transaction (a single conditional put when there is nothing else to write).
func (s *Service) save(ctx context.Context, r *Request, version int64, at time.Time, extra []table.Write, events ...audit.Event) error {
	it, err := r.item(version, at)
	if err != nil {
		return err
	}
	if len(extra) == 0 && len(events) == 0 {
		return s.Table.Put(ctx, it, table.VersionIs(version))
	}
	ws := append([]table.Write{table.Put(it, table.VersionIs(version))}, extra...)
	if len(events) > 0 {
		aw, err := s.audit().Append(ctx, r.Tenant, at, events...)
		if err != nil {
			return err
		}
		ws = append(ws, aw...)
	}
	return s.Table.Transact(ctx, ws)
}

// commit runs attempt until it succeeds or fails for another reason than a failed
// condition, under the table's retry policy (table.Retry). A failed condition, on the
// request itself, a rate-limit counter or the tenant's audit chain (which every change
// appends to), means a concurrent writer: attempt reads everything it decides on afresh.
func (s *Service) commit(ctx context.Context, attempt func() error) error {
	return table.Retry(ctx, func() error {
		err := attempt()
		if errors.Is(err, table.ErrConflict) {
			return fmt.Errorf("%w: %w", table.ErrRetry, err)
		}
		return err
	})
}

// transition moves a request to another status (see move) and returns the audit event of
// the change.
func (s *Service) transition(r *Request, to Status, at time.Time, actor, detail string) (audit.Event, error) {
	from := r.Status
	if err := r.move(to, at, actor, detail); err != nil {
		return audit.Event{}, err
	}
	return s.change(*r, "request."+string(to), actor, map[string]string{"from": string(from), "to": string(to)}), nil
}

// change is an audit event about a request: ids, its type and the facts in detail only.
func (s *Service) change(r Request, action, actor string, detail map[string]string) audit.Event {
	if detail == nil {
		detail = map[string]string{}
	}
	detail["type"] = string(r.Type)
	return audit.Event{Actor: actor, Action: action, Subject: s.pseudonym(r), RequestID: r.ID, Detail: detail}
}

func (s *Service) pseudonym(r Request) string {
	if r.SubjectID == "" {
		return r.Pseudonym
	}
	return subject.Pseudonym(s.Secrets, r.Tenant, r.SubjectID)
}

// notify emails the subject about a change already stored, and returns the request. Storing
// first means a failed email leaves a request that shows what happened (and an error for the
// caller), never a subject told of a change that was not made.
func (s *Service) notify(ctx context.Context, r Request, name string, d mailData) (Request, error) {
	to, err := s.Contact(r)
	if err != nil {
		return Request{}, err
	}
	if to == "" {
		// A request the system opened for a subject without an address on file, or one whose
		// subject is erased.
		return r, nil
	}
	d.Tenant, d.RequestID, d.Type, d.Lift, d.ReceivedAt, d.DueAt = r.Tenant, r.ID, r.Type, r.Lift, r.ReceivedAt, r.DueAt
	m, err := render(defaultLocale, name, d)
	if err != nil {
		return Request{}, err
	}
	m.To, m.Tenant = to, r.Tenant
	// An address that bounced permanently gets no mail (internal/bounces): the change stands,
	// and the answer is the same as if the email had gone, so that a caller learns nothing
	// of the address.
	if _, err := s.Mail.Send(ctx, m); err != nil && !errors.Is(err, mail.ErrUndeliverable) {
		return Request{}, fmt.Errorf("dsr: %s email of request %s: %w", name, r.ID, err)
	}
	return r, nil
}

// sealContact keeps address on r sealed (AES-GCM under the master secret's key for
// contacts), bound to r's table key: a sealed address copied into another item does not open
// there. "" seals nothing.
func (s *Service) sealContact(r *Request, address string) {
	r.SealedContact = ""
	if address != "" {
		r.SealedContact = s.Secrets.Seal(secrets.ForContacts, []byte(address), contactAD(*r))
	}
}

// Contact opens the address a request writes to: "" when it has none (see
// Request.SealedContact). Its readers are those that need the address itself: the emails to
// the subject (notify), the erasure's removal of the address's email lookup, and the
// subject's own export. Errors: secrets.ErrNotSealed, for a value not sealed for this request.
func (s *Service) Contact(r Request) (string, error) {
	if r.SealedContact == "" {
		return "", nil
	}
	b, err := s.Secrets.Open(secrets.ForContacts, r.SealedContact, contactAD(r))
	if err != nil {
		return "", fmt.Errorf("dsr: contact of request %s: %w", r.ID, err)
	}
	return string(b), nil
}

// contactAD is the additional data a contact is sealed with: the request's table key.
func contactAD(r Request) []byte {
	k := requestKey(r.Tenant, r.ID)
	return []byte(k.PK + "\n" + k.SK)
}

// newID is a request id: 128 random bits.
func newID() string { return secrets.NewID("req_", secrets.IDBytes) }

// newSecret is a verification code: 128 random bits in 22 URL-safe characters, so that a link
// can carry it and a person can still copy it.
func newSecret() string { return secrets.NewID("", secrets.IDBytes) }

// newToken is an access token: 256 random bits.
func newToken() string { return secrets.NewID("", secrets.TokenBytes) }

// hashSecret is how codes and tokens are stored. They carry at least 128 random bits, so a
// fast unkeyed hash is enough: there is nothing to guess.
func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func sameHash(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
