// Command meta is MetaFunction: GET /v1/health, GET /v1/openapi.json, the privacy center and
// the operator console (static pages), and the 404 of every request no route matches.
// It needs no table, no secret, no AWS at all.
package main

import (
	"github.com/example/gdpr/internal/handlers/metaapi"
	"github.com/example/gdpr/internal/lambdamain"
)

func main() { lambdamain.HTTP(metaapi.New) }
