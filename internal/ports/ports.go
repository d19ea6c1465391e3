// Package ports is the set of adapters a function runs on: the table, its change feed, the
// object store, mail, the clock and the master secret. It knows no engine: the AWS adapters
// are built by awsports from a Lambda's environment (each function's main names the ones it
// needs), the embedded ones by home under a local data folder.
package ports

import (
	"log/slog"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/objects"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
)

// Ports are the adapters handlers are built from. A Lambda function gets only the ones its
// main declares: the others are nil (Secrets is then the zero Master, whose keys panic).
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

// TableDef is the service's table as template.yaml declares it (its resource Table): a Go
// value, so that no function parses the template to start. TestTableDef keeps the two equal.
func TableDef() table.Def {
	return table.Def{
		AttributeTypes: map[string]string{
			"pk": "S", "sk": "S",
			"gsi1pk": "S", "gsi1sk": "S",
			"gsi2pk": "S", "gsi2sk": "S",
			"xpk": "S", "xsk": "S",
		},
		HashKey:  "pk",
		RangeKey: "sk",
		Indexes: []table.IndexDef{
			{Name: "GSI1", HashKey: "gsi1pk", RangeKey: "gsi1sk", Projection: "ALL"},
			{Name: "GSI2", HashKey: "gsi2pk", RangeKey: "gsi2sk", Projection: "ALL"},
			{Name: "Expiry", HashKey: "xpk", RangeKey: "xsk", Projection: "KEYS_ONLY"},
		},
		StreamView:   "NEW_AND_OLD_IMAGES",
		TTLAttribute: "ttl",
	}
}
