package httpapi

import (
	"github.com/example/gdpr/internal/ports"
)

// FromPorts builds an API on a function's ports and the tenant reader its routes share: the
// one place the layer is wired.
func FromPorts(p *ports.Ports, tenants Tenants, routes ...Route) *API {
	return New(Config{
		Table:   p.Table,
		Tenants: tenants,
		Secrets: p.Secrets,
		Clock:   p.Clock,
		Log:     p.Log,
	}, routes...)
}
