package httpapi

import (
	"context"
	"maps"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/idempotency"
)

// idempotent runs a POST that carries an Idempotency-Key at most once per key and request
// (the idempotency package keeps the records): the first call reserves the key, runs and
// keeps its answer; a repeat gets that answer again, marked Idempotent-Replayed. An answer
// with a 5xx status is not kept: the reservation is dropped so the client's retry runs again.
func (a *API) idempotent(ctx context.Context, r *Request, route Route) events.APIGatewayV2HTTPResponse {
	res, kept, err := a.idem.Reserve(ctx, r.Tenant, r.Header("Idempotency-Key"),
		[]byte(r.Event.RouteKey+"\x00"+r.Event.RawPath+"\x00"), r.raw)
	if err != nil {
		return a.problem(r, err)
	}
	if kept != nil {
		h := map[string]string{"Idempotent-Replayed": "true"}
		maps.Copy(h, kept.Headers)
		return events.APIGatewayV2HTTPResponse{StatusCode: kept.Status, Headers: h, Body: kept.Body}
	}
	resp := a.run(ctx, r, route)
	if resp.StatusCode >= 500 {
		if err := res.Release(ctx); err != nil {
			a.cfg.Log.Error("idempotency release failed", "request_id", r.RequestID, "error", err.Error())
		}
		return resp
	}
	if err := res.Keep(ctx, idempotency.Answer{Status: resp.StatusCode, Headers: resp.Headers, Body: resp.Body}); err != nil {
		// The work is done; failing to remember the answer only loses replay, so answer anyway.
		a.cfg.Log.Error("idempotency record failed", "request_id", r.RequestID, "error", err.Error())
	}
	return resp
}
