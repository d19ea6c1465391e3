// Command consent is ConsentFunction: the consent ledger and state, and the subject's
// profile and devices (/v1/consents*, /v1/subjects*).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/handlers/consentapi"
	"github.com/example/gdpr/internal/ports"
)

func main() {
	log := ports.Logger(os.Getenv)
	p, err := ports.AWS(context.Background(), os.Getenv, clock.System{}, log)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	api, err := consentapi.New(p)
	if err != nil {
		log.Error("build", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(api.Handle)
}
