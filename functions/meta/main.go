// Command meta is MetaFunction: GET /v1/health and GET /v1/openapi.json.
package main

import (
	"github.com/example/gdpr/internal/handlers/metaapi"
	"github.com/example/gdpr/internal/lambdamain"
)

func main() { lambdamain.RunAPI(metaapi.New) }
