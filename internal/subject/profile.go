package subject

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
)

// This file owns the PROFILE item of a subject's partition and the email lookup that points
// at it: their keys, the profile's place on the shard index, and every read and write. The
// consent function's profile intake and the rights fulfilment's rectification both write
// through ProfileWrite, so neither can drop the index keys or leave a stale lookup behind.

// CodeEmailInUse is the error code of ErrEmailInUse.
const CodeEmailInUse = "email_in_use"

// ErrEmailInUse refuses an email that another subject of the tenant holds.
var ErrEmailInUse = apperr.New(apperr.Conflict, CodeEmailInUse, "Another subject of this tenant has this email address; nothing was stored.")

// Rules of the profile's fields, shared by the profile a site sends (consent) and the
// rectification a subject asks for (Rectify), so that neither can store what the other refuses.
var (
	profileTextMax = map[string]int{"first_name": 100, "last_name": 100, "username": 100, "company": 200}
	validPhone     = regexp.MustCompile(`^\+?[0-9 ().-]{3,32}$`)
)

// CheckProfileField checks the value of a profile field other than email (NormalizeEmail) and
// the security questions. It returns whether the value is valid and, when not, the rule it
// breaks, worded without the value.
func CheckProfileField(name, value string) (ok bool, rule string) {
	if name == "phone" {
		return validPhone.MatchString(value), "must be 3-32 digits, spaces or ( ) . -, optionally after +"
	}
	max := profileTextMax[name]
	return PlainText(value, max), fmt.Sprintf("must be at most %d characters, without control characters", max)
}

