// Command meta is MetaFunction: GET /v1/health and GET /v1/openapi.json.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/handlers/metaapi"
	"github.com/example/gdpr/internal/ports"
)

func main() {
	log := ports.Logger(os.Getenv)
	p, err := ports.AWS(context.Background(), os.Getenv, clock.System{}, log)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	api, err := metaapi.New(p)
	if err != nil {
		log.Error("build", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(api.Handle)
}
