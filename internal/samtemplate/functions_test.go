package samtemplate_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/samtemplate"
)

func mustParse(tb testing.TB, src []byte) *samtemplate.Template {
	tb.Helper()
	tpl, err := samtemplate.Parse(src)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return tpl
}

func TestRoutes(t *testing.T) {
	routes := mustParse(t, gdpr.Template).Routes()
	want := map[string]samtemplate.Route{}
	for _, r := range []samtemplate.Route{
		{Method: "GET", Path: "/v1/health", Function: "MetaFunction"},
		{Method: "GET", Path: "/v1/openapi.json", Function: "MetaFunction"},
		{Method: "GET", Path: "/privacy/{tenant}", Function: "MetaFunction"},
		{Method: "GET", Path: "/console", Function: "MetaFunction"},
		{Method: "GET", Path: "/assets/{file}", Function: "MetaFunction"},
		{Method: "POST", Path: "/v1/consents", Function: "ConsentFunction"},
		{Method: "GET", Path: "/v1/consents/{subject_id}", Function: "ConsentFunction"},
		{Method: "GET", Path: "/v1/consents/{subject_id}/history", Function: "ConsentFunction"},
		{Method: "POST", Path: "/v1/consents/{subject_id}/withdraw", Function: "ConsentFunction"},
		{Method: "PUT", Path: "/v1/subjects/{subject_id}/profile", Function: "ConsentFunction"},
		{Method: "GET", Path: "/v1/subjects/{subject_id}/profile", Function: "ConsentFunction"},
		{Method: "POST", Path: "/v1/subjects/{subject_id}/devices", Function: "ConsentFunction"},
		{Method: "POST", Path: "/v1/requests", Function: "RequestsFunction"},
		{Method: "GET", Path: "/v1/requests", Function: "RequestsFunction"},
		{Method: "GET", Path: "/v1/requests/{id}", Function: "RequestsFunction"},
		{Method: "POST", Path: "/v1/requests/{id}/extend", Function: "RequestsFunction"},
		{Method: "POST", Path: "/v1/requests/{id}/reject", Function: "RequestsFunction"},
		{Method: "POST", Path: "/v1/requests/{id}/retry", Function: "RequestsFunction"},
		{Method: "POST", Path: "/v1/requests/{id}/approve", Function: "RequestsFunction"},
		{Method: "GET", Path: "/v1/audit", Function: "RequestsFunction"},
		{Method: "GET", Path: "/v1/audit/verify", Function: "RequestsFunction"},
		{Method: "GET", Path: "/v1/tenant", Function: "RequestsFunction"},
		{Method: "PATCH", Path: "/v1/tenant", Function: "RequestsFunction"},
		{Method: "POST", Path: "/v1/systems", Function: "RequestsFunction"},
		{Method: "GET", Path: "/v1/systems", Function: "RequestsFunction"},
		{Method: "DELETE", Path: "/v1/systems/{id}", Function: "RequestsFunction"},
		{Method: "POST", Path: "/v1/systems/{id}/rotate-secret", Function: "RequestsFunction"},
		{Method: "POST", Path: "/v1/public/{tenant}/requests", Function: "RequestsFunction"},
		{Method: "POST", Path: "/v1/public/{tenant}/requests/{id}/verify", Function: "RequestsFunction"},
		{Method: "GET", Path: "/v1/public/{tenant}/requests/{id}", Function: "RequestsFunction"},
		{Method: "GET", Path: "/v1/public/{tenant}/requests/{id}/export", Function: "RequestsFunction"},
		{Method: "POST", Path: "/v1/policies", Function: "RequestsFunction"},
		{Method: "GET", Path: "/v1/policies", Function: "RequestsFunction"},
		{Method: "GET", Path: "/v1/policies/{version}", Function: "RequestsFunction"},
		{Method: "GET", Path: "/v1/policies/{version}/notifications", Function: "RequestsFunction"},
		{Method: "GET", Path: "/v1/public/{tenant}/policy", Function: "RequestsFunction"},
	} {
		want[r.Key()] = r
	}

	for _, r := range routes {
		w, ok := want[r.Key()]
		if !ok {
			t.Errorf("unexpected route %+v", r)
			continue
		}
		if r != w {
			t.Errorf("route %+v, want %+v", r, w)
		}
		delete(want, r.Key())
	}
	for key := range want {
		t.Errorf("no route %s", key)
	}
	if !slices.IsSortedFunc(routes, func(a, b samtemplate.Route) int {
		return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method)
	}) {
		t.Errorf("routes not sorted by path and method")
	}
}

