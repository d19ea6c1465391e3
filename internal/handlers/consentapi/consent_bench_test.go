package consentapi_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// BenchmarkLoginGate measures the login gate in process on SQLite: the API Gateway event in,
// the response out, through the whole HTTP layer (the key check, cached; routing, one table read,
// rendering, the request log line). Goal: p99 <= 1 ms. Run:
//
//	go test ./internal/handlers -run '^$' -bench LoginGate -benchtime 20000x
func BenchmarkLoginGate(b *testing.B) {
	f := newCSFixture(b, csSQLite)
	f.decide(b, "u-42", true, true, false)
	ev := csGateEvent(f, "u-42")
	csBench(b, f, func(int) events.APIGatewayV2HTTPRequest { return ev }, 200)
}

// BenchmarkRecordDecision measures a consent decision on SQLite: one read, one transaction of
// two writes (each commit is fsynced).
func BenchmarkRecordDecision(b *testing.B) {
	f := newCSFixture(b, csSQLite)
	csBench(b, f, func(i int) events.APIGatewayV2HTTPRequest {
		// Spread over subjects, as real traffic is: one subject's chain would serialize.
		return csPostEvent(f, "/v1/consents", "POST /v1/consents", "", csDecision(fmt.Sprintf("u-%d", i%1000), true, i%2 == 0, false))
	}, 201)
}

// BenchmarkRecordDevice measures a device observation on SQLite, the write every login makes.
func BenchmarkRecordDevice(b *testing.B) {
	f := newCSFixture(b, csSQLite)
	f.decide(b, "u-42", true, true, false)
	ev := csPostEvent(f, "/v1/subjects/u-42/devices", "POST /v1/subjects/{subject_id}/devices", "u-42", `{"ip":"203.0.113.9","browser":"Firefox 146"}`)
	csBench(b, f, func(int) events.APIGatewayV2HTTPRequest { return ev }, 202)
}

// csAuthorized is ev with acme's site key.
func csAuthorized(f *csFixture, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPRequest {
	ev.Version = "2.0"
	ev.Headers = map[string]string{"content-type": "application/json", "authorization": "Bearer " + f.keys["acme"].SiteKey}
	ev.RequestContext.RequestID = "bench"
	return ev
}

func csGateEvent(f *csFixture, subjectID string) events.APIGatewayV2HTTPRequest {
	ev := csAuthorized(f, events.APIGatewayV2HTTPRequest{
		RouteKey: "GET /v1/consents/{subject_id}", RawPath: "/v1/consents/" + subjectID,
		PathParameters: map[string]string{"subject_id": subjectID},
	})
	ev.RequestContext.HTTP.Method = "GET"
	return ev
}

func csPostEvent(f *csFixture, path, routeKey, subjectID, body string) events.APIGatewayV2HTTPRequest {
	ev := csAuthorized(f, events.APIGatewayV2HTTPRequest{RouteKey: routeKey, RawPath: path, Body: body})
	if subjectID != "" {
		ev.PathParameters = map[string]string{"subject_id": subjectID}
	}
	ev.RequestContext.HTTP.Method = "POST"
	return ev
}

// csBench times each call of the handler and reports the median and the 99th percentile.
func csBench(b *testing.B, f *csFixture, event func(i int) events.APIGatewayV2HTTPRequest, status int) {
	b.Helper()
	ctx := b.Context()
	// Warm the tenant cache and the engine's statements, as a warm Lambda is.
	if out, _ := f.api.Handle(ctx, event(-1)); out.StatusCode != status {
		b.Fatalf("status %d %s; want %d", out.StatusCode, out.Body, status)
	}
	var took []time.Duration
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		ev := event(i)
		csStart := time.Now()
		out, _ := f.api.Handle(ctx, ev)
		took = append(took, time.Since(csStart))
		if out.StatusCode != status {
			b.Fatalf("status %d %s; want %d", out.StatusCode, out.Body, status)
		}
		i++
	}
	slices.Sort(took)
	pct := func(p float64) float64 { return float64(took[int(p*float64(len(took)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
