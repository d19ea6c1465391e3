// Package apperr is the service's one error type for failures a client may be told about:
// a kind that decides the HTTP status, a stable snake_case code and a message that is safe
// to show. Any other error is internal and its text never leaves the process.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an application error; the HTTP layer maps each kind to one status.
type Kind int

const (
	Internal         Kind = iota // 500
	Invalid                      // 400
	Unauthenticated              // 401
	Forbidden                    // 403
	NotFound                     // 404
	Conflict                     // 409
	Gone                         // 410
	TooLarge                     // 413
	Unprocessable                // 422
	Locked                       // 423
	RateLimited                  // 429
	UnsupportedMedia             // 415
)

// Codes shared by several packages. Feature packages define their own next to the rule
// that raises them; openapi.yaml lists them all.
const (
	CodeInvalidJSON      = "invalid_json"
	CodeValidation       = "validation_failed"
	CodeInvalidCursor    = "invalid_cursor"
	CodeUnauthenticated  = "unauthenticated"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeTooLarge         = "payload_too_large"
	CodeMediaType        = "unsupported_media_type"
	CodeIdempotencyReuse = "idempotency_key_reused"
	CodeIdempotencyBusy  = "idempotency_key_in_use"
	CodeRateLimited      = "rate_limited"
	CodeInternal         = "internal"
)

// FieldError names one invalid input field. Message describes the rule, never the value.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an application error.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Fields  []FieldError
	// RetryAfter, when set, tells the client how long to wait (rate limits).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New returns an application error.
func New(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Validation returns a validation_failed error listing the invalid fields.
func Validation(fields ...FieldError) *Error {
	return &Error{Kind: Invalid, Code: CodeValidation, Message: "The request has invalid fields.", Fields: fields}
}

// From returns the application error in err's chain, if any.
func From(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// KindOf returns the kind of err: Internal for anything that is not an application error.
func KindOf(err error) Kind {
	if e, ok := From(err); ok {
		return e.Kind
	}
	return Internal
}
