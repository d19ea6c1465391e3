// Package consent is the consent function's domain: decisions, the hash-chained consent ledger,
// each subject's current consent state (the login gate), and the subject data it lets in.
package consent

import (
	"net/netip"
	"regexp"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/tenant"
)

// Error codes of this package. openapi.yaml lists them under x-problem-codes.
const (
	CodeUnknownPurpose       = "unknown_purpose"
	CodeUnknownPolicyVersion = "unknown_policy_version"
	CodeMarketingObjected    = "marketing_objected"
	CodeConsentRequired      = "consent_required"
	CodeProcessingRestricted = "processing_restricted"
	CodeEmailInUse           = subject.CodeEmailInUse
)

var (
	// ErrNotFound is returned for a subject with no consent state, or an erased one.
	ErrNotFound = subject.ErrNotFound
	// ErrUnknownPolicyVersion refuses a decision on a version the tenant has not published.
	ErrUnknownPolicyVersion = apperr.New(apperr.NotFound, CodeUnknownPolicyVersion, "The policy version has not been published for this tenant.")
	// ErrMarketingObjected refuses marketing to a subject who objected, unless given by an explicit opt-in.
	ErrMarketingObjected = apperr.New(apperr.Conflict, CodeMarketingObjected, "The subject objected to direct marketing; only an explicit_opt_in decision may grant it again.")
	// ErrProcessingRestricted refuses new subject data while processing is restricted (Art. 18).
	ErrProcessingRestricted = apperr.New(apperr.Locked, CodeProcessingRestricted, "The subject's processing is restricted; nothing was stored.")
	// ErrEmailInUse refuses an email that another subject of the tenant holds.
	ErrEmailInUse = subject.ErrEmailInUse
)

// consentRequired refuses processing that needs a purpose the subject has not granted.
func consentRequired(purpose string) error {
	return apperr.New(apperr.Conflict, CodeConsentRequired, "The subject has not granted %s; nothing was stored.", purpose)
}

// unknownPurposes refuses purposes that are not on the tenant's list. Purpose names are the
// tenant's vocabulary, never personal data, so the fields may name them.
func unknownPurposes(field string, names []string) error {
	e := apperr.New(apperr.Unprocessable, CodeUnknownPurpose, "A purpose is not on the tenant's list.")
	for _, n := range names {
		e.Fields = append(e.Fields, apperr.FieldError{Field: field + n, Message: "not a purpose of this tenant"})
	}
	return e
}

// Purposes every subject-data intake depends on (API.md, Purposes).
const (
	PurposeTerms     = "terms"
	PurposeRBA       = "rba"
	PurposeMarketing = "marketing"
)

// Method is how a decision was taken.
type Method string

const (
	MethodWebForm       Method = "web_form"
	MethodExplicitOptIn Method = "explicit_opt_in"
	MethodAPI           Method = "api"
	MethodImport        Method = "import"
	// MethodWithdrawal and MethodObjection are written by the service, never sent by a client.
	MethodWithdrawal Method = "withdrawal"
	MethodObjection  Method = "objection"
)

// clientMethods are the methods a client may name in a decision.
var clientMethods = map[Method]bool{MethodWebForm: true, MethodExplicitOptIn: true, MethodAPI: true, MethodImport: true}

var (
	validPolicyVersion = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	validLocale        = regexp.MustCompile(`^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$`)
)

// Evidence shows that the subject took a decision: the address and browser it came from and
// the language of the form. The address and user agent are personal data: kept in the ledger
// as proof, exported to the subject, never logged.
type Evidence struct {
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Locale    string `json:"locale,omitempty"`
}

// IsZero tells whether no evidence was given.
func (e Evidence) IsZero() bool { return e == Evidence{} }

func (e Evidence) validate(field string) []apperr.FieldError {
	var fs []apperr.FieldError
	if e.IP != "" && !validIP(e.IP) {
		fs = append(fs, apperr.FieldError{Field: field + "ip", Message: "must be an IPv4 or IPv6 address"})
	}
	if !subject.PlainText(e.UserAgent, 1024) {
		fs = append(fs, apperr.FieldError{Field: field + "user_agent", Message: "must be at most 1024 characters, without control characters"})
	}
	if len(e.Locale) > 35 || (e.Locale != "" && !validLocale.MatchString(e.Locale)) {
		fs = append(fs, apperr.FieldError{Field: field + "locale", Message: "must be a BCP 47 language tag of at most 35 characters"})
	}
	return fs
}

func validIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && len(s) <= 45 && a.Zone() == ""
}

// idFields are the field errors of a subject id, as subject.ValidateID words them.
func idFields(id string) []apperr.FieldError {
	if e, ok := apperr.From(subject.ValidateID(id)); ok {
		return e.Fields
	}
	return nil
}

// Decision is one consent decision as a site records it.
type Decision struct {
	SubjectID string
	// Email is the subject's contact address, optional. See Service.Record for when it is kept.
	Email         string
	PolicyVersion string
	// Purposes holds one decision per purpose named; purposes not named keep their state.
	Purposes map[string]bool
	Method   Method
	Evidence Evidence
	// GPC is true when the request carried Sec-GPC: 1: marketing is then recorded as refused.
	GPC bool
}

// Validate checks the decision's form; the tenant's purposes are checked by the service.
// Errors: validation_failed.
func (d *Decision) Validate() error {
	var fs []apperr.FieldError
	fs = append(fs, idFields(d.SubjectID)...)
	if d.Email != "" {
		e, err := subject.NormalizeEmail(d.Email)
		if err != nil {
			fs = append(fs, apperr.FieldError{Field: "email", Message: "must be a plain email address"})
		}
		d.Email = e
	}
	if !validPolicyVersion.MatchString(d.PolicyVersion) {
		fs = append(fs, apperr.FieldError{Field: "policy_version", Message: "must be 1-64 letters, digits or . _ -"})
	}
	switch {
	case len(d.Purposes) == 0:
		fs = append(fs, apperr.FieldError{Field: "purposes", Message: "must name at least one purpose"})
	case len(d.Purposes) > 64:
		fs = append(fs, apperr.FieldError{Field: "purposes", Message: "must name at most 64 purposes"})
	default:
		for name := range d.Purposes {
			if !tenant.ValidPurposeName(name) {
				// The name is not echoed: a malformed key could be anything the client sent.
				fs = append(fs, apperr.FieldError{Field: "purposes", Message: "purpose names are 1-64 lower-case letters, digits or _, starting with a letter"})
				break
			}
		}
	}
	if !clientMethods[d.Method] {
		fs = append(fs, apperr.FieldError{Field: "method", Message: "must be web_form, explicit_opt_in, api or import"})
	}
	fs = append(fs, d.Evidence.validate("evidence.")...)
	if len(fs) > 0 {
		return apperr.Validation(fs...)
	}
	return nil
}

// Withdrawal takes back consent for some purposes, or every purpose when Purposes is empty.
type Withdrawal struct {
	SubjectID string
	Purposes  []string
	GPC       bool
}

// Validate checks the withdrawal's form. Errors: validation_failed.
func (w *Withdrawal) Validate() error {
	fs := idFields(w.SubjectID)
	if len(w.Purposes) > 64 {
		fs = append(fs, apperr.FieldError{Field: "purposes", Message: "must name at most 64 purposes"})
	}
	seen := map[string]bool{}
	for _, name := range w.Purposes {
		if !tenant.ValidPurposeName(name) {
			fs = append(fs, apperr.FieldError{Field: "purposes", Message: "purpose names are 1-64 lower-case letters, digits or _, starting with a letter"})
			break
		}
		if seen[name] {
			fs = append(fs, apperr.FieldError{Field: "purposes", Message: "must not name a purpose twice"})
			break
		}
		seen[name] = true
	}
	if len(fs) > 0 {
		return apperr.Validation(fs...)
	}
	return nil
}

// PurposeState is the current decision for one purpose.
type PurposeState struct {
	Granted bool `json:"granted"`
	// At is when the last decision for the purpose was recorded; zero when none was.
	At time.Time `json:"at,omitzero"`
}

// View is a subject's consent state as clients see it: the login gate.
type View struct {
	SubjectID     string                  `json:"subject_id"`
	PolicyVersion string                  `json:"policy_version"`
	Purposes      map[string]PurposeState `json:"purposes"`
	// LoginAllowed is true only while terms (and any other purpose the tenant marks required)
	// is granted and the subject is not erased.
	LoginAllowed bool `json:"login_allowed"`
	// ReconsentRequired is true when a material policy took effect after the last terms decision.
	ReconsentRequired bool `json:"reconsent_required"`
	Restricted        bool `json:"restricted"`
	Objected          bool `json:"objected"`
}

// Receipt answers a recorded decision: the ledger entry that proves it and the state after it.
type Receipt struct {
	Entry Entry
	State View
}
