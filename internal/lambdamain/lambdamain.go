// Package lambdamain is the whole of a Lambda function's main: one call per kind of trigger
// (HTTP, Stream, Schedule), naming the function's handler builder and the AWS adapters it
// needs, e.g.
//
//	func main() { lambdamain.HTTP(consentapi.New, dynamo.FromEnv(), secretsmanager.FromEnv()) }
//
// At start it checks the adapters' settings (a missing one stops the function, naming it,
// before any event) and does nothing else. The first invocation loads the SDK's
// configuration, builds the adapters — reading the master secret from Secrets Manager is a
// call to AWS — and the handler, which then serve the instance for its life; a first
// invocation whose build fails reports the error and the next one builds again.
package lambdamain

import (
	"context"
	"encoding/json"
	"os"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/example/gdpr/internal/awsports"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/ports"
)

// HTTPHandler is a function behind the HTTP API (payload format 2.0).
type HTTPHandler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// StreamHandler is a function fed by a DynamoDB stream: it answers with the records to retry
// (FunctionResponseTypes: [ReportBatchItemFailures]), and an error fails the whole batch.
type StreamHandler = func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// ScheduleHandler is a scheduled job: it gets its schedule's Input and reports what it did.
type ScheduleHandler = func(context.Context, json.RawMessage) (json.RawMessage, error)

// HTTP runs an HTTP API function; it does not return.
func HTTP(build func(*ports.Ports) (*httpapi.API, error), adapters ...awsports.Adapter) {
	start(func(p *ports.Ports) (HTTPHandler, error) {
		api, err := build(p)
		if err != nil {
			return nil, err
		}
		return api.Handle, nil
	}, adapters)
}

// Stream runs a DynamoDB stream function; it does not return.
func Stream(build func(*ports.Ports) (StreamHandler, error), adapters ...awsports.Adapter) {
	start(build, adapters)
}

// Schedule runs a scheduled job; it does not return.
func Schedule(build func(*ports.Ports) (ScheduleHandler, error), adapters ...awsports.Adapter) {
	start(build, adapters)
}

func start[E, R any](build func(*ports.Ports) (func(context.Context, E) (R, error), error), adapters []awsports.Adapter) {
	log := ports.Logger(os.Getenv)
	home, err := awsports.Open(os.Getenv, adapters...)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(onFirstCall(func(ctx context.Context) (func(context.Context, E) (R, error), error) {
		p, err := home.Ports(ctx, clock.System{}, log)
		if err != nil {
			return nil, err
		}
		return build(p)
	}, func(err error) { log.Error("build", "error", err.Error()) }))
}

// onFirstCall returns a handler that builds the real one with build on its first call and
// hands every call to it. A build that fails is reported to failed and returned as the
// call's error; the next call builds again.
func onFirstCall[E, R any](build func(context.Context) (func(context.Context, E) (R, error), error), failed func(error)) func(context.Context, E) (R, error) {
	var (
		mu sync.Mutex
		h  func(context.Context, E) (R, error)
	)
	return func(ctx context.Context, ev E) (R, error) {
		mu.Lock()
		if h == nil {
			built, err := build(ctx)
			if err != nil {
				mu.Unlock()
				failed(err)
				var zero R
				return zero, err
			}
			h = built
		}
		mu.Unlock()
		return h(ctx, ev)
	}
}
