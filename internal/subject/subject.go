// Package subject names data subjects in storage without revealing them: the keys of a
// subject's partition, the email lookup keyed by a keyed hash, and the pseudonym that stands
// for a subject in ledgers, requests and the audit once they are erased. It owns the PROFILE
// item and the email lookup (profile.go): every read and write of either goes through it, so
// a profile always carries its place on the shard index and its email's lookup.
package subject

import (
	"context"
	"errors"
	"net/mail"
	"regexp"
	"strings"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
)

// Sort keys of a subject's partition. The profile's is this package's alone (ProfileKey).
const (
	skProfile = "PROFILE"
	SKConsent = "CONSENT"
	// SKLedgerPrefix starts consent ledger entries: CONSENT#{time}#{id}.
	SKLedgerPrefix = "CONSENT#"
	// SKDevicePrefix starts device observations: DEV#{time}#{id}.
	SKDevicePrefix = "DEV#"
)

// ErrNotFound is returned for a subject the service holds nothing about.
var ErrNotFound = apperr.New(apperr.NotFound, "subject_not_found", "No such subject.")

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// ValidateID checks a subject id as the plugins send it: 1-128 characters of letters,
// digits and . _ : -, starting with a letter or digit ("#", which separates the parts of a
// key, and "@" are not among them). The message never repeats the id.
func ValidateID(id string) error {
	if !validID.MatchString(id) {
		return apperr.Validation(apperr.FieldError{Field: "subject_id", Message: "must be 1-128 letters, digits or . _ : -, starting with a letter or digit"})
	}
	return nil
}

// PK is the partition of one subject.
func PK(tenant, id string) string { return "T#" + tenant + "#S#" + id }

// Key is an item of a subject's partition.
func Key(tenant, id, sk string) table.Key { return table.Key{PK: PK(tenant, id), SK: sk} }

// Pseudonym stands for a subject where the subject must not be identifiable: a keyed hash of
// tenant and subject id, stable so that records about one subject stay linkable.
func Pseudonym(m secrets.Master, tenant, id string) string {
	return "ps_" + m.Hash(secrets.ForPseudonym, tenant+"\x00"+id)
}

// NormalizeEmail lower-cases and trims an address; errors never quote it.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 {
		return "", apperr.Validation(apperr.FieldError{Field: "email", Message: "must be a plain email address"})
	}
	return s, nil
}

// EmailKey is the lookup item that maps a tenant's email (by keyed hash) to its subject.
// Holding it under a condition makes emails unique per tenant.
func EmailKey(m secrets.Master, tenant, normalizedEmail string) table.Key {
	return table.Key{PK: "T#" + tenant + "#E#" + m.Hash(secrets.ForEmailLookup, tenant+"\x00"+normalizedEmail), SK: "EMAIL"}
}

// EmailLookup is the stored email lookup item. ProfileWrite writes it, with the profile whose
// email it is.
type EmailLookup struct {
	SubjectID string `json:"subject_id"`
}

// FindByEmail returns the subject id that holds a normalized email in tenant.
// Errors: ErrNotFound.
func FindByEmail(ctx context.Context, t table.Table, m secrets.Master, tenant, normalizedEmail string) (string, error) {
	it, err := t.Get(ctx, EmailKey(m, tenant, normalizedEmail))
	if errors.Is(err, table.ErrNotFound) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", err
	}
	var l EmailLookup
	if err := it.Decode(&l); err != nil {
		return "", err
	}
	return l.SubjectID, nil
}
