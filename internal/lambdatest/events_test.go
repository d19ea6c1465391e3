package lambdatest_test

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/samtemplate"
)

func template(tb testing.TB) *samtemplate.Template {
	tb.Helper()
	tpl, err := samtemplate.Parse(gdpr.Template)
	if err != nil {
		tb.Fatal(err)
	}
	return tpl
}

// decodeStrict decodes like a careful handler would, so a misspelt field in a sample fails.
func decodeStrict(tb testing.TB, name string, b []byte, v any) {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
}

// TestEvents keeps events/ in step with template.yaml: every sample belongs to a function
// (events/<folder>-<what>.json) and to one of its triggers, and every route, schedule and
// function has a sample.
func TestEvents(t *testing.T) {
	tpl := template(t)
	files, err := filepath.Glob("../../events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no events: %v", err)
	}
	routes := map[string]samtemplate.Route{}
	for _, r := range allRoutes(tpl) {
		routes[r.Key()] = r
	}
	covered := map[string]bool{}

	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		folder, _, _ := strings.Cut(name, "-")
		fns := tpl.Functions()
		i := slices.IndexFunc(fns, func(f samtemplate.Function) bool { return f.Folder == "functions/"+folder })
		if i < 0 {
			t.Errorf("%s: no function lives in functions/%s", name, folder)
			continue
		}
		fn := fns[i].LogicalID
		covered[fn] = true

		var shape struct {
			Version    string            `json:"version"`
			Records    []json.RawMessage `json:"Records"`
			DetailType string            `json:"detail-type"`
		}
		if err := json.Unmarshal(b, &shape); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		switch {
		case len(shape.Records) > 0:
			var ev events.DynamoDBEvent
			decodeStrict(t, name, b, &ev)
			i := slices.IndexFunc(tpl.StreamTriggers(), func(s samtemplate.StreamTrigger) bool { return s.Function == fn })
			if i < 0 {
				t.Errorf("%s: %s has no stream trigger", name, fn)
				continue
			}
			covered[fn+"."+tpl.StreamTriggers()[i].Name] = true
		case shape.Version == "2.0":
			var ev events.APIGatewayV2HTTPRequest
			decodeStrict(t, name, b, &ev)
			r, ok := routes[ev.RouteKey]
			if !ok || r.Function != fn {
				t.Errorf("%s: %s has no route %q", name, fn, ev.RouteKey)
				continue
			}
			covered[r.Key()] = true
			checkRequest(t, name, ev.RouteKey, ev.RawPath, ev.PathParameters, ev.RequestContext.HTTP.Method, ev.RequestContext.RouteKey)
			// No authorizer runs before the functions: an event carries the key, not its tenant.
			if ev.RequestContext.Authorizer != nil {
				t.Errorf("%s: authorizer context %+v, but no authorizer runs", name, ev.RequestContext.Authorizer)
			}
			// Keys are the demo tenant's placeholders, which gdprd invoke replaces.
			if auth := ev.Headers["authorization"]; strings.HasPrefix(auth, "Bearer demo-") &&
				auth != "Bearer "+gdprd.SampleSiteKey && auth != "Bearer "+gdprd.SampleAdminKey {
				t.Errorf("%s: key %q is neither sample key", name, auth)
			}
			if ev.Body != "" && !json.Valid([]byte(ev.Body)) {
				t.Errorf("%s: body is not JSON", name)
			}
		case shape.DetailType != "":
			var ev events.EventBridgeEvent
			decodeStrict(t, name, b, &ev)
			found := false
			for _, r := range tpl.EventRules() {
				if r.Function == fn && ruleMatches(t, r.Pattern, ev) {
					covered[r.Function+"."+r.Name] = true
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no EventBridge rule of %s matches its source and detail-type", name, fn)
			}
		default:
			found := false
			for _, s := range tpl.Schedules() {
				if s.Function == fn && jsonEqual(t, s.Input, b) {
					covered[s.Function+"."+s.Name] = true
					found = true
				}
			}
			if !found {
				t.Errorf("%s: neither an HTTP event nor the Input of a schedule of %s", name, fn)
			}
		}
	}

	for _, r := range allRoutes(tpl) {
		if !covered[r.Key()] {
			t.Errorf("no sample event for route %s", r.Key())
		}
	}
	for _, s := range tpl.Schedules() {
		if !covered[s.Function+"."+s.Name] {
			t.Errorf("no sample event for schedule %s.%s", s.Function, s.Name)
		}
	}
	for _, s := range tpl.StreamTriggers() {
		if !covered[s.Function+"."+s.Name] {
			t.Errorf("no sample event for stream trigger %s.%s", s.Function, s.Name)
		}
	}
	for _, r := range tpl.EventRules() {
		if !covered[r.Function+"."+r.Name] {
			t.Errorf("no sample event for EventBridge rule %s.%s", r.Function, r.Name)
		}
	}
	for _, f := range tpl.Functions() {
		if !covered[f.LogicalID] {
			t.Errorf("no sample event for %s", f.LogicalID)
		}
	}
}

