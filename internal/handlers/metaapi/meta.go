// Package metaapi is MetaFunction: GET /v1/health, GET /v1/openapi.json, the web pages (the
// privacy center and the operator console, package web), and the problem+json 404 not_found
// of every request no other route matches (the HTTP API's $default route).
package metaapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"

	"go.yaml.in/yaml/v3"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/web"
)

// New builds the function's API. Its routes are public and read nothing stored: it needs
// no table and no secret, only the clock and the log of p. The pages are static files; the
// browser calls the other functions' routes.
func New(p *ports.Ports) (*httpapi.API, error) {
	pages, err := web.Routes()
	if err != nil {
		return nil, err
	}
	return httpapi.FromPorts(p, nil, append(routes(Version(), gdpr.OpenAPI), pages...)...), nil
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

// routes serve GET /v1/health and GET /v1/openapi.json. The OpenAPI description is
// converted from YAML once, on its first request: not at the function's start, which the
// health check (the first call of most instances) would pay for nothing.
func routes(version string, openapiYAML []byte) []httpapi.Route {
	spec := sync.OnceValues(func() (json.RawMessage, error) {
		var doc any
		if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
			return nil, fmt.Errorf("metaapi: openapi.yaml: %w", err)
		}
		b, err := json.Marshal(stringKeys(doc))
		if err != nil {
			return nil, fmt.Errorf("metaapi: openapi.yaml as JSON: %w", err)
		}
		return b, nil
	})
	health := map[string]string{"status": "ok", "version": version}
	return []httpapi.Route{
		{Key: "GET /v1/health", Access: httpapi.Public, Handle: func(context.Context, *httpapi.Request) (httpapi.Response, error) {
			return httpapi.JSON(http.StatusOK, health)
		}},
		{Key: "GET /v1/openapi.json", Access: httpapi.Public, Handle: func(context.Context, *httpapi.Request) (httpapi.Response, error) {
			b, err := spec()
			if err != nil {
				return httpapi.Response{}, err
			}
			return httpapi.JSON(http.StatusOK, b)
		}},
	}
}

// stringKeys turns YAML mappings with non-string keys (an unquoted 200: response code) into
// JSON objects.
func stringKeys(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = stringKeys(e)
		}
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = stringKeys(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = stringKeys(e)
		}
	}
	return v
}
