// Package rightsfn is RightsFunction: fed by the table's stream with the requests that became
// verified (or were retried) of types erasure, rectification, restriction and objection, it
// fulfils each in this service's own stores (internal/rights).
package rightsfn

import (
	"context"

	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/fulfilment"
	"github.com/example/gdpr/internal/handlers/requeststream"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/rights"
	"github.com/example/gdpr/internal/sites"
	"github.com/example/gdpr/internal/tenant"
)

// New builds the stream handler on p.
func New(p *ports.Ports) (requeststream.Handler, error) {
	tenants := tenant.NewCache(tenant.Store{Table: p.Table, Clock: p.Clock}, p.Clock)
	requests := dsr.New(p.Table, tenants, p.Mail, p.Clock, p.Secrets)
	svc := &rights.Service{
		Table:    p.Table,
		Clock:    p.Clock,
		Secrets:  p.Secrets,
		Tenants:  tenants,
		Consent:  consent.New(consent.Config{Table: p.Table, Clock: p.Clock, Secrets: p.Secrets, Tenants: tenants}),
		Requests: requests,
		Objects:  p.Objects,
		External: []rights.Step{sitesStep(sites.New(p.Table, p.Clock, p.Secrets, p.Local, p.Log))},
	}
	runner := fulfilment.Runner{Requests: requests, Work: svc.Work, Log: p.Log}
	return requeststream.New(runner.Run, p.Log), nil
}

// sitesStep tells the tenant's marketplace sites, and waits (parked, see fulfilment.Waiting)
// until each confirmed: the deliveries job wakes the request when the last one settles.
func sitesStep(st *sites.Service) rights.Step {
	return rights.Step{
		Name:    "sites",
		Do:      st.Deliver,
		Systems: func(ctx context.Context, r dsr.Request) ([]string, error) { return st.Told(ctx, r.Tenant, r.ID) },
	}
}
