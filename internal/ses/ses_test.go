package ses_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsses "github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/smithy-go"

	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/mail/mailtest"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/ses"
)

const from = "privacy@example.org"

// TestSender runs every case against one moto_server of its own: data.json, where moto keeps
// sent mail, breaks after an S3 multipart upload (TOOLING.md), so no S3 test may share it.
func TestSender(t *testing.T) {
	ctx := context.Background()
	moto := mototest.Start(t)
	client := awsses.NewFromConfig(moto.Config(t))
	if _, err := client.VerifyEmailIdentity(ctx, &awsses.VerifyEmailIdentityInput{EmailAddress: aws.String(from)}); err != nil {
		t.Fatalf("VerifyEmailIdentity: %v", err)
	}

	t.Run("Conformance", func(t *testing.T) {
		mailtest.Run(t, mailtest.Harness{
			Sender: ses.New(client, from, ""),
			Sent:   func(t *testing.T) []mailtest.Record { return sentMail(t, moto) },
		})
	})

	t.Run("SendRate", func(t *testing.T) {
		// moto answers GetSendQuota with a sandbox account's 1 a second.
		if got, err := ses.New(client, from, "").SendRate(ctx); err != nil || got != 1 {
			t.Fatalf("SendRate = %v, %v; want 1", got, err)
		}
	})

	// What moto recorded of a message with both parts and a configuration set, and what went
	// over the wire: moto keeps the sender, recipient, subject and one body (the HTML part
	// when there is one), not the text part nor the configuration set, which the request the
	// SDK sent shows instead.
	t.Run("Recorded", func(t *testing.T) {
		if _, err := client.CreateConfigurationSet(ctx, &awsses.CreateConfigurationSetInput{
			ConfigurationSet: &types.ConfigurationSet{Name: aws.String("gdpr-mail")},
		}); err != nil {
			t.Fatalf("CreateConfigurationSet: %v", err)
		}
		wire := &recordRequests{}
		recorded := awsses.NewFromConfig(moto.Config(t), func(o *awsses.Options) {
			o.HTTPClient = &http.Client{Transport: wire}
		})
		m := mail.Message{
			To:      "ann@example.org",
			Subject: "Your request — reçu",
			Text:    "Verification code: 482913\n",
			HTML:    "<p>Verification code: <b>482913</b></p>",
		}
		id, err := ses.New(recorded, from, "gdpr-mail").Send(ctx, m)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		var got []mototest.SESMessage
		for _, r := range moto.SESMessages(t) {
			if r.ID == id {
				got = append(got, r)
			}
		}
		if len(got) != 1 {
			t.Fatalf("moto recorded %d messages with id %q, want 1", len(got), id)
		}
		if r := got[0]; r.Source != from || len(r.To) != 1 || r.To[0] != m.To || r.Subject != m.Subject || r.Body != m.HTML {
			t.Fatalf("moto recorded %+v, want from %s to %s, subject %q, body %q", r, from, m.To, m.Subject, m.HTML)
		}
		sent := wire.last(t, "SendEmail")
		for name, want := range map[string]string{
			"Source":                            from,
			"Destination.ToAddresses.member.1":  m.To,
			"Message.Subject.Data":              m.Subject,
			"Message.Subject.Charset":           "UTF-8",
			"Message.Body.Text.Data":            m.Text,
			"Message.Body.Text.Charset":         "UTF-8",
			"Message.Body.Html.Data":            m.HTML,
			"Message.Body.Html.Charset":         "UTF-8",
			"ConfigurationSetName":              "gdpr-mail",
			"Destination.CcAddresses.member.1":  "",
			"Destination.BccAddresses.member.1": "",
		} {
			if got := sent.Get(name); got != want {
				t.Errorf("SendEmail %s = %q, want %q", name, got, want)
			}
		}
	})

	t.Run("ErrorsQuoteNoAddress", func(t *testing.T) {
		m := mail.Message{To: "ann@example.org", Subject: "S", Text: "T"}
		_, err := ses.New(client, "unverified@example.org", "").Send(ctx, m)
		var sendErr *ses.SendError
		if !errors.As(err, &sendErr) {
			t.Fatalf("err = %v, want a *ses.SendError", err)
		}
		if got, want := sendErr.Code, "MessageRejected"; got != want {
			t.Fatalf("Code = %q, want %q", got, want)
		}
		if apiErr := smithy.APIError(nil); !errors.As(err, &apiErr) || apiErr.ErrorCode() != "MessageRejected" {
			t.Fatalf("the SDK's API error is not reachable through errors.As: %v", err)
		}
		if strings.Contains(err.Error(), "@") {
			t.Fatalf("error %q quotes an address", err)
		}
	})

	t.Run("TransportError", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "http://" + l.Addr().String()
		l.Close()
		down := awsses.NewFromConfig(moto.Config(t), func(o *awsses.Options) {
			o.BaseEndpoint = aws.String(closed)
			o.RetryMaxAttempts = 1
		})
		_, err = ses.New(down, from, "").Send(ctx, mail.Message{To: "ann@example.org", Subject: "S", Text: "T"})
		var sendErr *ses.SendError
		if !errors.As(err, &sendErr) || sendErr.Code != "transport_error" {
			t.Fatalf("err = %v, want a transport_error", err)
		}
		if strings.Contains(err.Error(), "@") {
			t.Fatalf("error %q quotes an address", err)
		}
	})
}

// sentMail reads what moto's SES kept of every SendEmail call.
func sentMail(t *testing.T, moto *mototest.Server) []mailtest.Record {
	t.Helper()
	var records []mailtest.Record
	for _, m := range moto.SESMessages(t) {
		if m.Source != from {
			t.Fatalf("message %s was sent from %q, want %q", m.ID, m.Source, from)
		}
		if len(m.To) != 1 {
			t.Fatalf("message %s has %d recipients, want 1", m.ID, len(m.To))
		}
		records = append(records, mailtest.Record{ID: m.ID, To: m.To[0], Subject: m.Subject, Body: m.Body})
	}
	return records
}

// recordRequests passes requests on to moto and keeps their form bodies (SES's query
// protocol), to show what the SDK sent.
type recordRequests struct {
	mu   sync.Mutex
	sent []url.Values
}

func (r *recordRequests) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.sent = append(r.sent, form)
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// last is the last request of an action.
func (r *recordRequests) last(t *testing.T, action string) url.Values {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.sent) - 1; i >= 0; i-- {
		if r.sent[i].Get("Action") == action {
			return r.sent[i]
		}
	}
	t.Fatalf("no %s request sent", action)
	return nil
}