// allRoutes is every route of the template, the $default route included: it gets events too.
func allRoutes(tpl *samtemplate.Template) []samtemplate.Route {
	routes := tpl.Routes()
	if r, ok := tpl.DefaultRoute(); ok {
		routes = append(routes, r)
	}
	return routes
}

// checkRequest checks that a sample's path is its route's path with its parameters filled in.
func checkRequest(tb testing.TB, name, routeKey, rawPath string, params map[string]string, method, contextRouteKey string) {
	tb.Helper()
	if contextRouteKey != routeKey {
		tb.Errorf("%s: requestContext.routeKey %q, want %q", name, contextRouteKey, routeKey)
	}
	if routeKey == samtemplate.DefaultRouteKey {
		// Any method, any path, and no path parameters: the route has no path of its own.
		if !strings.HasPrefix(rawPath, "/") || len(params) != 0 {
			tb.Errorf("%s: rawPath %q with parameters %v, want a path and no parameters", name, rawPath, params)
		}
		return
	}
	routeMethod, path, _ := strings.Cut(routeKey, " ")
	if method != routeMethod {
		tb.Errorf("%s: method %s, route %s", name, method, routeKey)
	}
	for k, v := range params {
		path = strings.Replace(path, "{"+k+"}", v, 1)
	}
	if path != rawPath {
		tb.Errorf("%s: rawPath %q, but route and pathParameters give %q", name, rawPath, path)
	}
}

func jsonEqual(tb testing.TB, a, b []byte) bool {
	tb.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return bytes.Equal(xs, ys)
}

// TestEventsSampleDataOnly: sample events hold documentation addresses only, never anything
// that could be someone's data.
func TestEventsSampleDataOnly(t *testing.T) {
	files, _ := filepath.Glob("../../events/*.json")
	ipv4 := regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)
	email := regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+`)
	docNet := netip.MustParsePrefix("203.0.113.0/24")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ipv4.FindAllString(string(b), -1) {
			if ip, err := netip.ParseAddr(s); err == nil && !docNet.Contains(ip) {
				t.Errorf("%s: address %s is outside 203.0.113.0/24", filepath.Base(file), s)
			}
		}
		for _, s := range email.FindAllString(string(b), -1) {
			if !strings.HasSuffix(s, "@example.org") {
				t.Errorf("%s: email %s is not @example.org", filepath.Base(file), s)
			}
		}
	}
}

// TestMakefile keeps the Makefile's function list and build targets in step with the template.
func TestMakefile(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("make not installed, and CI=true requires this test to run")
		}
		t.Skip("make not installed (CI=true requires it)")
	}
	out, err := exec.Command("make", "-s", "-C", "../..", "functions").Output()
	if err != nil {
		t.Fatalf("make functions: %v", err)
	}
	var ids []string
	for _, f := range template(t).Functions() {
		ids = append(ids, f.LogicalID)
		cmd := exec.Command("make", "-n", "-C", "../..", "build-"+f.LogicalID, "ARTIFACTS_DIR=/artifacts")
		recipe, err := cmd.Output()
		if err != nil {
			t.Errorf("make -n build-%s: %v", f.LogicalID, err)
			continue
		}
		for _, want := range []string{"GOOS=linux GOARCH=arm64 CGO_ENABLED=0", "-tags lambda.norpc", "-o /artifacts/bootstrap ./" + f.Folder + "\n"} {
			if !strings.Contains(string(recipe), want) {
				t.Errorf("build-%s: recipe lacks %q:\n%s", f.LogicalID, want, recipe)
			}
		}
	}
	if got, want := strings.Fields(string(out)), ids; !slices.Equal(got, want) {
		t.Fatalf("Makefile FUNCTIONS %v, template %v", got, want)
	}
}

// ruleMatches tells whether ev's source and detail-type are among those pattern lists (the
// rest of the pattern is the function's own check too, which gdprd's TestEvents runs).
func ruleMatches(t *testing.T, pattern json.RawMessage, ev events.EventBridgeEvent) bool {
	t.Helper()
	var p struct {
		Source     []string `json:"source"`
		DetailType []string `json:"detail-type"`
	}
	if err := json.Unmarshal(pattern, &p); err != nil {
		t.Fatalf("pattern %s: %v", pattern, err)
	}
	return slices.Contains(p.Source, ev.Source) && slices.Contains(p.DetailType, ev.DetailType)
}
