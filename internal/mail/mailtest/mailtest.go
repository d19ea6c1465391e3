// Package mailtest is the conformance suite of the mail port: every sender runs it, reading
// back what its transport kept, so the domain may rely on one behaviour whichever sends.
package mailtest

import (
	"context"
	"strings"
	"testing"

	"github.com/example/gdpr/internal/mail"
)

// Harness is a sender under test and a way to read back what its transport accepted.
type Harness struct {
	Sender mail.Sender
	// Sent returns every message the transport has accepted so far, in any order.
	Sent func(t *testing.T) []Record
}

// Record is one accepted message as the transport kept it.
type Record struct {
	ID      string
	To      string
	Subject string
	// Body is the part a mail client shows: the HTML when the message has one, else the text.
	// (The SES emulator keeps no more than that.)
	Body string
}

// Run checks h.Sender against the port's contract. The cases run in order and share the
// transport, so each finds its messages by the id Send returned.
func Run(t *testing.T, h Harness) {
	t.Run("TextAndHTML", func(t *testing.T) {
		m := mail.Message{
			To:      "ann@example.org",
			Subject: "Your data export is ready",
			Text:    "Your export is ready.\n\nDownload it within 7 days:\nhttps://example.org/x\n",
			HTML:    "<p>Your export is ready.</p>\n<p><a href=\"https://example.org/x\">Download it</a> within 7 days.</p>\n",
		}
		checkSent(t, h, m, m.HTML)
	})

	t.Run("TextOnly", func(t *testing.T) {
		m := mail.Message{
			To:      "bob@example.com",
			Subject: "Verify your request",
			Text:    "Verification code: 482913\n",
		}
		checkSent(t, h, m, m.Text)
	})

	t.Run("UTF8", func(t *testing.T) {
		long := strings.Repeat("Données personnelles — ", 8) // longer than a quoted-printable line
		m := mail.Message{
			To:      "zoe@example.net",
			Subject: "Änderung der Datenschutzerklärung ✓ 個人データ — " + long,
			Text:    "Grüße, Zoë!\n" + long + "\nÇa marche ✓ 😀\ntrailing space \n",
			HTML:    "<p>Grüße, Zoë! " + long + " ✓ 😀</p>",
		}
		checkSent(t, h, m, m.HTML)
		m.HTML = ""
		checkSent(t, h, m, m.Text)
	})

	t.Run("DistinctIDs", func(t *testing.T) {
		m := mail.Message{To: "ann@example.org", Subject: "Same", Text: "Same message twice.\n"}
		first := checkSent(t, h, m, m.Text)
		if second := checkSent(t, h, m, m.Text); second == first {
			t.Fatalf("both sends got id %q", first)
		}
	})

	t.Run("RefusedBeforeSending", func(t *testing.T) {
		valid := mail.Message{To: "ann@example.org", Subject: "Subject", Text: "Text.\n"}
		for name, change := range map[string]func(m *mail.Message){
			"NoRecipient":      func(m *mail.Message) { m.To = "" },
			"NotAnAddress":     func(m *mail.Message) { m.To = "ann.example.org" },
			"DisplayName":      func(m *mail.Message) { m.To = "Ann <ann@example.org>" },
			"TwoRecipients":    func(m *mail.Message) { m.To = "ann@example.org, eve@example.org" },
			"HeaderInjection":  func(m *mail.Message) { m.To = "ann@example.org\r\nBcc: eve@example.org" },
			"SubjectInjection": func(m *mail.Message) { m.Subject = "Hi\r\nBcc: eve@example.org" },
			"EmptySubject":     func(m *mail.Message) { m.Subject = " " },
			"EmptyText":        func(m *mail.Message) { m.Text = "" },
			"HTMLWithoutText":  func(m *mail.Message) { m.Text, m.HTML = "", "<p>Text.</p>" },
			"DoubleAt":         func(m *mail.Message) { m.To = "ann@@example.org" },
		} {
			t.Run(name, func(t *testing.T) {
				m := valid
				change(&m)
				before := len(h.Sent(t))
				id, err := h.Sender.Send(context.Background(), m)
				if err == nil {
					t.Fatalf("Send: no error, id %q", id)
				}
				if strings.Contains(err.Error(), "@") || strings.Contains(err.Error(), "example") {
					t.Fatalf("error %q quotes an address", err)
				}
				if after := len(h.Sent(t)); after != before {
					t.Fatalf("%d messages accepted, want none", after-before)
				}
			})
		}
	})
}

// checkSent sends m, finds it by its id among what the transport kept, checks it shows body,
// and returns the id.
func checkSent(t *testing.T, h Harness, m mail.Message, body string) string {
	t.Helper()
	id, err := h.Sender.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if id == "" {
		t.Fatal("Send returned an empty id")
	}
	var found []Record
	for _, r := range h.Sent(t) {
		if r.ID == id {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d messages with id %q, want 1", len(found), id)
	}
	r := found[0]
	if got, want := r.To, m.To; got != want {
		t.Errorf("To = %q, want %q", got, want)
	}
	if got, want := r.Subject, m.Subject; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	if got, want := r.Body, body; got != want {
		t.Errorf("Body = %q, want %q", got, want)
	}
	return id
}
