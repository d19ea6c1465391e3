// Package gdpr holds the files that are both documentation and configuration, embedded so
// every binary reads the same copy: the SAM template (routes, table, schedules) and the
// OpenAPI description served at /v1/openapi.json.
package gdpr

import _ "embed"

//go:embed template.yaml
var Template []byte

//go:embed openapi.yaml
var OpenAPI []byte
