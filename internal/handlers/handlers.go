// Package handlers builds each Lambda function's handler from the ports. functions/*/main.go
// start one of them under the Lambda runtime; gdprd starts them all behind one listener.
package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"

	"github.com/aws/aws-lambda-go/events"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/authorizer"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/tenant"
)

// HTTPHandler is the handler of a function behind the HTTP API.
type HTTPHandler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// AuthorizerHandler is the HTTP API's Lambda authorizer.
type AuthorizerHandler func(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error)

// StreamHandler consumes DynamoDB stream batches and reports the records to retry.
type StreamHandler func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// ScheduleHandler runs a scheduled job with the Input of its schedule and reports what it did.
type ScheduleHandler func(context.Context, json.RawMessage) (json.RawMessage, error)

// Set is every function of the service, by the logical id template.yaml gives it.
type Set struct {
	Authorizer AuthorizerHandler
	HTTP       map[string]HTTPHandler
	Stream     map[string]StreamHandler
	Schedule   map[string]ScheduleHandler
	// Routes lists the route keys each HTTP function serves, for the checks against template.yaml.
	Routes map[string][]string
}

// All builds every function on p.
func All(p *ports.Ports) (*Set, error) {
	s := &Set{
		Authorizer: Authorizer(p),
		HTTP:       map[string]HTTPHandler{},
		Stream:     map[string]StreamHandler{},
		Schedule:   map[string]ScheduleHandler{},
		Routes:     map[string][]string{},
	}
	meta, err := Meta(p)
	if err != nil {
		return nil, err
	}
	s.HTTP["MetaFunction"], s.Routes["MetaFunction"] = meta.Handle, meta.RouteKeys()
	consent, err := Consent(p)
	if err != nil {
		return nil, err
	}
	s.HTTP["ConsentFunction"], s.Routes["ConsentFunction"] = consent.Handle, consent.RouteKeys()
	requests, err := Requests(p)
	if err != nil {
		return nil, err
	}
	s.HTTP["RequestsFunction"], s.Routes["RequestsFunction"] = requests.Handle, requests.RouteKeys()
	s.Schedule["RetentionFunction"] = Retention(p)
	return s, nil
}

// Authorizer builds AuthorizerFunction.
func Authorizer(p *ports.Ports) AuthorizerHandler {
	return authorizer.Handler{Keys: tenant.Store{Table: p.Table, Clock: p.Clock}, Log: p.Log}.Handle
}

// Meta builds MetaFunction: health and the OpenAPI description.
func Meta(p *ports.Ports) (*httpapi.API, error) {
	routes, err := httpapi.MetaRoutes(Version(), gdpr.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("handlers: meta: %w", err)
	}
	return api(p, routes...), nil
}

func api(p *ports.Ports, routes ...httpapi.Route) *httpapi.API {
	return httpapi.New(httpapi.Config{
		Table:   p.Table,
		Tenants: tenant.Store{Table: p.Table, Clock: p.Clock},
		Secrets: p.Secrets,
		Clock:   p.Clock,
		Log:     p.Log,
	}, routes...)
}

// Version is the build's VCS revision (short), or "dev".
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return "dev"
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
