package awsports_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/example/gdpr/internal/awsports"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/s3"
	"github.com/example/gdpr/internal/secretsmanager"
	"github.com/example/gdpr/internal/ses"
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

var discard = slog.New(slog.DiscardHandler)

// TestSettings: only the settings of the declared adapters are required, and one error names
// every one missing.
func TestSettings(t *testing.T) {
	ctx := context.Background()
	t.Setenv("AWS_REGION", "eu-west-1")
	all := []awsports.Adapter{dynamo.FromEnv(), s3.FromEnv(), ses.FromEnv(), secretsmanager.FromEnv()}
	t.Run("ErrAllNamed", func(t *testing.T) {
		_, err := awsports.Open(env(nil), all...)
		if err == nil || !strings.Contains(err.Error(), "TABLE_NAME, BUCKET_NAME, SENDER_EMAIL, GDPR_SECRET_ARN") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("OnlyDeclared", func(t *testing.T) {
		h, err := awsports.Open(env(map[string]string{"TABLE_NAME": "t"}), dynamo.FromEnv())
		if err != nil {
			t.Fatal(err)
		}
		p, err := h.Ports(ctx, clock.System{}, discard)
		if err != nil {
			t.Fatal(err)
		}
		if p.Table == nil || p.Objects != nil || p.Mail != nil || p.Feed != nil || p.Secrets.Ready() {
			t.Fatalf("ports %+v: want the table only", p)
		}
	})
	t.Run("NoneDeclared", func(t *testing.T) {
		h, err := awsports.Open(env(nil))
		if err != nil {
			t.Fatal(err)
		}
		p, err := h.Ports(ctx, clock.System{}, discard)
		if err != nil {
			t.Fatal(err)
		}
		if p.Table != nil || p.Feed != nil || p.Objects != nil || p.Mail != nil || p.Secrets.Ready() || p.Clock == nil || p.Log != discard {
			t.Fatalf("ports %+v: want the clock and the log only", p)
		}
	})
}
