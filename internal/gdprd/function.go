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

	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/samtemplate"
)

// Kinds of function, by the trigger that invokes them.
const (
	KindHTTP     = "http"
	KindStream   = "stream"
	KindSchedule = "schedule"
)

// defaultTimeout is Lambda's, for a function template.yaml does not declare.
const defaultTimeout = 3 * time.Second

// function is one Lambda function as the runtime invokes it: a JSON event in, a JSON answer
// out, through aws-lambda-go's own reflection adapter, so events and answers make exactly the
// round trip through JSON that they make in AWS.
type function struct {
	id      string
	kind    string
	timeout time.Duration
	arn     string
	h       lambda.Handler
}

func newFunction(id, kind string, timeout time.Duration, handler any, region string) *function {
	return &function{
		id:      id,
		kind:    kind,
		timeout: timeout,
		arn:     fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, accountID, id),
		h:       lambda.NewHandler(handler),
	}
}

// build builds every function of fns on p, with the timeouts template.yaml gives them.
func build(fns []Function, p *ports.Ports, tmpl *samtemplate.Template, region string) (map[string]*function, error) {
	timeouts := map[string]time.Duration{}
	for _, f := range tmpl.Functions() {
		timeouts[f.LogicalID] = f.Timeout
	}
	built := map[string]*function{}
	for _, f := range fns {
		t, ok := timeouts[f.ID]
		if !ok {
			t = defaultTimeout
		}
		if _, dup := built[f.ID]; dup {
			return nil, fmt.Errorf("gdprd: function %s listed twice", f.ID)
		}
		var (
			kind string
			h    any // what lambda.NewHandler takes: the typed handler
			err  error
		)
		switch {
		case f.HTTP != nil:
			kind = KindHTTP
			h, err = f.HTTP(p)
		case f.Stream != nil:
			kind = KindStream
			h, err = f.Stream(p)
		case f.Schedule != nil:
			kind = KindSchedule
			h, err = f.Schedule(p)
		default:
			err = errors.New("no builder")
		}
		if err != nil {
			return nil, fmt.Errorf("gdprd: build %s: %w", f.ID, err)
		}
		built[f.ID] = newFunction(f.ID, kind, t, h, region)
	}
	return built, nil
}

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
