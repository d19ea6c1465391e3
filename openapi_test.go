package gdpr_test

import (
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/example/gdpr"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/handlers/consentapi"
	"github.com/example/gdpr/internal/handlers/metaapi"
	"github.com/example/gdpr/internal/handlers/requestsapi"
	"github.com/example/gdpr/internal/home"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/samtemplate"
)

// document is the part of openapi.yaml the checks read as types; references are resolved
// against the same file read as plain YAML (spec.root).
type document struct {
	OpenAPI string `yaml:"openapi"`
	Info    struct {
		Title   string `yaml:"title"`
		Version string `yaml:"version"`
	} `yaml:"info"`
	Paths        map[string]pathItem    `yaml:"paths"`
	ProblemCodes map[string]problemCode `yaml:"x-problem-codes"`
}

type pathItem struct {
	Parameters []any      `yaml:"parameters"`
	Get        *operation `yaml:"get"`
	Put        *operation `yaml:"put"`
	Post       *operation `yaml:"post"`
	Delete     *operation `yaml:"delete"`
	Patch      *operation `yaml:"patch"`
	Head       *operation `yaml:"head"`
	Options    *operation `yaml:"options"`
	Trace      *operation `yaml:"trace"`
}

func (p pathItem) operations() map[string]*operation {
	ops := map[string]*operation{}
	for method, op := range map[string]*operation{
		"GET": p.Get, "PUT": p.Put, "POST": p.Post, "DELETE": p.Delete,
		"PATCH": p.Patch, "HEAD": p.Head, "OPTIONS": p.Options, "TRACE": p.Trace,
	} {
		if op != nil {
			ops[method] = op
		}
	}
	return ops
}

type operation struct {
	OperationID string `yaml:"operationId"`
	// Security is a pointer so that an operation that does not say (and so inherits) differs
	// from one that says "no security" with an empty list.
	Security    *[]map[string][]string `yaml:"security"`
	Parameters  []any                  `yaml:"parameters"`
	RequestBody any                    `yaml:"requestBody"`
	Responses   map[string]any         `yaml:"responses"`
}

type problemCode struct {
	Status      int    `yaml:"status"`
	Description string `yaml:"description"`
	// PerOperation false marks a code no operation lists (a route that matched nothing).
	PerOperation *bool `yaml:"per_operation"`
}

type spec struct {
	doc  document
	root any
}

// endpoint is one operation of the spec, named like an API Gateway route key.
type endpoint struct {
	key  string
	path string
	item pathItem
	op   *operation
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	s := &spec{}
	if err := yaml.Unmarshal(gdpr.OpenAPI, &s.doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if err := yaml.Unmarshal(gdpr.OpenAPI, &s.root); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return s
}

// endpoints lists every operation, sorted by route key.
func (s *spec) endpoints() []endpoint {
	var eps []endpoint
	for path, item := range s.doc.Paths {
		for method, op := range item.operations() {
			eps = append(eps, endpoint{key: method + " " + path, path: path, item: item, op: op})
		}
	}
	slices.SortFunc(eps, func(a, b endpoint) int { return strings.Compare(a.key, b.key) })
	return eps
}

// resolve returns the value a local reference ("#/components/...") points at.
func (s *spec) resolve(ref string) (any, error) {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("%q is not a local reference", ref)
	}
	cur := s.root
	for _, tok := range strings.Split(ptr, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, fmt.Errorf("%q: no %q", ref, tok)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil, fmt.Errorf("%q: no index %q", ref, tok)
			}
			cur = v[i]
		default:
			return nil, fmt.Errorf("%q: %q is inside a scalar", ref, tok)
		}
	}
	return cur, nil
}

// object follows $ref until it reaches an object that is not a reference.
func (s *spec) object(t *testing.T, v any) map[string]any {
	t.Helper()
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("expected an object, got %T", v)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		next, err := s.resolve(ref)
		if err != nil {
			t.Fatal(err)
		}
		v = next
	}
	t.Fatalf("reference chain too long at %v", v)
	return nil
}

