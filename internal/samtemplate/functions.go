package samtemplate

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Function is one AWS::Serverless::Function.
type Function struct {
	LogicalID string
	// Folder is the package that holds its main, relative to the repository root, e.g.
	// "functions/meta": the Makefile builds functions/<logical id without "Function", in
	// lower case> for the target build-<LogicalID>, and this is the same rule.
	Folder string
	// Env holds the names of its environment variables (Globals merged in), sorted.
	Env []string
	// Timeout is how long one invocation may run (Globals merged in; Lambda's 3 s default).
	Timeout time.Duration
}

// DefaultRouteKey is the route key, and the Path in the template, of an HTTP API's default
// route: the one API Gateway sends every request to that no other route matches.
const DefaultRouteKey = "$default"

// Route is one HttpApi event: a method and path that API Gateway sends to a function.
type Route struct {
	// Method is upper case, e.g. "GET", or "ANY" (always, for the default route).
	Method string
	// Path is as written in the template, with {param} placeholders, e.g.
	// "/v1/consents/{subject_id}"; DefaultRouteKey for the default route.
	Path     string
	Function string
}

// IsDefault tells whether r is the default route, which matches no method and path of its
// own but catches what the others do not.
func (r Route) IsDefault() bool { return r.Path == DefaultRouteKey }

// Key is the route key API Gateway puts in an event's routeKey, e.g. "GET /v1/health", or
// "$default" for the default route.
func (r Route) Key() string {
	if r.IsDefault() {
		return DefaultRouteKey
	}
	return r.Method + " " + r.Path
}

// Schedule is one Schedule or ScheduleV2 event.
type Schedule struct {
	Function string
	// Name is the event's logical id under the function's Events.
	Name string
	// Expression is a rate(...) or cron(...) expression.
	Expression string
	// Input is the JSON the function receives instead of an EventBridge envelope; nil when
	// the template sets none.
	Input   json.RawMessage
	Enabled bool
}

// StreamTrigger is one DynamoDB event: a function fed from a table's stream.
type StreamTrigger struct {
	Function string
	// Name is the event's logical id under the function's Events.
	Name string
	// Table is the logical id of the table whose stream feeds the function.
	Table            string
	StartingPosition string
	// BatchSize is at most how many records one invocation gets (Lambda's default: 100).
	BatchSize int
	// FilterPatterns are the event filter patterns (JSON): a record reaches the function when
	// any of them matches; none means every record does.
	FilterPatterns []string
	// MaxRetries is how often a failed batch is retried; -1 means until the record expires.
	MaxRetries int
	// BisectOnError splits a failing batch in two before retrying.
	BisectOnError bool
	// ReportItemFailures is set when the function answers with the records that failed
	// (FunctionResponseTypes: [ReportBatchItemFailures]).
	ReportItemFailures bool
	// OnFailure is the logical id of the resource (an SQS queue) that gets what still fails
	// after MaxRetries (DestinationConfig.OnFailure.Destination); "" when there is none.
	OnFailure string
}

// Functions returns every function, sorted by logical id.
func (t *Template) Functions() []Function { return slices.Clone(t.functions) }

// Routes returns every HttpApi route of a method and path, sorted by path and method. The
// default route is not among them: it is no operation of the API (see DefaultRoute).
func (t *Template) Routes() []Route { return slices.Clone(t.routes) }

// DefaultRoute returns the default route ($default), if the template has one.
func (t *Template) DefaultRoute() (Route, bool) {
	if t.defaultRoute == nil {
		return Route{}, false
	}
	return *t.defaultRoute, true
}

// Schedules returns every schedule, sorted by function and name.
func (t *Template) Schedules() []Schedule { return slices.Clone(t.schedules) }

// StreamTriggers returns every DynamoDB stream trigger, sorted by function and name.
func (t *Template) StreamTriggers() []StreamTrigger { return slices.Clone(t.streams) }

// FunctionFolder is the naming rule that ties a logical id to its package and its Makefile
// target: "ConsentFunction" lives in functions/consent.
func FunctionFolder(logicalID string) string {
	return "functions/" + strings.ToLower(strings.TrimSuffix(logicalID, "Function"))
}

type functionProps struct {
	Timeout     int `yaml:"Timeout"`
	Environment struct {
		Variables map[string]yaml.Node `yaml:"Variables"`
	} `yaml:"Environment"`
	Events map[string]struct {
		Type       string    `yaml:"Type"`
		Properties yaml.Node `yaml:"Properties"`
	} `yaml:"Events"`
}

// lambdaDefaultTimeout is what Lambda uses when neither the function nor Globals set one.
const lambdaDefaultTimeout = 3 * time.Second