// PlainText tells whether s is valid UTF-8 of at most max characters with no control
// characters: what free-text fields of personal data may hold.
func PlainText(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// SecurityQuestion is stored with its answer hashed (argon2id, see consent.HashAnswer): never
// in clear.
type SecurityQuestion struct {
	Question   string `json:"question"`
	AnswerHash string `json:"answer_hash"`
}

// Profile is the personal data a site gives the service about a subject, as stored.
type Profile struct {
	SubjectID         string             `json:"subject_id"`
	FirstName         string             `json:"first_name,omitempty"`
	LastName          string             `json:"last_name,omitempty"`
	Username          string             `json:"username,omitempty"`
	Email             string             `json:"email,omitempty"`
	Phone             string             `json:"phone,omitempty"`
	Company           string             `json:"company,omitempty"`
	SecurityQuestions []SecurityQuestion `json:"security_questions,omitempty"`
	UpdatedAt         time.Time          `json:"updated_at"`
}

// Shards is the number of GSI1 partitions a tenant's subjects are spread over.
const Shards = 16

// ShardPK is the GSI1 partition of shard n (0 <= n < Shards) of a tenant's subjects. Every
// profile sits on exactly one, under sort key "S#{subject id}", so that a notification run
// can page through all subjects of a tenant, shard by shard and in parallel, without a Scan
// and without a hot partition.
func ShardPK(tenant string, n int) string { return fmt.Sprintf("T#%s#SHARD#%d", tenant, n) }

// shardOf is the first byte of the SHA-256 of the subject id, modulo Shards: stable, and even
// however the tenant's ids are shaped.
func shardOf(id string) int {
	h := sha256.Sum256([]byte(id))
	return int(h[0]) % Shards
}

// ProfileKey is the key of a subject's PROFILE item.
func ProfileKey(tenant, id string) table.Key { return Key(tenant, id, skProfile) }

// storedProfile is the PROFILE item: the profile, and its place on GSI1 among the tenant's
// shards of subjects (see ShardPK).
type storedProfile struct {
	Profile
	GSI1PK string `json:"gsi1pk"`
	GSI1SK string `json:"gsi1sk"`
}

func profileItem(tenant string, p Profile, version int64) (table.Item, error) {
	return table.NewItem(ProfileKey(tenant, p.SubjectID), version, storedProfile{
		Profile: p,
		GSI1PK:  ShardPK(tenant, shardOf(p.SubjectID)),
		GSI1SK:  "S#" + p.SubjectID,
	})
}

// GetProfile reads a subject's profile and its version. Errors: ErrNotFound.
func GetProfile(ctx context.Context, t table.Table, tenant, id string) (Profile, int64, error) {
	it, err := t.Get(ctx, ProfileKey(tenant, id))
	if errors.Is(err, table.ErrNotFound) {
		return Profile{}, 0, ErrNotFound
	}
	if err != nil {
		return Profile{}, 0, err
	}
	var p Profile
	return p, it.Version, it.Decode(&p)
}

// ProfileWrite is one change of a subject's profile across the attempts of a write retried
// under table.Retry. Each attempt reads the profile, builds its writes with Writes, adds any
// of its own (a condition on the consent state, say), runs them in one transaction and hands
// the outcome to Failed.
//
// The new email's lookup is put if absent, so a second subject cannot take an address. When
// the subject already holds the lookup (its profile lost the address but the lookup stayed),
// Failed learns the lookup's version and the next attempt overwrites it under that version.
type ProfileWrite struct {
	secrets   secrets.Master
	tenant    string
	subjectID string
	claim     table.Key // the lookup the current attempt puts, if any
	version   int64     // the version it is put under
}

// NewProfileWrite starts a change of one subject's profile.
func NewProfileWrite(m secrets.Master, tenant, subjectID string) *ProfileWrite {
	return &ProfileWrite{secrets: m, tenant: tenant, subjectID: subjectID}
}

// Writes returns the writes that replace old, read at version (a zero Profile and 0 when the
// subject has none), with next: the PROFILE item with its shard index keys, conditional on
// version, and, when the email changes, the claim of the new address's lookup and the
// deletion of the old one's. next is stored as the write's subject's.
func (w *ProfileWrite) Writes(old Profile, version int64, next Profile) ([]table.Write, error) {
	next.SubjectID = w.subjectID
	it, err := profileItem(w.tenant, next, version)
	if err != nil {
		return nil, err
	}
	ws := []table.Write{table.Put(it, table.VersionIs(version))}
	claim := table.Key{}
	if next.Email != old.Email && next.Email != "" {
		claim = EmailKey(w.secrets, w.tenant, next.Email)
	}
	if claim != w.claim {
		w.claim, w.version = claim, 0
	}
	if next.Email == old.Email {
		return ws, nil
	}
	if next.Email != "" {
		l, err := table.NewItem(claim, w.version, EmailLookup{SubjectID: w.subjectID})
		if err != nil {
			return nil, err
		}
		ws = append(ws, table.Put(l, table.VersionIs(w.version)))
	}
	if old.Email != "" {
		ws = append(ws, table.Delete(EmailKey(w.secrets, w.tenant, old.Email), table.Cond{}))
	}
	return ws, nil
}

// Failed reads the outcome of the transaction that carried the last Writes: nil for success;
// ErrEmailInUse when the new address's lookup belongs to another subject; an error wrapping
// table.ErrRetry for any other failed condition (a concurrent writer: read again); any other
// error as it is.
func (w *ProfileWrite) Failed(ctx context.Context, t table.Table, err error) error {
	var ce *table.ConflictError
	if !errors.As(err, &ce) {
		return err
	}
	if w.claim == (table.Key{}) || ce.Key != w.claim {
		return fmt.Errorf("%w: %w", table.ErrRetry, err)
	}
	it, err := t.Get(ctx, ce.Key)
	if errors.Is(err, table.ErrNotFound) {
		return table.ErrRetry // released since
	}
	if err != nil {
		return err
	}
	var l EmailLookup
	if err := it.Decode(&l); err != nil {
		return err
	}
	if l.SubjectID != w.subjectID {
		return ErrEmailInUse
	}
	w.version = it.Version
	return table.ErrRetry
}

// ProfileChanges are corrections of a profile's fields, as a rectification request (Art. 16)
// names them: a nil field is left as it is.
type ProfileChanges struct {
	FirstName *string `json:"first_name,omitempty"`
	LastName  *string `json:"last_name,omitempty"`
	Username  *string `json:"username,omitempty"`
	Email     *string `json:"email,omitempty"`
	Phone     *string `json:"phone,omitempty"`
	Company   *string `json:"company,omitempty"`
}

// Validate checks the changes by the profile's own rules (CheckProfileField, NormalizeEmail)
// and normalizes the email. A change names at least one field, and no value is empty: a
// rectification corrects a value, it does not erase it. Fields are named prefix.field (prefix
// alone for the whole); messages never quote a value.
func (c *ProfileChanges) Validate(prefix string) []apperr.FieldError {
	var fe []apperr.FieldError
	for _, f := range []struct {
		name  string
		value *string
	}{{"first_name", c.FirstName}, {"last_name", c.LastName}, {"username", c.Username}, {"company", c.Company}, {"phone", c.Phone}} {
		if f.value == nil {
			continue
		}
		if strings.TrimSpace(*f.value) == "" {
			fe = append(fe, apperr.FieldError{Field: prefix + "." + f.name, Message: "must not be empty"})
		} else if ok, rule := CheckProfileField(f.name, *f.value); !ok {
			fe = append(fe, apperr.FieldError{Field: prefix + "." + f.name, Message: rule})
		}
	}
	if c.Email != nil {
		e, err := NormalizeEmail(*c.Email)
		if err != nil {
			fe = append(fe, apperr.FieldError{Field: prefix + ".email", Message: "must be a plain email address"})
		}
		*c.Email = e
	}
	if c.FirstName == nil && c.LastName == nil && c.Username == nil && c.Email == nil && c.Phone == nil && c.Company == nil {
		fe = append(fe, apperr.FieldError{Field: prefix, Message: "must name at least one field"})
	}
	return fe
}

// apply returns p with the changes made, and whether any value differs.
func (c ProfileChanges) apply(p Profile) (Profile, bool) {
	changed := false
	for _, f := range []struct {
		to   *string
		from *string
	}{{c.FirstName, &p.FirstName}, {c.LastName, &p.LastName}, {c.Username, &p.Username}, {c.Email, &p.Email}, {c.Phone, &p.Phone}, {c.Company, &p.Company}} {
		if f.to != nil && *f.to != *f.from {
			*f.from, changed = *f.to, true
		}
	}
	return p, changed
}

// Rectify applies a rectification to a subject's profile (Art. 16): the named fields take the
// new values, checked by the rules of the profile intake (ProfileChanges.Validate); a new
// email moves the email lookup in the same transaction, and stays unique in the tenant. The
// profile keeps its place on the shard index. Changes that leave every value as it is write
// nothing, so applying one rectification twice (a redelivered stream record) changes nothing.
//
// Rectify does not look at consent: correcting data is a right that holds while processing is
// restricted too. A subject without a profile (never given, or erased) has nothing to correct.
//
// It returns the profile as stored, with the answers' hashes. Table operations: 1 Get, and 1
// Put (1 Transact when the email changes) unless nothing changes; a lost race reads and writes
// again (table.Retry). Errors: validation_failed (fields named rectification.*), ErrNotFound,
// ErrEmailInUse (nothing is stored then).
func Rectify(ctx context.Context, t table.Table, m secrets.Master, tenant, id string, c ProfileChanges, now time.Time) (Profile, error) {
	var fe []apperr.FieldError
	if err := ValidateID(id); err != nil {
		e, _ := apperr.From(err)
		fe = append(fe, e.Fields...)
	}
	fe = append(fe, c.Validate("rectification")...)
	if len(fe) > 0 {
		return Profile{}, apperr.Validation(fe...)
	}
	w := NewProfileWrite(m, tenant, id)
	var out Profile
	err := table.Retry(ctx, func() error {
		old, version, err := GetProfile(ctx, t, tenant, id)
		if err != nil {
			return err
		}
		next, changed := c.apply(old)
		if !changed {
			out = old
			return nil
		}
		next.UpdatedAt = now
		ws, err := w.Writes(old, version, next)
		if err != nil {
			return err
		}
		if len(ws) == 1 {
			err = t.Put(ctx, ws[0].Item, ws[0].Cond)
		} else {
			err = t.Transact(ctx, ws)
		}
		if err := w.Failed(ctx, t, err); err != nil {
			return err
		}
		out = next
		return nil
	})
	return out, err
}