func TestOpenAPIDocument(t *testing.T) {
	s := loadSpec(t)
	if !strings.HasPrefix(s.doc.OpenAPI, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", s.doc.OpenAPI)
	}
	if s.doc.Info.Title == "" || s.doc.Info.Version == "" {
		t.Errorf("info needs a title and a version, got %+v", s.doc.Info)
	}
	if len(s.endpoints()) == 0 {
		t.Fatal("no operations under paths")
	}
}

// TestOpenAPIMatchesTemplate keeps the contract and the deployment in step: every route
// template.yaml serves is described, nothing is described that is not served, and the routes
// that take a key are the ones whose handlers check one.
func TestOpenAPIMatchesTemplate(t *testing.T) {
	s := loadSpec(t)
	tpl, err := samtemplate.Parse(gdpr.Template)
	if err != nil {
		t.Fatal(err)
	}
	// Routes leaves out the $default route: it is no operation, it answers not_found for
	// whatever matches no route, and x-problem-codes must say so.
	routes := map[string]samtemplate.Route{}
	for _, r := range tpl.Routes() {
		routes[r.Key()] = r
	}
	if _, ok := tpl.DefaultRoute(); ok {
		if pc, ok := s.doc.ProblemCodes["not_found"]; !ok || pc.Status != 404 {
			t.Errorf("template.yaml has a $default route, but x-problem-codes has no not_found with status 404: %+v", pc)
		}
	}
	access := routeAccess(t)
	described := map[string]endpoint{}
	for _, ep := range s.endpoints() {
		described[ep.key] = ep
	}
	var problems []string
	for _, key := range slices.Sorted(maps.Keys(routes)) {
		ep, ok := described[key]
		if !ok {
			problems = append(problems, "in template.yaml, not in openapi.yaml: "+key)
			continue
		}
		if ep.op.Security == nil {
			continue // reported by TestOpenAPIOperations
		}
		a, served := access[key]
		if !served {
			problems = append(problems, "in template.yaml, served by no handler: "+key)
			continue
		}
		if got, want := takesKey(*ep.op.Security), a != httpapi.Public; got != want {
			problems = append(problems, fmt.Sprintf("%s: openapi.yaml takes an API key: %t, the handler checks one: %t", key, got, want))
		}
	}
	for _, key := range slices.Sorted(maps.Keys(described)) {
		if _, ok := routes[key]; !ok {
			problems = append(problems, "in openapi.yaml, not in template.yaml: "+key)
		}
	}
	if len(problems) > 0 {
		t.Errorf("openapi.yaml and template.yaml differ:\n\t%s", strings.Join(problems, "\n\t"))
	}
}

