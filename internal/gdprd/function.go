package gdprd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/example/gdpr/internal/handlers"
	"github.com/example/gdpr/internal/samtemplate"
)

// AuthorizerFunction is the logical id of the HTTP API's Lambda authorizer in template.yaml.
const AuthorizerFunction = "AuthorizerFunction"

// Kinds of function, by the trigger that invokes them.
const (
	KindAuthorizer = "authorizer"
	KindHTTP       = "http"
	KindStream     = "stream"
	KindSchedule   = "schedule"
	// KindMixed is a function with triggers of several kinds (routes, a stream, a schedule),
	// whose one handler tells its events apart.
	KindMixed = "mixed"
)

// defaultTimeout is Lambda's, for a function template.yaml does not declare.
const defaultTimeout = 3 * time.Second

// function is one Lambda function as the runtime invokes it: a JSON event in, a JSON answer
// out, through aws-lambda-go's own reflection adapter, so events and answers make exactly the
// round trip through JSON that they make in AWS.
type function struct {
	id   string
	kind string
	// triggers are the kinds of trigger it serves: its kind, or for KindMixed those the
	// template gives it.
	triggers map[string]bool
	timeout  time.Duration
	arn      string
	h        lambda.Handler
}

func newFunction(id, kind string, timeout time.Duration, handler any, region string) *function {
	return &function{
		id:       id,
		kind:     kind,
		triggers: map[string]bool{kind: true},
		timeout:  timeout,
		arn:      fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, accountID, id),
		h:        lambda.NewHandler(handler),
	}
}

// functions lists every function of set, with the timeouts template.yaml gives them.
func functions(set *handlers.Set, tmpl *samtemplate.Template, region string) map[string]*function {
	timeouts := map[string]time.Duration{}
	for _, f := range tmpl.Functions() {
		timeouts[f.LogicalID] = f.Timeout
	}
	fns := map[string]*function{}
	add := func(id, kind string, h any) {
		t, ok := timeouts[id]
		if !ok {
			t = defaultTimeout
		}
		fns[id] = newFunction(id, kind, t, h, region)
	}
	if set.Authorizer != nil {
		add(AuthorizerFunction, KindAuthorizer, set.Authorizer)
	}
	for id, h := range set.HTTP {
		add(id, KindHTTP, h)
	}
	for id, h := range set.Stream {
		add(id, KindStream, h)
	}
	for id, h := range set.Schedule {
		add(id, KindSchedule, h)
	}
	for id, h := range set.Mixed {
		add(id, KindMixed, h)
		fns[id].triggers = templateTriggers(tmpl, id)
	}
	return fns
}

// templateTriggers are the kinds of trigger template.yaml gives the function id.
func templateTriggers(tmpl *samtemplate.Template, id string) map[string]bool {
	kinds := map[string]bool{}
	for _, r := range tmpl.Routes() {
		kinds[KindHTTP] = kinds[KindHTTP] || r.Function == id
	}
	for _, s := range tmpl.StreamTriggers() {
		kinds[KindStream] = kinds[KindStream] || s.Function == id
	}
	for _, s := range tmpl.Schedules() {
		kinds[KindSchedule] = kinds[KindSchedule] || s.Function == id
	}
	return kinds
}

// serves tells whether the function takes the events of triggers of kind.
func (f *function) serves(kind string) bool { return f.triggers[kind] }

// errPanic reports a function that panicked; Lambda reports it as a function error.
var errPanic = errors.New("function panicked")

// invoke runs the function once on payload within its timeout. The caller's context is
// detached from cancellation, as an invocation in flight runs to its end (or its timeout)
// whatever happens to the caller.
func (f *function) invoke(ctx context.Context, payload []byte) (out []byte, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       newRequestID(),
		InvokedFunctionArn: f.arn,
	})
	defer func() {
		if r := recover(); r != nil {
			// A runtime error names no data; other panic values might, so they stay out.
			if re, ok := r.(runtime.Error); ok {
				err = fmt.Errorf("%s: %w: %s", f.id, errPanic, re.Error())
			} else {
				err = fmt.Errorf("%s: %w", f.id, errPanic)
			}
		}
	}()
	return f.h.Invoke(ctx, payload)
}

// call marshals in, invokes, and unmarshals the answer into out.
func (f *function) call(ctx context.Context, in, out any) error {
	payload, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: event: %w", f.id, err)
	}
	b, err := f.invoke(ctx, payload)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: answer is not the expected JSON: %w", f.id, err)
	}
	return nil
}
