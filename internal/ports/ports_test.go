package ports_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/ports"
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

var discard = slog.New(slog.DiscardHandler)

func TestAWSSettings(t *testing.T) {
	full := map[string]string{
		"TABLE_NAME":   "t",
		"BUCKET_NAME":  "b",
		"SENDER_EMAIL": "no-reply@example.org",
		"GDPR_SECRET":  strings.Repeat("s", 48),
	}
	for _, missing := range []string{"TABLE_NAME", "BUCKET_NAME", "SENDER_EMAIL", "GDPR_SECRET"} {
		t.Run("Err"+missing, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range full {
				if k != missing {
					vars[k] = v
				}
			}
			_, err := ports.AWS(context.Background(), env(vars), clock.System{}, discard)
			if err == nil || !strings.Contains(err.Error(), missing) {
				t.Fatalf("error = %v, want one naming %s", err, missing)
			}
		})
	}
	t.Run("ErrAllNamed", func(t *testing.T) {
		_, err := ports.AWS(context.Background(), env(nil), clock.System{}, discard)
		if err == nil || !strings.Contains(err.Error(), "TABLE_NAME, BUCKET_NAME, SENDER_EMAIL, GDPR_SECRET") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("ErrShortSecret", func(t *testing.T) {
		vars := map[string]string{}
		for k, v := range full {
			vars[k] = v
		}
		vars["GDPR_SECRET"] = "tiny-value"
		_, err := ports.AWS(context.Background(), env(vars), clock.System{}, discard)
		if err == nil || !strings.Contains(err.Error(), "GDPR_SECRET") {
			t.Fatalf("error = %v", err)
		}
		if strings.Contains(err.Error(), "tiny-value") {
			t.Fatal("the error quotes the secret")
		}
	})
	t.Run("Complete", func(t *testing.T) {
		t.Setenv("AWS_REGION", "eu-west-1")
		p, err := ports.AWS(context.Background(), env(full), clock.System{}, discard)
		if err != nil {
			t.Fatal(err)
		}
		if p.Table == nil || p.Feed == nil || p.Objects == nil || p.Mail == nil {
			t.Fatalf("ports incomplete: %+v", p)
		}
	})
}

func TestLogger(t *testing.T) {
	ctx := context.Background()
	for level, want := range map[string]slog.Level{"": slog.LevelInfo, "DEBUG": slog.LevelDebug, "warn": slog.LevelWarn, "ERROR": slog.LevelError, "loud": slog.LevelInfo} {
		l := ports.Logger(env(map[string]string{"LOG_LEVEL": level}))
		if !l.Enabled(ctx, want) || (want > slog.LevelDebug && l.Enabled(ctx, want-1)) {
			t.Errorf("LOG_LEVEL=%q: not at level %v", level, want)
		}
	}
}