// routeAccess is who may call each route the service's HTTP functions serve, built on a
// local home.
func routeAccess(t *testing.T) map[string]httpapi.Access {
	p, err := home.Local(t.TempDir(), clock.System{}, "http://127.0.0.1:3000", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	access := map[string]httpapi.Access{}
	for _, build := range []func(*ports.Ports) (*httpapi.API, error){metaapi.New, consentapi.New, requestsapi.New} {
		api, err := build(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range api.RouteKeys() {
			access[key], _ = api.Access(key)
		}
	}
	return access
}

// takesKey tells whether the operation is called with a site or admin key, which the HTTP
// layer checks; the access token of the public status route is the handler's to check.
func takesKey(security []map[string][]string) bool {
	for _, req := range security {
		if _, ok := req["siteKey"]; ok {
			return true
		}
		if _, ok := req["adminKey"]; ok {
			return true
		}
	}
	return false
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

func TestOpenAPIOperations(t *testing.T) {
	s := loadSpec(t)
	ids := map[string]string{}
	for _, ep := range s.endpoints() {
		t.Run(ep.key, func(t *testing.T) {
			if ep.op.OperationID == "" {
				t.Error("no operationId")
			} else if other, dup := ids[ep.op.OperationID]; dup {
				t.Errorf("operationId %q is also %s", ep.op.OperationID, other)
			}
			ids[ep.op.OperationID] = ep.key
			if ep.op.Security == nil {
				t.Error("no security: say [] for a route that takes no key")
			}

			declared := map[string]bool{}
			for _, p := range slices.Concat(ep.item.Parameters, ep.op.Parameters) {
				if param := s.object(t, p); param["in"] == "path" {
					declared[fmt.Sprint(param["name"])] = true
				}
			}
			for _, m := range pathParam.FindAllStringSubmatch(ep.path, -1) {
				if !declared[m[1]] {
					t.Errorf("path parameter %q is not declared", m[1])
				}
				delete(declared, m[1])
			}
			for name := range declared {
				t.Errorf("path parameter %q is declared but not in the path", name)
			}

			success := false
			for status, r := range ep.op.Responses {
				resp := s.object(t, r)
				// A redirect is the success of a download link.
				if status[0] == '2' || status == "302" {
					success = true
				}
				headers, _ := resp["headers"].(map[string]any)
				if _, ok := headers["X-Request-Id"]; !ok {
					t.Errorf("response %s has no X-Request-Id header", status)
				}
			}
			if !success {
				t.Error("no 2xx response")
			}
			// Every route with a body refuses other media types (httpapi.checkMediaType).
			if _, ok := ep.op.Responses["415"]; ep.op.RequestBody != nil && !ok {
				t.Error("takes a body and lists no 415 response")
			}
		})
	}
}

// TestOpenAPIProblemCodes checks that every error response names the codes it may carry, that
// each is in x-problem-codes with the same status, and that x-problem-codes lists no code that
// nothing answers.
func TestOpenAPIProblemCodes(t *testing.T) {
	s := loadSpec(t)
	if len(s.doc.ProblemCodes) == 0 {
		t.Fatal("no x-problem-codes")
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	for code, pc := range s.doc.ProblemCodes {
		if !snake.MatchString(code) || pc.Status < 400 || pc.Status > 599 || pc.Description == "" {
			t.Errorf("x-problem-codes.%s = %+v: want a snake_case code, a 4xx or 5xx status and a description", code, pc)
		}
	}
	used := map[string]bool{}
	for _, ep := range s.endpoints() {
		for status, r := range ep.op.Responses {
			if status[0] != '4' && status[0] != '5' {
				continue
			}
			codes := s.problemCodes(t, s.object(t, r))
			if len(codes) == 0 {
				t.Errorf("%s %s: the application/problem+json schema does not name its codes", ep.key, status)
			}
			for _, code := range codes {
				used[code] = true
				pc, ok := s.doc.ProblemCodes[code]
				if !ok {
					t.Errorf("%s %s: code %q is not in x-problem-codes", ep.key, status, code)
					continue
				}
				if got, want := status, strconv.Itoa(pc.Status); got != want {
					t.Errorf("%s: code %q is answered with %s, x-problem-codes says %s", ep.key, code, got, want)
				}
			}
		}
	}
	for code, pc := range s.doc.ProblemCodes {
		if !used[code] && (pc.PerOperation == nil || *pc.PerOperation) {
			t.Errorf("x-problem-codes.%s: no operation answers it (per_operation: false if none lists it on purpose)", code)
		}
	}
}

// problemCodes returns the values the schema of an error response allows for code.
func (s *spec) problemCodes(t *testing.T, resp map[string]any) []string {
	t.Helper()
	content, _ := resp["content"].(map[string]any)
	media, ok := content["application/problem+json"].(map[string]any)
	if !ok {
		return nil
	}
	var codes []string
	var walk func(schema map[string]any)
	walk = func(schema map[string]any) {
		if props, ok := schema["properties"].(map[string]any); ok {
			if code, ok := props["code"].(map[string]any); ok {
				enum, _ := code["enum"].([]any)
				for _, v := range enum {
					codes = append(codes, fmt.Sprint(v))
				}
			}
		}
		all, _ := schema["allOf"].([]any)
		for _, sub := range all {
			walk(s.object(t, sub))
		}
	}
	walk(s.object(t, media["schema"]))
	return codes
}

func TestOpenAPIRefsResolve(t *testing.T) {
	s := loadSpec(t)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if _, err := s.resolve(ref); err != nil {
					t.Errorf("%s: %v", path, err)
				}
			}
			for k, child := range v {
				walk(path+"/"+k, child)
			}
		case []any:
			for i, child := range v {
				walk(path+"/"+strconv.Itoa(i), child)
			}
		}
	}
	walk("#", s.root)
}
