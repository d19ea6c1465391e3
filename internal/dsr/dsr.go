// Package dsr is the domain of data subject requests (Art. 15 to 21 GDPR): intake, identity
// verification by emailed code, deadlines, the operator's queue and actions, and expiry.
package dsr

import (
	"slices"
	"time"
	"unicode/utf8"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/subject"
)

// Type is the right a request exercises.
type Type string

const (
	Access        Type = "access"
	Portability   Type = "portability"
	Erasure       Type = "erasure"
	Rectification Type = "rectification"
	Restriction   Type = "restriction"
	Objection     Type = "objection"
)

// Types lists every type.
var Types = []Type{Access, Portability, Erasure, Rectification, Restriction, Objection}

// Status is where a request is in its life.
type Status string

const (
	PendingVerification Status = "pending_verification"
	// AwaitingApproval: verified, of a type the tenant wants an operator to approve before
	// it is carried out (tenant.Settings.ApprovalRequired); Approve makes it Verified.
	AwaitingApproval Status = "awaiting_approval"
	Verified         Status = "verified"
	Processing       Status = "processing"
	Completed        Status = "completed"
	Rejected         Status = "rejected"
	Failed           Status = "failed"
	Expired          Status = "expired"
)

// Statuses lists every status.
var Statuses = []Status{PendingVerification, AwaitingApproval, Verified, Processing, Completed, Rejected, Failed, Expired}

// next holds the transitions allowed from each status; closed statuses have none.
var next = map[Status][]Status{
	PendingVerification: {AwaitingApproval, Verified, Rejected, Expired},
	// Nothing is fulfilled before an operator's approval: the fulfilment functions take up
	// verified requests only.
	AwaitingApproval: {Verified, Rejected},
	Verified:         {Processing, Rejected},
	Processing:       {Completed, Failed},
	// An operator's retry (Retry) takes a failed request back to work.
	Failed: {Processing},
}

// CanMove tells whether a request may go from one status to another.
func CanMove(from, to Status) bool { return slices.Contains(next[from], to) }

// Closed tells whether the request has been answered: completed, rejected or expired, or
// failed (which only a person's retry reopens).
func (s Status) Closed() bool { return s == Failed || len(next[s]) == 0 }

// Time limits of verification.
const (
	// CodeTTL is how long a verification code works after it was sent.
	CodeTTL = 24 * time.Hour
	// UnverifiedTTL is how long a request waits for verification before it expires.
	UnverifiedTTL = 7 * 24 * time.Hour
	// MaxWrongCodes wrong codes lock a request's verification.
	MaxWrongCodes = 5
)

// Error codes raised by this package (openapi.yaml lists them with their statuses).
const (
	CodeRequestNotFound   = "request_not_found"
	CodeInvalidCode       = "invalid_code"
	CodeCodeExpired       = "code_expired"
	CodeLocked            = "verification_locked"
	CodeInvalidTransition = "invalid_transition"
	CodeCannotExtend      = "cannot_extend"
)

var (
	ErrNotFound     = apperr.New(apperr.NotFound, CodeRequestNotFound, "No such request.")
	ErrInvalidCode  = apperr.New(apperr.Invalid, CodeInvalidCode, "The verification code is wrong.")
	ErrCodeExpired  = apperr.New(apperr.Gone, CodeCodeExpired, "The verification code has expired; submit a new request.")
	ErrLocked       = apperr.New(apperr.Locked, CodeLocked, "Too many wrong codes locked this request; submit a new request.")
	ErrCannotExtend = apperr.New(apperr.Conflict, CodeCannotExtend, "The request was extended before, is past its first due date, or is closed.")
	ErrUnauthorized = apperr.New(apperr.Unauthenticated, apperr.CodeUnauthenticated, "A valid access token for this request is required.")
	errNoAddress    = apperr.Validation(apperr.FieldError{Field: "email", Message: "is required: the subject has no email address on file"})
)

func invalidTransition(from, to Status) error {
	return apperr.New(apperr.Conflict, CodeInvalidTransition, "A request that is %s cannot become %s.", from, to)
}

// ProfileFields are the profile fields a rectification request corrects (a nil field is not
// to be changed): the profile owner's own type, so that fulfilment hands them to
// subject.Rectify as they were validated at intake.
type ProfileFields = subject.ProfileChanges

// Input is a submitted request, as the public and the site routes take it.
type Input struct {
	Type          Type           `json:"type"`
	Email         string         `json:"email,omitempty"`
	SubjectID     string         `json:"subject_id,omitempty"`
	Rectification *ProfileFields `json:"rectification,omitempty"`
	// Lift, only with restriction, asks for an earlier restriction to be lifted.
	Lift *bool  `json:"lift,omitempty"`
	Note string `json:"note,omitempty"`
}

// Limits of free-text fields, in characters.
const (
	MaxNote   = 2000
	MaxReason = 1000
)

// Validate checks the input and normalizes its email. Public callers must give an email;
// the site gives an email, a subject id or both. Errors name fields, never values.
func (in *Input) Validate(public bool) error {
	var fe []apperr.FieldError
	add := func(field, msg string) { fe = append(fe, apperr.FieldError{Field: field, Message: msg}) }
	if !slices.Contains(Types, in.Type) {
		add("type", "must be one of access, portability, erasure, rectification, restriction, objection")
	}
	switch {
	case in.Email != "":
		e, err := subject.NormalizeEmail(in.Email)
		if err != nil {
			add("email", "must be a plain email address")
		}
		in.Email = e
	case public:
		add("email", "is required")
	case in.SubjectID == "":
		add("email", "is required when subject_id is absent")
	}
	if in.SubjectID != "" && subject.ValidateID(in.SubjectID) != nil {
		add("subject_id", "must be 1-128 letters, digits or . _ : -, starting with a letter or digit")
	}
	switch {
	case in.Type == Rectification && in.Rectification == nil:
		add("rectification", "is required for type rectification")
	case in.Type != Rectification && in.Rectification != nil:
		add("rectification", "is only allowed with type rectification")
	case in.Rectification != nil:
		fe = append(fe, in.Rectification.Validate("rectification")...)
	}
	if in.Lift != nil && in.Type != Restriction {
		add("lift", "is only allowed with type restriction")
	}
	if utf8.RuneCountInString(in.Note) > MaxNote {
		add("note", "must be at most 2000 characters")
	}
	if len(fe) > 0 {
		return apperr.Validation(fe...)
	}
	return nil
}
