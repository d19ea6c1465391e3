// Package policy is a tenant's privacy policy versions: publishing one (the notice period,
// unique versions), listing them, what is in effect at a time and what is announced next, and
// the reconsent rule the consent state applies. The notices about a new version are
// internal/notify's.
package policy

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/example/gdpr/internal/apperr"
)

// Error codes of this package. openapi.yaml lists them under x-problem-codes.
const (
	CodeInvalidPolicy     = "invalid_policy"
	CodeNoticePeriod      = "notice_period_too_short"
	CodeVersionExists     = "policy_version_exists"
	CodePolicyNotFound    = "policy_not_found"
	CodeNoPolicyPublished = "no_policy_published"
)

// Bounds of a version's fields.
const (
	maxSummary      = 2000
	maxSummaryLines = 20
	maxURL          = 2048
)

var (
	// ErrVersionExists refuses a version the tenant has published before.
	ErrVersionExists = apperr.New(apperr.Conflict, CodeVersionExists, "This policy version is already published; versions are unique.")
	// ErrNotFound answers a version the tenant has not published.
	ErrNotFound = apperr.New(apperr.NotFound, CodePolicyNotFound, "No such policy version.")
	// ErrNonePublished answers the public policy of a tenant that has published none.
	ErrNonePublished = apperr.New(apperr.NotFound, CodeNoPolicyPublished, "The tenant has published no policy version.")
)

// ValidVersion is the form of a version name, the same rule consent decisions name it by:
// 1-64 letters, digits or . _ -.
var ValidVersion = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Policy is one published version of a tenant's privacy policy.
type Policy struct {
	Version string `json:"version"`
	// URL is where the full text is (https).
	URL string `json:"url"`
	// Summary says in plain text what changes; it is the body of the notice.
	Summary     string    `json:"summary"`
	EffectiveAt time.Time `json:"effective_at"`
	// Material changes need every subject's consent again once they take effect.
	Material    bool      `json:"material"`
	PublishedAt time.Time `json:"published_at"`
}

// Input is a version as an operator publishes it.
type Input struct {
	Version     string
	URL         string
	Summary     string
	EffectiveAt time.Time
	Material    bool
}

// Validate checks the form of a version; the notice period is checked against the tenant's
// setting by Store.Publish. Messages name the rule, never the value. Errors: invalid_policy.
func (in *Input) Validate() error {
	var fs []apperr.FieldError
	if !ValidVersion.MatchString(in.Version) {
		fs = append(fs, apperr.FieldError{Field: "version", Message: "must be 1-64 letters, digits or . _ -"})
	}
	if u, err := url.Parse(in.URL); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil ||
		len(in.URL) > maxURL || strings.ContainsAny(in.URL, " \t\r\n<>\"") {
		fs = append(fs, apperr.FieldError{Field: "url", Message: "must be an absolute https URL of at most 2048 characters, without credentials"})
	}
	in.Summary = strings.TrimSpace(strings.ReplaceAll(in.Summary, "\r\n", "\n"))
	if !PlainSummary(in.Summary) {
		fs = append(fs, apperr.FieldError{Field: "summary", Message: "must be 1-2000 characters of plain text: no markup, no control characters but line breaks, at most 20 line breaks"})
	}
	if in.EffectiveAt.IsZero() {
		fs = append(fs, apperr.FieldError{Field: "effective_at", Message: "must be an RFC 3339 time"})
	}
	if len(fs) > 0 {
		e := apperr.New(apperr.Unprocessable, CodeInvalidPolicy, "The policy is not valid; nothing was published.")
		e.Fields = fs
		return e
	}
	in.EffectiveAt = in.EffectiveAt.UTC().Truncate(time.Second)
	return nil
}

// PlainSummary tells whether s can be the summary of a notice: plain text (no control
// characters but line breaks, no < or >, which a mail client could read as markup in the
// text part), 1-2000 characters, at most 20 line breaks.
func PlainSummary(s string) bool {
	n := utf8.RuneCountInString(s)
	if !utf8.ValidString(s) || n < 1 || n > maxSummary || strings.Count(s, "\n") > maxSummaryLines {
		return false
	}
	for _, r := range s {
		if (unicode.IsControl(r) && r != '\n') || r == '<' || r == '>' || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// noticePeriodTooShort refuses an effective time closer than the tenant's notice period.
func noticePeriodTooShort(days int) error {
	e := apperr.New(apperr.Unprocessable, CodeNoticePeriod, "effective_at must be at least the tenant's notice period (%d days) ahead.", days)
	e.Fields = []apperr.FieldError{{Field: "effective_at", Message: "must be at least the notice period ahead"}}
	return e
}

// Timeline is every version a tenant has published, in order of taking effect (then of
// publication). It answers the questions of the consent rules and the public page.
type Timeline struct {
	versions []Policy
}

// NewTimeline orders versions.
func NewTimeline(versions []Policy) Timeline {
	vs := slices.Clone(versions)
	slices.SortStableFunc(vs, func(a, b Policy) int {
		if c := a.EffectiveAt.Compare(b.EffectiveAt); c != 0 {
			return c
		}
		return a.PublishedAt.Compare(b.PublishedAt)
	})
	return Timeline{versions: vs}
}

// All returns every version, in order of taking effect.
func (t Timeline) All() []Policy { return slices.Clone(t.versions) }

// Any tells whether the tenant has published a version.
func (t Timeline) Any() bool { return len(t.versions) > 0 }

// Find returns the named version.
func (t Timeline) Find(version string) (Policy, bool) {
	i := slices.IndexFunc(t.versions, func(p Policy) bool { return p.Version == version })
	if i < 0 {
		return Policy{}, false
	}
	return t.versions[i], true
}

// InEffect returns the version in effect at now: the last one whose effective time has come.
func (t Timeline) InEffect(now time.Time) (Policy, bool) {
	for i := len(t.versions) - 1; i >= 0; i-- {
		if !t.versions[i].EffectiveAt.After(now) {
			return t.versions[i], true
		}
	}
	return Policy{}, false
}

// Next returns the first version announced to take effect after now.
func (t Timeline) Next(now time.Time) (Policy, bool) {
	for _, p := range t.versions {
		if p.EffectiveAt.After(now) {
			return p, true
		}
	}
	return Policy{}, false
}

// ReconsentRequired is the rule of API.md: a subject must consent again when a material
// version has taken effect (at now) after their last terms decision (at termsAt, which
// accepted termsVersion). A subject who already accepted that version, or one taking effect
// after it, before it took effect (a site shows an announced version at sign-up) needs no
// new consent; nor does one who never decided on terms (the login gate refuses them anyway).
func (t Timeline) ReconsentRequired(now, termsAt time.Time, termsVersion string) bool {
	if termsAt.IsZero() {
		return false
	}
	var material Policy
	found := false
	for _, p := range t.versions {
		if p.EffectiveAt.After(now) {
			break
		}
		if p.Material {
			material, found = p, true
		}
	}
	if !found || !termsAt.Before(material.EffectiveAt) {
		return false
	}
	accepted, ok := t.Find(termsVersion)
	return !ok || accepted.EffectiveAt.Before(material.EffectiveAt)
}
