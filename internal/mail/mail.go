// Package mail is the outgoing email port. SES sends in AWS; locally an outbox folder keeps
// every message so people and tests can read it.
package mail

import (
	"context"
	"errors"
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

// Validate refuses messages no mail server would accept. Its errors never quote the address.
func (m Message) Validate() error {
	if a, err := mail.ParseAddress(m.To); err != nil || a.Address != m.To {
		return errors.New("mail: recipient is not a plain email address")
	}
	if strings.TrimSpace(m.Subject) == "" || strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("mail: subject empty or spans lines")
	}
	if strings.TrimSpace(m.Text) == "" {
		return errors.New("mail: text part empty")
	}
	return nil
}

// Sender is the mail port.
type Sender interface {
	// Send hands the message over for delivery and returns the id the transport gave it.
	Send(ctx context.Context, m Message) (id string, err error)
}
