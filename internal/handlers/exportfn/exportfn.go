// Package exportfn is ExportFunction: fed the table's stream, it fulfils each access and
// portability request that became verified (or that an operator retried) with an export.
package exportfn

import (
	"errors"
	"strings"

	"github.com/example/gdpr/internal/awsports"
	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/export"
	"github.com/example/gdpr/internal/fulfilment"
	"github.com/example/gdpr/internal/handlers/requeststream"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/tenant"
)

// New builds the function's stream handler. The emailed links start with p.PublicURL, which
// must be set (PUBLIC_BASE_URL in AWS).
func New(p *ports.Ports) (requeststream.Handler, error) {
	if p.PublicURL == "" {
		return nil, errors.New("exportfn: no public base URL for download links (" + awsports.EnvPublicURL + ")")
	}
	tenants := tenant.NewCache(tenant.Store{Table: p.Table, Clock: p.Clock}, p.Clock)
	requests := dsr.New(p.Table, tenants, p.Mail, p.Clock, p.Secrets)
	x := &export.Exporter{
		Builder: &export.Builder{
			Consent:  consent.New(consent.Config{Table: p.Table, Clock: p.Clock, Secrets: p.Secrets, Tenants: tenants}),
			Requests: requests,
			Clock:    p.Clock,
		},
		Objects:  p.Objects,
		Records:  export.Records{Table: p.Table, Clock: p.Clock},
		Links:    export.Links{Secrets: p.Secrets, Base: strings.TrimSuffix(p.PublicURL, "/")},
		Tenants:  tenants,
		Requests: requests,
	}
	run := fulfilment.Runner{Requests: requests, Work: x.Work, Log: p.Log}
	return requeststream.New(run.Run, p.Log), nil
}
