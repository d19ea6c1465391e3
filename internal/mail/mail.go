// Package mail is the outgoing email port. SES sends in AWS; locally an outbox folder keeps
// every message so people and tests can read it.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// Message is one email. Text is required; HTML is optional and carries the same content.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
	// Tenant is the tenant the message is sent for, when there is one: SES tags the message
	// with it, so that a bounce report says whose address bounced (internal/bounces), and
	// senders refuse an address marked undeliverable in that tenant.
	Tenant string
}

// TenantTag is the name of the message tag a transport carries Message.Tenant under (SES
// hands a message's tags back in its bounce events, which is how a bounce finds its tenant).
const TenantTag = "tenant"

// ErrUndeliverable is a send refused because the address bounced permanently before
// (internal/bounces): no mail server would take it, and trying again hurts the sender's
// reputation. Callers treat it as an answer, not a failure to retry.
var ErrUndeliverable = errors.New("mail: the recipient's address bounced permanently; not sent")

// What a failed Send means to a caller that decides on retries. Adapters' errors match them
// with errors.Is; an error that matches neither may be passing (a timeout, a 5xx): the
// message may or may not have gone.
var (
	// ErrThrottled: the transport refused the message for now (sending rate or daily quota
	// exceeded); nothing was sent, the same message may be sent again later.
	ErrThrottled = errors.New("mail: sending rate exceeded")
	// ErrRejected: the message will never be accepted as it is (a malformed or refused
	// recipient, a rejected content); nothing was sent.
	ErrRejected = errors.New("mail: message rejected")
)

// Validate refuses messages no mail server would accept (ErrRejected). Its errors never
// quote the address.
func (m Message) Validate() error {
	if a, err := mail.ParseAddress(m.To); err != nil || a.Address != m.To {
		return fmt.Errorf("%w: recipient is not a plain email address", ErrRejected)
	}
	if strings.TrimSpace(m.Subject) == "" || strings.ContainsAny(m.Subject, "\r\n") {
		return fmt.Errorf("%w: subject empty or spans lines", ErrRejected)
	}
	if strings.TrimSpace(m.Text) == "" {
		return fmt.Errorf("%w: text part empty", ErrRejected)
	}
	return nil
}

// Sender is the mail port.
type Sender interface {
	// Send hands the message over for delivery and returns the id the transport gave it.
	Send(ctx context.Context, m Message) (id string, err error)
}

// RateSource is a transport that tells how many messages per second it accepts (SES: the
// account's maximum send rate), so that bulk senders can pace themselves below it.
type RateSource interface {
	SendRate(ctx context.Context) (perSecond float64, err error)
}
