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
		{Method: "POST", Path: "/v1/consents", Function: "ConsentFunction", Auth: true},
		{Method: "GET", Path: "/v1/consents/{subject_id}", Function: "ConsentFunction", Auth: true},
		{Method: "GET", Path: "/v1/consents/{subject_id}/history", Function: "ConsentFunction", Auth: true},
		{Method: "POST", Path: "/v1/consents/{subject_id}/withdraw", Function: "ConsentFunction", Auth: true},
		{Method: "PUT", Path: "/v1/subjects/{subject_id}/profile", Function: "ConsentFunction", Auth: true},
		{Method: "GET", Path: "/v1/subjects/{subject_id}/profile", Function: "ConsentFunction", Auth: true},
		{Method: "POST", Path: "/v1/subjects/{subject_id}/devices", Function: "ConsentFunction", Auth: true},
		{Method: "POST", Path: "/v1/requests", Function: "RequestsFunction", Auth: true},
		{Method: "GET", Path: "/v1/requests", Function: "RequestsFunction", Auth: true},
		{Method: "GET", Path: "/v1/requests/{id}", Function: "RequestsFunction", Auth: true},
		{Method: "POST", Path: "/v1/requests/{id}/extend", Function: "RequestsFunction", Auth: true},
		{Method: "POST", Path: "/v1/requests/{id}/reject", Function: "RequestsFunction", Auth: true},
		{Method: "POST", Path: "/v1/requests/{id}/retry", Function: "RequestsFunction", Auth: true},
		{Method: "GET", Path: "/v1/audit", Function: "RequestsFunction", Auth: true},
		{Method: "GET", Path: "/v1/audit/verify", Function: "RequestsFunction", Auth: true},
		{Method: "POST", Path: "/v1/public/{tenant}/requests", Function: "RequestsFunction"},
		{Method: "POST", Path: "/v1/public/{tenant}/requests/{id}/verify", Function: "RequestsFunction"},
		{Method: "GET", Path: "/v1/public/{tenant}/requests/{id}", Function: "RequestsFunction"},
		{Method: "POST", Path: "/v1/policies", Function: "NotifyFunction", Auth: true},
		{Method: "GET", Path: "/v1/policies", Function: "NotifyFunction", Auth: true},
		{Method: "GET", Path: "/v1/policies/{version}", Function: "NotifyFunction", Auth: true},
		{Method: "GET", Path: "/v1/policies/{version}/notifications", Function: "NotifyFunction", Auth: true},
		{Method: "GET", Path: "/v1/public/{tenant}/policy", Function: "NotifyFunction"},
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
    Properties:
      Auth:
        DefaultAuthorizer: Keys
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /x}}
        Rest: {Type: HttpApi, Properties: {ApiId: !Ref Api}}
`))
		r, ok := tpl.DefaultRoute()
		if got, want := r, (samtemplate.Route{Method: "ANY", Path: "$default", Function: "AFunction", Auth: true}); !ok || got != want {
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
		for _, env := range []string{"TABLE_NAME", "BUCKET_NAME", "SENDER_EMAIL", "GDPR_SECRET", "LOG_LEVEL"} {
			if !slices.Contains(fn.Env, env) {
				t.Errorf("%s: no %s in %v", fn.LogicalID, env, fn.Env)
			}
		}
		if fn.Timeout <= 0 || fn.Timeout > 15*time.Minute {
			t.Errorf("%s: timeout %v", fn.LogicalID, fn.Timeout)
		}
	}
	want := []string{"AuthorizerFunction", "ConsentFunction", "MetaFunction", "NotifyFunction", "RequestsFunction", "RetentionFunction"}
	if !slices.Equal(ids, want) {
		t.Fatalf("functions %v, want %v", ids, want)
	}
	if got, want := fns[5].Timeout, 300*time.Second; got != want {
		t.Errorf("RetentionFunction timeout %v, want %v (its own, over Globals)", got, want)
	}
	if got, want := fns[2].Timeout, 5*time.Second; got != want {
		t.Errorf("MetaFunction timeout %v, want %v", got, want)
	}
}

func TestSchedules(t *testing.T) {
	ss := mustParse(t, gdpr.Template).Schedules()
	if len(ss) != 2 {
		t.Fatalf("schedules %+v, want two", ss)
	}
	for i, want := range []struct{ fn, name, expr, job string }{
		{"NotifyFunction", "Notifications", "rate(5 minutes)", "notifications"},
		{"RetentionFunction", "Retention", "rate(1 hour)", "retention"},
	} {
		s := ss[i]
		if s.Function != want.fn || s.Name != want.name || s.Expression != want.expr || !s.Enabled {
			t.Fatalf("schedule %+v", s)
		}
		// The local server finds the schedule for POST /_local/jobs/{name} by this field.
		var in struct {
			Job string `json:"job"`
		}
		if err := json.Unmarshal(s.Input, &in); err != nil || in.Job != want.job {
			t.Fatalf("input %s: job %q, %v", s.Input, in.Job, err)
		}
	}
}

func TestStreamTriggers(t *testing.T) {
	t.Run("Template", func(t *testing.T) {
		for _, s := range mustParse(t, gdpr.Template).StreamTriggers() {
			if s.Table != "Table" {
				t.Errorf("%s.%s reads the stream of %s", s.Function, s.Name, s.Table)
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
			!ex.BisectOnError || !ex.ReportItemFailures || len(ex.FilterPatterns) != 2 {
			t.Fatalf("export trigger %+v", ex)
		}
		if nt.Table != "Table" || nt.BatchSize != 100 || nt.MaxRetries != -1 || nt.ReportItemFailures || nt.FilterPatterns != nil {
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

func TestRouteAuthorizer(t *testing.T) {
	tpl := mustParse(t, []byte(`
Resources:
  Open:
    Type: AWS::Serverless::HttpApi
  Guarded:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Keys
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        OnOpen: {Type: HttpApi, Properties: {ApiId: !Ref Open, Method: GET, Path: /open}}
        Default: {Type: HttpApi, Properties: {ApiId: {Ref: Guarded}, Method: GET, Path: /default}}
        OptOut: {Type: HttpApi, Properties: {ApiId: !Ref Guarded, Method: GET, Path: /none, Auth: {Authorizer: NONE}}}
        Named: {Type: HttpApi, Properties: {ApiId: !Ref Open, Method: GET, Path: /named, Auth: {Authorizer: Keys}}}
`))
	want := map[string]bool{"GET /open": false, "GET /default": true, "GET /none": false, "GET /named": true}
	for _, r := range tpl.Routes() {
		if got := r.Auth; got != want[r.Key()] {
			t.Errorf("%s: Auth %v, want %v", r.Key(), got, want[r.Key()])
		}
		delete(want, r.Key())
	}
	if len(want) != 0 {
		t.Fatalf("routes missing: %v", want)
	}
}