func TestDefaultRoute(t *testing.T) {
	t.Run("Template", func(t *testing.T) {
		tpl := mustParse(t, gdpr.Template)
		r, ok := tpl.DefaultRoute()
		if !ok {
			t.Fatal("no $default route")
		}
		if got, want := r, (samtemplate.Route{Method: "ANY", Path: "$default", Function: "MetaFunction"}); got != want {
			t.Fatalf("default route %+v, want %+v", got, want)
		}
		if got, want := r.Key(), samtemplate.DefaultRouteKey; got != want || !r.IsDefault() {
			t.Fatalf("key %q (default %v), want %q", got, r.IsDefault(), want)
		}
		if slices.ContainsFunc(tpl.Routes(), samtemplate.Route.IsDefault) {
			t.Fatal("Routes lists the $default route")
		}
	})

	// SAM makes the default route of an HttpApi event with neither Method nor Path.
	t.Run("SAMShortForm", func(t *testing.T) {
		tpl := mustParse(t, []byte(`
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /x}}
        Rest: {Type: HttpApi, Properties: {ApiId: !Ref Api}}
`))
		r, ok := tpl.DefaultRoute()
		if got, want := r, (samtemplate.Route{Method: "ANY", Path: "$default", Function: "AFunction"}); !ok || got != want {
			t.Fatalf("default route %+v (%v), want %+v", got, ok, want)
		}
		if got := len(tpl.Routes()); got != 1 {
			t.Fatalf("%d routes, want 1", got)
		}
	})

	t.Run("None", func(t *testing.T) {
		tpl := mustParse(t, []byte(`
Resources:
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {Method: GET, Path: /x}}
`))
		if r, ok := tpl.DefaultRoute(); ok {
			t.Fatalf("default route %+v, want none", r)
		}
	})
}

func TestFunctions(t *testing.T) {
	fns := mustParse(t, gdpr.Template).Functions()
	var ids []string
	for _, fn := range fns {
		ids = append(ids, fn.LogicalID)
		if got, want := fn.Folder, "functions/"+strings.ToLower(strings.TrimSuffix(fn.LogicalID, "Function")); got != want {
			t.Errorf("%s: folder %s, want %s", fn.LogicalID, got, want)
		}
		if slices.Contains(fn.Env, "LOG_LEVEL") {
			t.Errorf("%s: LOG_LEVEL in %v: the level is LoggingConfig.ApplicationLogLevel", fn.LogicalID, fn.Env)
		}
		if fn.Timeout <= 0 || fn.Timeout > 15*time.Minute {
			t.Errorf("%s: timeout %v", fn.LogicalID, fn.Timeout)
		}
	}
	want := []string{"BouncesFunction", "ConsentFunction", "DeliveriesFunction", "ExportFunction", "MetaFunction", "NoticesFunction", "NotifyFunction", "RequestsFunction", "RetentionFunction", "RightsFunction"}
	if !slices.Equal(ids, want) {
		t.Fatalf("functions %v, want %v", ids, want)
	}
	if got, want := fns[8].Timeout, 300*time.Second; got != want {
		t.Errorf("RetentionFunction timeout %v, want %v (its own, over Globals)", got, want)
	}
	if got, want := fns[4].Timeout, 5*time.Second; got != want {
		t.Errorf("MetaFunction timeout %v, want %v", got, want)
	}
}

func TestSchedules(t *testing.T) {
	ss := mustParse(t, gdpr.Template).Schedules()
	want := map[string]samtemplate.Schedule{
		"RetentionFunction":  {Function: "RetentionFunction", Name: "Retention", Expression: "rate(1 hour)", Enabled: true},
		"DeliveriesFunction": {Function: "DeliveriesFunction", Name: "Deliveries", Expression: "rate(1 minute)", Enabled: true},
		"NoticesFunction":    {Function: "NoticesFunction", Name: "Notifications", Expression: "rate(5 minutes)", Enabled: true},
	}
	jobs := map[string]string{"RetentionFunction": "retention", "DeliveriesFunction": "deliveries", "NoticesFunction": "notifications"}
	if len(ss) != len(want) {
		t.Fatalf("schedules %+v, want %d", ss, len(want))
	}
	for _, s := range ss {
		w := want[s.Function]
		if s.Function != w.Function || s.Name != w.Name || s.Expression != w.Expression || !s.Enabled {
			t.Fatalf("schedule %+v", s)
		}
		// The local server finds the schedule for POST /_local/jobs/{name} by this field.
		var in struct {
			Job string `json:"job"`
		}
		if err := json.Unmarshal(s.Input, &in); err != nil || in.Job != jobs[s.Function] {
			t.Fatalf("input %s: job %q, %v", s.Input, in.Job, err)
		}
	}
}

