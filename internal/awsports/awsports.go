// Package awsports builds a Lambda function's ports on AWS from its environment. A function's
// main names the adapters it needs (dynamo.FromEnv, s3.FromEnv, ses.FromEnv,
// secretsmanager.FromEnv); each is declared in its engine's package, so a binary links the
// SDK clients of the adapters it names and no others, and requires only their settings.
package awsports

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/ports"
)

// Settings the adapters read, as template.yaml gives them to the functions that need them.
const (
	EnvTable     = "TABLE_NAME"
	EnvBucket    = "BUCKET_NAME"
	EnvKMSKey    = "KMS_KEY_ID" // optional: the bucket's default key otherwise
	EnvSender    = "SENDER_EMAIL"
	EnvSecretARN = "GDPR_SECRET_ARN"
	// EnvPublicURL is optional: the base URL of the API that emailed links start with
	// (ExportFunction's download links).
	EnvPublicURL = "PUBLIC_BASE_URL"
)

// Adapter is one port built on AWS.
type Adapter struct {
	// Settings are the environment variables the adapter requires.
	Settings []string
	// Build sets the adapter's port in p. It may call AWS (reading the master secret does).
	Build func(ctx context.Context, e Env, p *ports.Ports) error
}

// Env is what adapters are built from: the settings. Adapters load the SDK's configuration
// themselves (awsconfig), so that a function without any links none of it.
type Env struct {
	Get func(string) string
}

// Home is a function's AWS home, ready to build: its settings checked.
type Home struct {
	env      Env
	adapters []Adapter
}

// Open checks that env holds every setting the adapters require: one error names every
// missing one. It reads nothing else and calls nothing.
func Open(env func(string) string, adapters ...Adapter) (*Home, error) {
	var missing []string
	for _, a := range adapters {
		for _, name := range a.Settings {
			if env(name) == "" && !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("awsports: missing setting %s", strings.Join(missing, ", "))
	}
	return &Home{env: Env{Get: env}, adapters: adapters}, nil
}

// Ports builds the adapters, with clk and log. The SDK's configuration is loaded then.
func (h *Home) Ports(ctx context.Context, clk clock.Clock, log *slog.Logger) (*ports.Ports, error) {
	p := &ports.Ports{Clock: clk, Log: log, PublicURL: h.env.Get(EnvPublicURL)}
	for _, a := range h.adapters {
		if err := a.Build(ctx, h.env, p); err != nil {
			return nil, err
		}
	}
	return p, nil
}
