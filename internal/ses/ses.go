// Package ses sends email through Amazon SES (API v2, SendEmail with simple content): the
// mail port in AWS. Its errors keep SES's error code and request id but never SES's message,
// which can quote the recipient.
package ses

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/example/gdpr/internal/mail"
)

var _ mail.Sender = (*Sender)(nil)

const charset = "UTF-8"

// Sender sends from one verified address, optionally through a configuration set (which
// publishes bounces, complaints and delivery events).
type Sender struct {
	client           *sesv2.Client
	from             string
	configurationSet string
}

// New returns a sender from the address from, which SES must have verified.
func New(client *sesv2.Client, from, configurationSet string) *Sender {
	return &Sender{client: client, from: from, configurationSet: configurationSet}
}

// Send validates m and hands it to SES; the id is SES's MessageId.
func (s *Sender) Send(ctx context.Context, m mail.Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	body := &types.Body{Text: &types.Content{Data: aws.String(m.Text), Charset: aws.String(charset)}}
	if m.HTML != "" {
		body.Html = &types.Content{Data: aws.String(m.HTML), Charset: aws.String(charset)}
	}
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(s.from),
		Destination:      &types.Destination{ToAddresses: []string{m.To}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String(m.Subject), Charset: aws.String(charset)},
			Body:    body,
		}},
	}
	if s.configurationSet != "" {
		in.ConfigurationSetName = aws.String(s.configurationSet)
	}
	if m.Tenant != "" {
		in.EmailTags = []types.MessageTag{{Name: aws.String(mail.TenantTag), Value: aws.String(m.Tenant)}}
	}
	out, err := s.client.SendEmail(ctx, in)
	if err != nil {
		return "", redact(err)
	}
	return aws.ToString(out.MessageId), nil
}

// SendError is a failed SendEmail call. Its text names SES's error code and request id only;
// the SDK's error, which may quote the recipient, stays reachable through errors.As and
// errors.Is (smithy.APIError, throttling, context errors) for callers that decide on retries,
// and must not be logged as text.
type SendError struct {
	// Code is SES's error code (e.g. MessageRejected, Throttling), or canceled,
	// deadline_exceeded or transport_error when no answer came.
	Code      string
	RequestID string
	detail    string // the failed network operation, for transport errors
	err       error
}

func (e *SendError) Error() string {
	msg := "ses: send email: " + e.Code
	if e.detail != "" {
		msg += ": " + e.detail
	}
	if e.RequestID != "" {
		msg += fmt.Sprintf(" (request %s)", e.RequestID)
	}
	return msg
}

func (e *SendError) Unwrap() error { return e.err }

// ErrorCode is SES's error code (or the transport's), which is safe to record as a reason.
func (e *SendError) ErrorCode() string { return e.Code }

// Is matches the mail port's failure kinds: mail.ErrThrottled for SES's Throttling (maximum
// send rate or daily quota exceeded), mail.ErrRejected for the errors that a resend of the
// same message cannot mend.
func (e *SendError) Is(target error) bool {
	switch target {
	case mail.ErrThrottled:
		return e.Code == "TooManyRequestsException" || e.Code == "LimitExceededException" || e.Code == "Throttling"
	case mail.ErrRejected:
		return rejected[e.Code]
	}
	return false
}

// rejected are SES SendEmail errors that depend on the message, not on the moment.
var rejected = map[string]bool{
	"MessageRejected":                    true,
	"BadRequestException":                true,
	"MailFromDomainNotVerifiedException": true,
	"NotFoundException":                  true, // the configuration set or identity does not exist
}

var _ mail.RateSource = (*Sender)(nil)

// SendRate returns the account's maximum send rate (GetAccount's SendQuota.MaxSendRate):
// messages per second. Callers cache it; SES changes it rarely.
func (s *Sender) SendRate(ctx context.Context) (float64, error) {
	out, err := s.client.GetAccount(ctx, &sesv2.GetAccountInput{})
	if err != nil {
		return 0, fmt.Errorf("ses: get account: %w", redact(err))
	}
	if out.SendQuota == nil {
		return 0, errors.New("ses: get account: no send quota")
	}
	return out.SendQuota.MaxSendRate, nil
}

// redact replaces err's text by a code: SES's error code for API errors, otherwise the
// context's end or the network operation that failed, none of which can hold an address.
func redact(err error) error {
	e := &SendError{Code: "transport_error", err: err}
	var apiErr smithy.APIError
	var opErr *net.OpError
	var respErr *awshttp.ResponseError
	switch {
	case errors.As(err, &apiErr):
		e.Code = apiErr.ErrorCode()
	case errors.Is(err, context.Canceled):
		e.Code = "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		e.Code = "deadline_exceeded"
	case errors.As(err, &opErr):
		e.detail = opErr.Error()
	}
	if errors.As(err, &respErr) {
		e.RequestID = respErr.ServiceRequestID()
	}
	return e
}
