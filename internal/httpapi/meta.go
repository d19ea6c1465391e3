package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"go.yaml.in/yaml/v3"
)

// MetaRoutes serves GET /v1/health and GET /v1/openapi.json. The OpenAPI description is
// converted from YAML once, when the routes are built, not per request.
func MetaRoutes(version string, openapiYAML []byte) ([]Route, error) {
	var doc any
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		return nil, fmt.Errorf("httpapi: openapi.yaml: %w", err)
	}
	spec, err := json.Marshal(stringKeys(doc))
	if err != nil {
		return nil, fmt.Errorf("httpapi: openapi.yaml as JSON: %w", err)
	}
	health := map[string]string{"status": "ok", "version": version}
	return []Route{
		{Key: "GET /v1/health", Access: Public, Handle: func(context.Context, *Request) (Response, error) {
			return JSON(http.StatusOK, health)
		}},
		{Key: "GET /v1/openapi.json", Access: Public, Handle: func(context.Context, *Request) (Response, error) {
			return JSON(http.StatusOK, json.RawMessage(spec))
		}},
	}, nil
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
