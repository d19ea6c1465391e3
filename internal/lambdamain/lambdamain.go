// Package lambdamain is the whole of a Lambda function's main: build the AWS ports from the
// environment, build the function's handler on them, and hand it to the Lambda runtime. A
// missing setting stops the function at start, loudly, before any event.
package lambdamain

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/ports"
)

// Run starts the handler that build returns; it does not return.
func Run(build func(*ports.Ports) (any, error)) {
	log := ports.Logger(os.Getenv)
	p, err := ports.AWS(context.Background(), os.Getenv, clock.System{}, log)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	h, err := build(p)
	if err != nil {
		log.Error("build", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h)
}

// RunAPI starts an HTTP API function; it does not return.
func RunAPI(build func(*ports.Ports) (*httpapi.API, error)) {
	Run(func(p *ports.Ports) (any, error) {
		api, err := build(p)
		if err != nil {
			return nil, err
		}
		return api.Handle, nil
	})
}
