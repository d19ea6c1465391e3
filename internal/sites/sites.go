// Package sites tells the tenant's marketplace sites (WordPress, Drupal, Joomla databases
// where the plugin also keeps user data) of erasures, rectifications and restrictions
// (Art. 17(2), 19): their registration with a signing secret, and deliveries signed as
// Standard Webhooks 1.0, confirmed by a 2xx answer and retried with backoff for 72 hours.
package sites

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
)

// Events a site may take, as registrations name them; a delivery's body type is
// "subject." + the event.
const (
	Erasure       = "erasure"
	Rectification = "rectification"
	Restriction   = "restriction"
)

// Events lists every event.
var Events = []string{Erasure, Rectification, Restriction}

// Limits.
const (
	// Window is how long a delivery is tried before it fails.
	Window = 72 * time.Hour
	// CallTimeout bounds one call to a site, answer included.
	CallTimeout = 10 * time.Second
	// MaxSystems bounds a tenant's registered sites: each is called on every request.
	MaxSystems = 20
)

// Error codes raised by this package (openapi.yaml lists them with their statuses).
const (
	CodeInvalidURL     = "invalid_url"
	CodeSystemNotFound = "system_not_found"
	CodeTooManySystems = "too_many_systems"
)

var (
	ErrSystemNotFound = apperr.New(apperr.NotFound, CodeSystemNotFound, "No such system.")
	ErrTooManySystems = apperr.New(apperr.Conflict, CodeTooManySystems, "A tenant registers at most 20 systems.")
)

// Requests wakes a request that waits for its deliveries; *dsr.Service is one.
type Requests interface {
	Resume(ctx context.Context, tenantID, id, why string) (dsr.Request, bool, error)
}

// Service registers sites and delivers to them.
type Service struct {
	Table   table.Table
	Clock   clock.Clock
	Secrets secrets.Master
	// Local is the local server's rule: sites may also be http://127.0.0.1:PORT or
	// http://localhost:PORT, and be reached on loopback. Off in a deployment.
	Local bool
	// Client makes the calls; New gives one that refuses forbidden addresses (Client).
	Client *http.Client
	// Requests is woken when a request's deliveries are all settled; nil in functions that
	// only register sites.
	Requests Requests
	Log      *slog.Logger
}

// New returns the service with the client of the address rules of local.
func New(t table.Table, clk clock.Clock, sec secrets.Master, local bool, log *slog.Logger) *Service {
	return &Service{Table: t, Clock: clk, Secrets: sec, Local: local, Client: Client(Dialer{Local: local}), Log: log}
}

// now is the service's time, to the second, as timelines and the audit keep it.
func (s *Service) now() time.Time { return s.Clock.Now().UTC().Truncate(time.Second) }
