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
}

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
