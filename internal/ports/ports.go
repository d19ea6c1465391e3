// Package ports builds the set of adapters a function runs on: the AWS ones from a Lambda's
// environment, or the embedded ones under a local data folder. It is the only place that
// chooses between the two homes.
package ports

import (
	"log/slog"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/objects"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
)

// Ports are the adapters handlers are built from.
type Ports struct {
	Table   table.Table
	Feed    table.Feed
	Objects objects.Store
	Mail    mail.Sender
	Clock   clock.Clock
	Secrets secrets.Master
	Log     *slog.Logger
	// PublicURL is the base URL the API is reached at (links in emails start with it):
	// PUBLIC_BASE_URL in AWS, the local server's address at home. Empty when unknown.
	PublicURL string
	// Local is true for the local server and its command line (home.Open): marketplace sites
	// may then also be registered at, and called on, loopback (http://127.0.0.1:PORT). Never
	// set in a Lambda function.
	Local bool
	// Close releases what the adapters hold (the SQLite file); nil when nothing needs it.
	Close func() error
}