func (t *Template) readFunctions() error {
	var globals functionProps
	if err := decodeOptional(&t.Globals.Function, &globals); err != nil {
		return fmt.Errorf("Globals.Function: %w", err)
	}
	for id, r := range t.Resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		var p functionProps
		if err := decodeOptional(&r.Properties, &p); err != nil {
			return fmt.Errorf("function %s: %w", id, err)
		}
		fn := Function{LogicalID: id, Folder: FunctionFolder(id), Timeout: lambdaDefaultTimeout}
		for _, timeout := range []int{globals.Timeout, p.Timeout} {
			if timeout > 0 {
				fn.Timeout = time.Duration(timeout) * time.Second
			}
		}
		for _, vars := range []map[string]yaml.Node{globals.Environment.Variables, p.Environment.Variables} {
			for name := range vars {
				if !slices.Contains(fn.Env, name) {
					fn.Env = append(fn.Env, name)
				}
			}
		}
		slices.Sort(fn.Env)
		t.functions = append(t.functions, fn)
		for name, ev := range p.Events {
			var err error
			switch ev.Type {
			case "HttpApi":
				err = t.readRoute(id, &ev.Properties)
			case "Schedule", "ScheduleV2":
				err = t.readSchedule(id, name, ev.Type, &ev.Properties)
			case "DynamoDB":
				err = t.readStream(id, name, &ev.Properties)
			}
			if err != nil {
				return fmt.Errorf("function %s event %s: %w", id, name, err)
			}
		}
	}
	slices.SortFunc(t.functions, func(a, b Function) int { return strings.Compare(a.LogicalID, b.LogicalID) })
	slices.SortFunc(t.routes, func(a, b Route) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	slices.SortFunc(t.schedules, func(a, b Schedule) int {
		return strings.Compare(a.Function+"."+a.Name, b.Function+"."+b.Name)
	})
	slices.SortFunc(t.streams, func(a, b StreamTrigger) int {
		return strings.Compare(a.Function+"."+a.Name, b.Function+"."+b.Name)
	})
	return nil
}

func (t *Template) readRoute(fn string, props *yaml.Node) error {
	var p struct {
		Method string    `yaml:"Method"`
		Path   string    `yaml:"Path"`
		ApiID  yaml.Node `yaml:"ApiId"`
		Auth   struct {
			Authorizer string `yaml:"Authorizer"`
		} `yaml:"Auth"`
	}
	if err := decodeOptional(props, &p); err != nil {
		return err
	}
	if p.Method == "" && p.Path == "" {
		// SAM's own spelling of the default route.
		p.Method, p.Path = "ANY", DefaultRouteKey
	}
	if p.Method == "" || p.Path == "" {
		return fmt.Errorf("HttpApi event needs Method and Path")
	}
	r := Route{Method: strings.ToUpper(p.Method), Path: p.Path, Function: fn}
	if r.IsDefault() && r.Method != "ANY" {
		return fmt.Errorf("the %s route takes every method: Method must be ANY, not %s", DefaultRouteKey, r.Method)
	}
	// A Lambda authorizer would be a second invocation on every call, and gdprd runs none:
	// the functions check API keys themselves (DESIGN.md, Keys and secrets).
	if p.Auth.Authorizer != "" && p.Auth.Authorizer != "NONE" {
		return fmt.Errorf("route %s names the authorizer %s: the functions check keys themselves", r.Key(), p.Auth.Authorizer)
	}
	if api, ok := ref(&p.ApiID); ok {
		if err := t.checkNoAuthorizer(api); err != nil {
			return err
		}
	}
	if slices.ContainsFunc(t.routes, func(o Route) bool { return o.Key() == r.Key() }) ||
		(r.IsDefault() && t.defaultRoute != nil) {
		return fmt.Errorf("route %s is defined twice", r.Key())
	}
	if r.IsDefault() {
		t.defaultRoute = &r
		return nil
	}
	t.routes = append(t.routes, r)
	return nil
}

func (t *Template) checkNoAuthorizer(api string) error {
	r, ok := t.Resources[api]
	if !ok || r.Type != "AWS::Serverless::HttpApi" {
		return fmt.Errorf("ApiId names %s, which is no AWS::Serverless::HttpApi", api)
	}
	var p struct {
		Auth struct {
			DefaultAuthorizer string         `yaml:"DefaultAuthorizer"`
			Authorizers       map[string]any `yaml:"Authorizers"`
		} `yaml:"Auth"`
	}
	if err := decodeOptional(&r.Properties, &p); err != nil {
		return fmt.Errorf("api %s: %w", api, err)
	}
	if p.Auth.DefaultAuthorizer != "" || len(p.Auth.Authorizers) > 0 {
		return fmt.Errorf("api %s has authorizers: the functions check keys themselves, in one invocation per call", api)
	}
	return nil
}

