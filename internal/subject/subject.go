// Package subject names data subjects in storage without revealing them: the keys of a
// subject's partition, the email lookup keyed by a keyed hash, and the pseudonym that stands
// for a subject in ledgers, requests and the audit once they are erased.
package subject

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
)

// Sort keys of a subject's partition.
const (
	SKProfile = "PROFILE"
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
// digits and . _ : @ -. The message never repeats the id.
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

// EmailLookup is the stored email lookup item.
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

// Rules of the profile's fields, shared by the profile a site sends (consent) and the
// rectification a subject asks for (dsr), so that neither can store what the other refuses.
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

// SecurityQuestion is stored with its answer hashed (argon2id/bcrypt): never in clear.
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

// GetProfile reads a subject's profile and its version. Errors: ErrNotFound.
func GetProfile(ctx context.Context, t table.Table, tenant, id string) (Profile, int64, error) {
	it, err := t.Get(ctx, Key(tenant, id, SKProfile))
	if errors.Is(err, table.ErrNotFound) {
		return Profile{}, 0, ErrNotFound
	}
	if err != nil {
		return Profile{}, 0, err
	}
	var p Profile
	return p, it.Version, it.Decode(&p)
}
