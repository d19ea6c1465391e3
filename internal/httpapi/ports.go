package httpapi

import (
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/tenant"
)

// FromPorts builds an API on a function's ports and the tenant reader its routes share: the
// one place the layer is wired. API keys are resolved on the function's table; a function
// without a table (MetaFunction) serves public routes only.
func FromPorts(p *ports.Ports, tenants Tenants, routes ...Route) *API {
	cfg := Config{
		Table:   p.Table,
		Tenants: tenants,
		Secrets: p.Secrets,
		Clock:   p.Clock,
		Log:     p.Log,
	}
	if p.Table != nil {
		cfg.Keys = tenant.Store{Table: p.Table, Clock: p.Clock}
	}
	return New(cfg, routes...)
}
