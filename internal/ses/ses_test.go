package ses_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
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
	// sent keeps the body of every SendEmail call the adapter makes, as it went to moto.
	sent := &recorder{next: http.DefaultTransport}
	client := sesv2.NewFromConfig(moto.Config(t), func(o *sesv2.Options) { o.HTTPClient = &http.Client{Transport: sent} })
	// moto verifies an identity as it creates it.
	if _, err := client.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(from)}); err != nil {
		t.Fatalf("CreateEmailIdentity: %v", err)
	}

	t.Run("Conformance", func(t *testing.T) {
		mailtest.Run(t, mailtest.Harness{
			Sender: ses.New(client, from, ""),
			Sent:   func(t *testing.T) []mailtest.Record { return sentMail(t, moto) },
		})
	})

	// Through the configuration set, tagged with the tenant: the bounce event SES publishes
	// carries both, which is how BouncesFunction finds the tenant.
	t.Run("ConfigurationSetAndTenantTag", func(t *testing.T) {
		if _, err := client.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("gdpr-mail")}); err != nil {
			t.Fatalf("CreateConfigurationSet: %v", err)
		}
		sent.reset()
		id, err := ses.New(client, from, "gdpr-mail").Send(ctx, mail.Message{To: "ann@example.org", Subject: "S", Text: "T", Tenant: "acme"})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if id == "" {
			t.Fatal("empty id")
		}
		bodies := sent.bodies()
		if len(bodies) != 1 {
			t.Fatalf("%d calls, want 1", len(bodies))
		}
		var in struct {
			ConfigurationSetName string
			EmailTags            []types.MessageTag
			Content              struct{ Simple *struct{} }
		}
		if err := json.Unmarshal(bodies[0], &in); err != nil {
			t.Fatalf("request body: %v", err)
		}
		if in.ConfigurationSetName != "gdpr-mail" || len(in.EmailTags) != 1 ||
			aws.ToString(in.EmailTags[0].Name) != mail.TenantTag || aws.ToString(in.EmailTags[0].Value) != "acme" || in.Content.Simple == nil {
			t.Fatalf("SendEmail %s: want the configuration set, the tenant tag and simple content", bodies[0])
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
		down := sesv2.NewFromConfig(moto.Config(t), func(o *sesv2.Options) {
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

// recorder passes every request on and keeps the body of each.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	kept [][]byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		r.mu.Lock()
		r.kept = append(r.kept, b)
		r.mu.Unlock()
	}
	return r.next.RoundTrip(req)
}

func (r *recorder) bodies() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.kept...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.kept = nil
	r.mu.Unlock()
}

// TestSendRate reads the send rate from SES v2's GetAccount answer. moto 5.2.1 does not
// implement GetAccount (it answers 404), so a loopback server answers with the body SES
// documents for it.
func TestSendRate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/v2/email/account" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"DedicatedIpAutoWarmupEnabled":false,"EnforcementStatus":"HEALTHY","ProductionAccessEnabled":true,`+
			`"SendQuota":{"Max24HourSend":50000.0,"MaxSendRate":14.0,"SentLast24Hours":12.0},"SendingEnabled":true}`)
	}))
	t.Cleanup(srv.Close)
	client := sesv2.New(sesv2.Options{
		BaseEndpoint: aws.String(srv.URL),
		Region:       "eu-west-1",
		Credentials:  aws.AnonymousCredentials{},
	})
	got, err := ses.New(client, from, "").SendRate(context.Background())
	if err != nil || got != 14 {
		t.Fatalf("SendRate = %v, %v; want 14", got, err)
	}
}
