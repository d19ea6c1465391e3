// Package handlers gathers every Lambda function of the service by its template.yaml logical
// id, for gdprd and gdprctl, which run them all. Each function lives in a package of its own
// (consentapi, requestsapi, metaapi, retentionjob, internal/authorizer) so that its Lambda
// binary links only its own code.
package handlers

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/authorizer"
	"github.com/example/gdpr/internal/handlers/consentapi"
	"github.com/example/gdpr/internal/handlers/metaapi"
	"github.com/example/gdpr/internal/handlers/notifyfn"
	"github.com/example/gdpr/internal/handlers/requestsapi"
	"github.com/example/gdpr/internal/handlers/retentionjob"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/ports"
)

// HTTPHandler is the handler of a function behind the HTTP API.
type HTTPHandler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// AuthorizerHandler is the HTTP API's Lambda authorizer.
type AuthorizerHandler func(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error)

// StreamHandler consumes DynamoDB stream batches and reports the records to retry.
type StreamHandler func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// ScheduleHandler runs a scheduled job with the Input of its schedule and reports what it did.
type ScheduleHandler func(context.Context, json.RawMessage) (json.RawMessage, error)

// MixedHandler is the handler of a function with triggers of several kinds: any event in,
// its answer out.
type MixedHandler func(context.Context, json.RawMessage) (json.RawMessage, error)

// Set is every function of the service, by the logical id template.yaml gives it.
type Set struct {
	Authorizer AuthorizerHandler
	HTTP       map[string]HTTPHandler
	Stream     map[string]StreamHandler
	Schedule   map[string]ScheduleHandler
	// Mixed holds the functions with triggers of several kinds (NotifyFunction: routes, a
	// stream and a schedule). Their one handler tells the events apart, as in Lambda.
	Mixed map[string]MixedHandler
	// Routes lists the route keys each HTTP function serves, for the checks against template.yaml.
	Routes map[string][]string
}

// All builds every function on p.
func All(p *ports.Ports) (*Set, error) {
	s := &Set{
		Authorizer: authorizer.New(p).Handle,
		HTTP:       map[string]HTTPHandler{},
		Stream:     map[string]StreamHandler{},
		Schedule:   map[string]ScheduleHandler{},
		Mixed:      map[string]MixedHandler{},
		Routes:     map[string][]string{},
	}
	for _, fn := range []struct {
		name  string
		build func(*ports.Ports) (*httpapi.API, error)
	}{
		{"MetaFunction", metaapi.New},
		{"ConsentFunction", consentapi.New},
		{"RequestsFunction", requestsapi.New},
	} {
		a, err := fn.build(p)
		if err != nil {
			return nil, fmt.Errorf("handlers: %s: %w", fn.name, err)
		}
		s.HTTP[fn.name], s.Routes[fn.name] = a.Handle, a.RouteKeys()
	}
	s.Schedule["RetentionFunction"] = retentionjob.New(p)
	notify, err := notifyfn.New(p)
	if err != nil {
		return nil, fmt.Errorf("handlers: NotifyFunction: %w", err)
	}
	s.Mixed["NotifyFunction"], s.Routes["NotifyFunction"] = notify.Handle, notify.API.RouteKeys()
	return s, nil
}
