// Package metaapi is MetaFunction: GET /v1/health, GET /v1/openapi.json, and the problem+json
// 404 not_found of every request no other route matches (the HTTP API's $default route).
package metaapi

import (
	"runtime/debug"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/ports"
)

// New builds the function's API. Its routes are public and read nothing stored: it needs
// no table and no secret, only the clock and the log of p.
func New(p *ports.Ports) (*httpapi.API, error) {
	return httpapi.FromPorts(p, nil, httpapi.MetaRoutes(Version(), gdpr.OpenAPI)...), nil
}

// Version is the build's VCS revision (short), or "dev".
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
