package secretsmanager_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/example/gdpr/internal/awsports"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/secretsmanager"
)

// TestFromEnv reads the master secret from Secrets Manager as moto_server emulates it, by the
// ARN a function is given, and derives the same keys as the secret's value does locally.
func TestFromEnv(t *testing.T) {
	srv := mototest.Start(t)
	for _, kv := range srv.Env() {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	ctx := context.Background()
	client := awssm.NewFromConfig(srv.Config(t))
	create := func(name, value string) string {
		out, err := client.CreateSecret(ctx, &awssm.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
		if err != nil {
			t.Fatal(err)
		}
		return *out.ARN
	}
	value := secrets.Generate()
	good := create("gdpr-master", value)
	short := create("gdpr-short", "tiny-value")

	build := func(arn string) (secrets.Master, error) {
		h, err := awsports.Open(func(name string) string {
			if name == awsports.EnvSecretARN {
				return arn
			}
			return ""
		}, secretsmanager.FromEnv())
		if err != nil {
			return secrets.Master{}, err
		}
		p, err := h.Ports(ctx, clock.System{}, slog.New(slog.DiscardHandler))
		if err != nil {
			return secrets.Master{}, err
		}
		return p.Secrets, nil
	}

	t.Run("Read", func(t *testing.T) {
		got, err := build(good)
		if err != nil {
			t.Fatal(err)
		}
		want, err := secrets.New([]byte(value))
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Key(secrets.ForCursor)) != string(want.Key(secrets.ForCursor)) {
			t.Fatal("keys derived from Secrets Manager's value differ from the value's own")
		}
	})
	t.Run("ErrMissingSetting", func(t *testing.T) {
		if _, err := build(""); err == nil || !strings.Contains(err.Error(), awsports.EnvSecretARN) {
			t.Fatalf("error = %v, want one naming %s", err, awsports.EnvSecretARN)
		}
	})
	t.Run("ErrShortSecret", func(t *testing.T) {
		_, err := build(short)
		if err == nil || !strings.Contains(err.Error(), "gdpr-short") {
			t.Fatalf("error = %v, want one naming the secret", err)
		}
		if strings.Contains(err.Error(), "tiny-value") {
			t.Fatal("the error quotes the secret")
		}
	})
	t.Run("ErrUnknownSecret", func(t *testing.T) {
		if _, err := build(strings.Replace(good, "gdpr-master", "gdpr-nothing", 1)); err == nil {
			t.Fatal("an unknown secret was read")
		}
	})
}
