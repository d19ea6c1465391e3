// Command requests is RequestsFunction: data subject requests, their verification and status,
// the operator's actions and the audit log (/v1/requests*, /v1/public/*, /v1/audit*).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/handlers/requestsapi"
	"github.com/example/gdpr/internal/ports"
)

func main() {
	log := ports.Logger(os.Getenv)
	p, err := ports.AWS(context.Background(), os.Getenv, clock.System{}, log)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	api, err := requestsapi.New(p)
	if err != nil {
		log.Error("build", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(api.Handle)
}
