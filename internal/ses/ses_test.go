package ses_test

import (
	"context"
	"errors"
	"net"
	"strings"
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

	t.Run("ConfigurationSet", func(t *testing.T) {
		if _, err := client.CreateConfigurationSet(ctx, &awsses.CreateConfigurationSetInput{
			ConfigurationSet: &types.ConfigurationSet{Name: aws.String("gdpr-mail")},
		}); err != nil {
			t.Fatalf("CreateConfigurationSet: %v", err)
		}
		id, err := ses.New(client, from, "gdpr-mail").Send(ctx, mail.Message{To: "ann@example.org", Subject: "S", Text: "T"})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if id == "" {
			t.Fatal("empty id")
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
		if len(m.To) != 1 {
			t.Fatalf("message %s has %d recipients, want 1", m.ID, len(m.To))
		}
		records = append(records, mailtest.Record{ID: m.ID, To: m.To[0], Subject: m.Subject, Body: m.Body})
	}
	return records
}
