package home

import (
	"context"
	"log/slog"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/ports"
)

// EnvCreateTable, set to 1, makes Open provision an empty emulator first (see Provision).
const EnvCreateTable = "GDPR_CREATE_TABLE"

// Open builds the ports of a long-running local process (gdprd, gdprctl): the AWS adapters
// when env sets TABLE_NAME, the embedded ones under dataDir otherwise. Against AWS or an
// emulator, GDPR_SECRET defaults to the local master secret in dataDir, so that one data
// folder's keys keep working whichever engine holds the data. Either way the ports are the
// local server's (Ports.Local).
func Open(ctx context.Context, env func(string) string, dataDir, baseURL string, clk clock.Clock, log *slog.Logger) (*ports.Ports, error) {
	p, err := open(ctx, env, dataDir, baseURL, clk, log)
	if err != nil {
		return nil, err
	}
	p.Local = true
	return p, nil
}

func open(ctx context.Context, env func(string) string, dataDir, baseURL string, clk clock.Clock, log *slog.Logger) (*ports.Ports, error) {
	if env(ports.EnvTable) == "" {
		return local(dataDir, clk, baseURL, log, env(ports.EnvSender))
	}
	if env(ports.EnvSecret) == "" {
		secret, err := LocalSecret(dataDir)
		if err != nil {
			return nil, err
		}
		base := env
		env = func(name string) string {
			if name == ports.EnvSecret {
				return secret
			}
			return base(name)
		}
	}
	if env(EnvCreateTable) == "1" {
		if err := ports.Provision(ctx, env); err != nil {
			return nil, err
		}
	}
	p, err := ports.AWS(ctx, env, clk, log)
	if err != nil {
		return nil, err
	}
	// Links point at this process, which serves the routes, unless the environment says more.
	if p.PublicURL == "" {
		p.PublicURL = baseURL
	}
	return p, nil
}
