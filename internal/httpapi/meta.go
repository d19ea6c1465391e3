package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"go.yaml.in/yaml/v3"
)

// MetaRoutes serves GET /v1/health and GET /v1/openapi.json. The OpenAPI description is
// converted from YAML once, on its first request: not at the function's start, which the
// health check (the first call of most instances) would pay for nothing.
func MetaRoutes(version string, openapiYAML []byte) []Route {
	spec := sync.OnceValues(func() (json.RawMessage, error) {
		var doc any
		if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
			return nil, fmt.Errorf("httpapi: openapi.yaml: %w", err)
		}
		b, err := json.Marshal(stringKeys(doc))
		if err != nil {
			return nil, fmt.Errorf("httpapi: openapi.yaml as JSON: %w", err)
		}
		return b, nil
	})
	health := map[string]string{"status": "ok", "version": version}
	return []Route{
		{Key: "GET /v1/health", Access: Public, Handle: func(context.Context, *Request) (Response, error) {
			return JSON(http.StatusOK, health)
		}},
		{Key: "GET /v1/openapi.json", Access: Public, Handle: func(context.Context, *Request) (Response, error) {
			b, err := spec()
			if err != nil {
				return Response{}, err
			}
			return JSON(http.StatusOK, b)
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
