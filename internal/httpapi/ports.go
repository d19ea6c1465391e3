package httpapi

import (
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/tenant"
)

// FromPorts builds an API on a function's ports: the one place the layer is wired.
func FromPorts(p *ports.Ports, routes ...Route) *API {
	return New(Config{
		Table:   p.Table,
		Tenants: tenant.Store{Table: p.Table, Clock: p.Clock},
		Secrets: p.Secrets,
		Clock:   p.Clock,
		Log:     p.Log,
	}, routes...)
}
