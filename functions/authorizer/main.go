// Command authorizer is AuthorizerFunction: the HTTP API's Lambda authorizer, which turns an
// API key into the caller's tenant and role.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/example/gdpr/internal/authorizer"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/ports"
)

func main() {
	log := ports.Logger(os.Getenv)
	p, err := ports.AWS(context.Background(), os.Getenv, clock.System{}, log)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(authorizer.New(p).Handle)
}
