package requestsapi_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/sites"
	"github.com/example/gdpr/internal/tenant"
)

const (
	rqSystems      = "POST /v1/systems"
	rqSystemsList  = "GET /v1/systems"
	rqSystemDelete = "DELETE /v1/systems/{id}"
	rqSystemRotate = "POST /v1/systems/{id}/rotate-secret"
)

// testRQSystems: the registry's routes, as a deployment runs them (https to public addresses).
func testRQSystems(t *testing.T, e *rqEnv) {
	body := `{"name":"shop.example.org","url":"https://shop.example.org/wp-json/gdpr/v1/events","events":["erasure","rectification"]}`
	e.call(t, e.site(), rqSystems, nil, body).want(t, 403, "forbidden")
	r := e.call(t, e.admin(), rqSystems, nil, body).want(t, 201, "")
	id, secret := r.str("id"), r.str("secret")
	if !strings.HasPrefix(id, "sys_") || !strings.HasPrefix(secret, "whsec_") || r.str("created_at") == "" {
		t.Fatalf("registered %s", r.raw)
	}
	for _, bad := range []string{
		`{"name":"x","url":"http://127.0.0.1:8080/hook","events":["erasure"]}`,
		`{"name":"x","url":"https://169.254.169.254/latest","events":["erasure"]}`,
		`{"name":"x","url":"http://shop.example.org/hook","events":["erasure"]}`,
	} {
		e.call(t, e.admin(), rqSystems, nil, bad).want(t, 422, "invalid_url")
	}
	e.call(t, e.admin(), rqSystems, nil, `{"name":"x","url":"https://a.example.org/","events":["access"]}`).want(t, 400, "validation_failed")
	e.call(t, e.admin(), rqSystems, nil, `{"name":"x","url":"https://a.example.org/","events":["erasure"],"secret":"mine"}`).want(t, 400, "invalid_json")
	l := e.call(t, e.admin(), rqSystemsList, nil, "").want(t, 200, "")
	if strings.Contains(l.raw, "whsec_") || strings.Contains(l.raw, strings.TrimPrefix(secret, "whsec_")) || !strings.Contains(l.raw, id) {
		t.Fatalf("list %s", l.raw)
	}
	// Another tenant's key sees none of it.
	if o := e.call(t, caller{tenant: e.other, role: "admin"}, rqSystemsList, nil, "").want(t, 200, ""); strings.Contains(o.raw, id) {
		t.Fatalf("the other tenant lists %s", o.raw)
	}
	e.call(t, caller{tenant: e.other, role: "admin"}, rqSystemDelete, nil, "", id).want(t, 404, "system_not_found")
	rot := e.call(t, e.admin(), rqSystemRotate, nil, "", id).want(t, 200, "")
	if s := rot.str("secret"); !strings.HasPrefix(s, "whsec_") || s == secret || rot.str("rotated_at") == "" {
		t.Fatalf("rotated %s", rot.raw)
	}
	e.call(t, e.admin(), rqSystemDelete, nil, "", id).want(t, 204, "")
	e.call(t, e.admin(), rqSystemDelete, nil, "", id).want(t, 404, "system_not_found")
	e.call(t, e.admin(), rqSystemRotate, nil, "", id).want(t, 404, "system_not_found")
	e.call(t, e.admin(), rqSystemRotate, nil, "", "../etc").want(t, 404, "system_not_found")
}

// testRQRetryDeliveries: the operator's view shows each delivery; a retry of the request
// re-queues the failed ones. The site here resolves to a private address, so no call is
// ever connected (nothing leaves the machine).
func testRQRetryDeliveries(t *testing.T, e *rqEnv) {
	ctx := context.Background()
	svc := sites.New(e.ports.Table, e.clock, e.ports.Secrets, false, e.ports.Log)
	svc.Client = sites.Client(sites.Dialer{Lookup: func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("10.0.0.9")}, nil
	}})
	sys, _, err := svc.Register(ctx, e.tenant, sites.Registration{Name: "shop.example.org", URL: "https://shop.example.org/hook", Events: sites.Events}, "operator")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := e.verified(t, "ann@example.org")
	requests := dsr.New(e.ports.Table, tenant.Store{Table: e.ports.Table, Clock: e.clock}, e.ports.Mail, e.clock, e.ports.Secrets)
	r, _, err := requests.Claim(ctx, e.tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	r.SubjectID = "u-42" // the public submission matched nobody; the sites need an id
	if _, err := svc.Enqueue(ctx, r, sites.Erasure, struct{}{}); err != nil {
		t.Fatal(err)
	}
	g := e.call(t, e.admin(), rqGet, nil, "", id).want(t, 200, "")
	ds, _ := g.body["deliveries"].([]any)
	if len(ds) != 1 {
		t.Fatalf("record %s", g.raw)
	}
	if d := ds[0].(map[string]any); d["system_id"] != sys.ID || d["state"] != "pending" || d["attempts"] != float64(1) || d["last_error"] != "address not allowed" || d["event"] != "erasure" || d["name"] != "shop.example.org" {
		t.Fatalf("delivery %v", d)
	}
	e.clock.Set(e.clock.Now().Add(sites.Window + 1))
	var rep sites.Report
	if err := svc.Due(ctx, e.tenant, rqStart, sites.DefaultBudget, &rep); err != nil || rep.Failed != 1 {
		t.Fatalf("Due = %+v, %v", rep, err)
	}
	if _, err := requests.Fail(ctx, e.tenant, id, "sites did not confirm"); err != nil {
		t.Fatal(err)
	}
	g = e.call(t, e.admin(), rqGet, nil, "", id).want(t, 200, "")
	if d := g.body["deliveries"].([]any)[0].(map[string]any); d["state"] != "failed" || d["attempts"] != float64(2) {
		t.Fatalf("failed delivery %v", d)
	}
	rt := e.call(t, e.admin(), rqRetry, nil, "", id).want(t, 200, "")
	if d := rt.body["deliveries"].([]any)[0].(map[string]any); rt.str("status") != "processing" || d["state"] != "pending" {
		t.Fatalf("retried %s", rt.raw)
	}
	// Not failed any more: nothing to retry, and nothing re-queued.
	e.call(t, e.admin(), rqRetry, nil, "", id).want(t, 409, "invalid_transition")
}