func (t *Template) readSchedule(fn, name, typ string, props *yaml.Node) error {
	var p struct {
		Schedule           string `yaml:"Schedule"`
		ScheduleExpression string `yaml:"ScheduleExpression"`
		Input              string `yaml:"Input"`
		Enabled            *bool  `yaml:"Enabled"`
		State              string `yaml:"State"`
	}
	if err := decodeOptional(props, &p); err != nil {
		return err
	}
	s := Schedule{Function: fn, Name: name, Expression: p.Schedule, Enabled: p.State != "DISABLED"}
	if typ == "ScheduleV2" {
		s.Expression = p.ScheduleExpression
	}
	if p.Enabled != nil && !*p.Enabled {
		s.Enabled = false
	}
	if s.Expression == "" {
		return fmt.Errorf("%s event has no expression", typ)
	}
	if p.Input != "" {
		if !json.Valid([]byte(p.Input)) {
			return fmt.Errorf("schedule Input is not JSON")
		}
		s.Input = json.RawMessage(p.Input)
	}
	t.schedules = append(t.schedules, s)
	return nil
}

func (t *Template) readStream(fn, name string, props *yaml.Node) error {
	var p struct {
		Stream                     yaml.Node `yaml:"Stream"`
		StartingPosition           string    `yaml:"StartingPosition"`
		BatchSize                  int       `yaml:"BatchSize"`
		MaximumRetryAttempts       *int      `yaml:"MaximumRetryAttempts"`
		BisectBatchOnFunctionError bool      `yaml:"BisectBatchOnFunctionError"`
		FunctionResponseTypes      []string  `yaml:"FunctionResponseTypes"`
		FilterCriteria             struct {
			Filters []struct {
				Pattern string `yaml:"Pattern"`
			} `yaml:"Filters"`
		} `yaml:"FilterCriteria"`
		DestinationConfig struct {
			OnFailure struct {
				Destination yaml.Node `yaml:"Destination"`
			} `yaml:"OnFailure"`
		} `yaml:"DestinationConfig"`
	}
	if err := decodeOptional(props, &p); err != nil {
		return err
	}
	table, attr, ok := getAtt(&p.Stream)
	if !ok || attr != "StreamArn" {
		return fmt.Errorf("DynamoDB event's Stream is not a table's !GetAtt ...StreamArn")
	}
	s := StreamTrigger{
		Function:           fn,
		Name:               name,
		Table:              table,
		StartingPosition:   p.StartingPosition,
		BatchSize:          p.BatchSize,
		MaxRetries:         -1,
		BisectOnError:      p.BisectBatchOnFunctionError,
		ReportItemFailures: slices.Contains(p.FunctionResponseTypes, "ReportBatchItemFailures"),
	}
	if s.BatchSize == 0 {
		s.BatchSize = 100
	}
	if d := &p.DestinationConfig.OnFailure.Destination; d.Kind != 0 {
		queue, attr, ok := getAtt(d)
		if !ok || attr != "Arn" {
			return fmt.Errorf("DynamoDB event's OnFailure destination is not a queue's !GetAtt ...Arn")
		}
		s.OnFailure = queue
	}
	if p.MaximumRetryAttempts != nil {
		s.MaxRetries = *p.MaximumRetryAttempts
	}
	for _, f := range p.FilterCriteria.Filters {
		if !json.Valid([]byte(f.Pattern)) {
			return fmt.Errorf("filter pattern is not JSON")
		}
		s.FilterPatterns = append(s.FilterPatterns, f.Pattern)
	}
	t.streams = append(t.streams, s)
	return nil
}

// decodeOptional decodes n into v, leaving v as it is when n is absent.
func decodeOptional(n *yaml.Node, v any) error {
	if n.Kind == 0 {
		return nil
	}
	return n.Decode(v)
}

// ref reads `!Ref Name` or `{Ref: Name}`.
func ref(n *yaml.Node) (string, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!Ref" {
		return n.Value, true
	}
	if v := mapValue(n, "Ref"); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value, true
	}
	return "", false
}

// getAtt reads `!GetAtt Res.Attr`, `!GetAtt [Res, Attr]` and the long forms of both.
func getAtt(n *yaml.Node) (resource, attr string, ok bool) {
	arg := n
	if n.Tag != "!GetAtt" {
		if arg = mapValue(n, "Fn::GetAtt"); arg == nil {
			return "", "", false
		}
	}
	switch arg.Kind {
	case yaml.ScalarNode:
		resource, attr, ok = strings.Cut(arg.Value, ".")
		return resource, attr, ok
	case yaml.SequenceNode:
		if len(arg.Content) == 2 && arg.Content[0].Kind == yaml.ScalarNode && arg.Content[1].Kind == yaml.ScalarNode {
			return arg.Content[0].Value, arg.Content[1].Value, true
		}
	}
	return "", "", false
}

// mapValue returns the value of key in a one-key mapping node, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 || n.Content[0].Value != key {
		return nil
	}
	return n.Content[1]
}