func TestStreamTriggers(t *testing.T) {
	// Every stream trigger of the service is filtered, bounded in its retries, reports the
	// records that failed, and sends what still fails to an SQS queue.
	t.Run("Template", func(t *testing.T) {
		tpl := mustParse(t, gdpr.Template)
		for _, s := range tpl.StreamTriggers() {
			id := s.Function + "." + s.Name
			if s.Table != "Table" {
				t.Errorf("%s reads the stream of %s", id, s.Table)
			}
			if len(s.FilterPatterns) == 0 || s.MaxRetries < 0 || !s.ReportItemFailures {
				t.Errorf("%s: filters %v, MaximumRetryAttempts %d, ReportBatchItemFailures %v: want all three",
					id, s.FilterPatterns, s.MaxRetries, s.ReportItemFailures)
			}
			if q, ok := tpl.Resources[s.OnFailure]; !ok || q.Type != "AWS::SQS::Queue" {
				t.Errorf("%s: on-failure destination %q is not an SQS queue of the template", id, s.OnFailure)
			}
		}
	})

	t.Run("ShortAndLongForms", func(t *testing.T) {
		tpl := mustParse(t, []byte(`
Resources:
  Table:
    Type: AWS::DynamoDB::Table
  ExportFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Verified:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
            MaximumRetryAttempts: 5
            BisectBatchOnFunctionError: true
            FunctionResponseTypes: [ReportBatchItemFailures]
            FilterCriteria:
              Filters:
                - Pattern: '{"dynamodb":{"NewImage":{"status":{"S":["verified"]}}}}'
                - Pattern: '{"eventName":["REMOVE"]}'
            DestinationConfig:
              OnFailure:
                Type: SQS
                Destination: !GetAtt Failures.Arn
  NotifyFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Published:
          Type: DynamoDB
          Properties:
            Stream:
              Fn::GetAtt: [Table, StreamArn]
            StartingPosition: LATEST
`))
		ss := tpl.StreamTriggers()
		if len(ss) != 2 {
			t.Fatalf("triggers %+v, want two", ss)
		}
		ex, nt := ss[0], ss[1]
		if ex.Function != "ExportFunction" || ex.Name != "Verified" || ex.Table != "Table" ||
			ex.StartingPosition != "TRIM_HORIZON" || ex.BatchSize != 10 || ex.MaxRetries != 5 ||
			!ex.BisectOnError || !ex.ReportItemFailures || len(ex.FilterPatterns) != 2 || ex.OnFailure != "Failures" {
			t.Fatalf("export trigger %+v", ex)
		}
		if nt.Table != "Table" || nt.BatchSize != 100 || nt.MaxRetries != -1 || nt.ReportItemFailures || nt.FilterPatterns != nil || nt.OnFailure != "" {
			t.Fatalf("notify trigger %+v: want Lambda's defaults", nt)
		}
	})
}

func TestParseErrors(t *testing.T) {
	for name, src := range map[string]string{
		"RouteWithoutPath": `
Resources:
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E:
          Type: HttpApi
          Properties: {Method: GET}`,
		"RouteTwice": `
Resources:
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E1: {Type: HttpApi, Properties: {Method: GET, Path: /x}}
        E2: {Type: HttpApi, Properties: {Method: get, Path: /x}}`,
		"DefaultRouteOfOneMethod": `
Resources:
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E: {Type: HttpApi, Properties: {Method: GET, Path: $default}}`,
		"DefaultRouteTwice": `
Resources:
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E1: {Type: HttpApi, Properties: {Method: ANY, Path: $default}}
        E2: {Type: HttpApi, Properties: {}}`,
		"ApiIdNotAnApi": `
Resources:
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E: {Type: HttpApi, Properties: {Method: GET, Path: /x, ApiId: !Ref Nothing}}`,
		"ScheduleInputNotJSON": `
Resources:
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E: {Type: Schedule, Properties: {Schedule: rate(1 hour), Input: '{job'}}`,
		"StreamNotAStream": `
Resources:
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E: {Type: DynamoDB, Properties: {Stream: !GetAtt Table.Arn}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := samtemplate.Parse([]byte(src)); err == nil {
				t.Fatal("Parse accepted it")
			}
		})
	}
}

// TestNoAuthorizer: a template that puts a Lambda authorizer before a route is refused, for
// gdprd would not run it and every call would cost two invocations in AWS.
func TestNoAuthorizer(t *testing.T) {
	for name, src := range map[string]string{
		"DefaultAuthorizer": `
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Keys
        Authorizers: {Keys: {FunctionArn: !GetAtt AFunction.Arn}}
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /x}}
`,
		"RouteAuthorizer": `
Resources:
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {Method: GET, Path: /x, Auth: {Authorizer: Keys}}}
`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := samtemplate.Parse([]byte(src)); err == nil || !strings.Contains(err.Error(), "check keys themselves") {
				t.Fatalf("Parse: %v, want the authorizer refused", err)
			}
		})
	}
}
