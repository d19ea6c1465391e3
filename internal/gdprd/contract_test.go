package gdprd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/gdprd"
)

// The flow tests hold every answer they get to openapi.yaml (call and callHeader check each):
// a status the operation does not list, another content type, a body or a header its schema
// refuses fails the test that got it. kin-openapi validates OpenAPI 3.1 schemas with a JSON
// Schema 2020-12 validator (if/then/else, const, type arrays), as the document is written.

type contractDoc struct {
	doc    *openapi3.T
	router routers.Router
}

var loadContract = sync.OnceValues(func() (*contractDoc, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(gdpr.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	// The document names the default port and API Gateway; test servers listen on free ports.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return &contractDoc{doc: doc, router: router}, nil
})

// checkContract tells how the answer to req drifts from openapi.yaml, or nil when it does not.
func checkContract(req *http.Request, status int, header http.Header, body []byte) error {
	c, err := loadContract()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(req.URL.Path, "/v1/") {
		// The document describes the API under /v1/: the local server's own routes
		// (/_local/*, described in prose only, never deployed), the web pages and the routes
		// of tests' own templates are not its operations.
		return nil
	}
	route, params, err := c.router.FindRoute(req)
	var routeErr *routers.RouteError
	if errors.As(err, &routeErr) {
		// No operation: the $default route's answer, which the document describes as a
		// 404 not_found problem.
		return c.checkNoRoute(status, header, body)
	}
	if err != nil {
		return err
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s: %d: %w", req.Method, route.Path, status, err)
	}
	return nil
}

func (c *contractDoc) checkNoRoute(status int, header http.Header, body []byte) error {
	if status != http.StatusNotFound {
		return fmt.Errorf("no operation matches, and the status is %d, not 404", status)
	}
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt != "application/problem+json" {
		return fmt.Errorf("no operation matches, and the content type is %q", header.Get("Content-Type"))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("no operation matches, and the body is not JSON: %w", err)
	}
	if err := c.doc.Components.Schemas["Problem"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("no operation matches: %w", err)
	}
	if code, _ := v.(map[string]any)["code"].(string); code != "not_found" {
		return fmt.Errorf("no operation matches, and the code is %q, not not_found", code)
	}
	return nil
}

// TestContractCheck proves the check the flow tests rely on fails on drift: a real answer of
// gdprd passes, and the same answer changed in its status, content type, body or headers fails.
func TestContractCheck(t *testing.T) {
	s := start(t, gdprd.Config{})
	c := localClient(t, s)
	get := func(path string) (*http.Request, response) {
		req, err := http.NewRequest("GET", s.URL()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return req, call(t, "GET", s.URL()+path, c.keys.SiteKey, nil)
	}
	req, health := get("/v1/health")
	if err := checkContract(req, health.status, health.header, health.body); err != nil {
		t.Fatalf("the real answer drifts: %v", err)
	}
	noReqID := health.header.Clone()
	noReqID.Del("X-Request-Id")
	for name, drift := range map[string]response{
		"undocumented status": {status: http.StatusTeapot, header: health.header, body: health.body},
		"content type":        {status: health.status, header: http.Header{"Content-Type": {"text/plain"}, "X-Request-Id": {"x"}}, body: health.body},
		"body":                {status: health.status, header: health.header, body: []byte(`{"status":"ok"}`)},
		"body type":           {status: health.status, header: health.header, body: []byte(`{"status":"ok","version":1}`)},
		"header":              {status: health.status, header: noReqID, body: health.body},
	} {
		if err := checkContract(req, drift.status, drift.header, drift.body); err == nil {
			t.Errorf("%s: a drifted answer passes", name)
		}
	}

	req, state := get("/v1/consents/nobody")
	if err := checkContract(req, state.status, state.header, state.body); err != nil {
		t.Fatalf("the real 404 drifts: %v", err)
	}
	// A problem whose code the operation does not list for its status.
	wrongCode := bytes.Replace(state.body, []byte(`"subject_not_found"`), []byte(`"tenant_not_found"`), 1)
	if err := checkContract(req, state.status, state.header, wrongCode); err == nil {
		t.Error("a problem code the operation does not list passes")
	}

	req, none := get("/v1/nothing-here")
	if err := checkContract(req, none.status, none.header, none.body); err != nil {
		t.Fatalf("the real answer of no route drifts: %v", err)
	}
	if err := checkContract(req, http.StatusOK, health.header, health.body); err == nil {
		t.Error("a 200 where no operation matches passes")
	}
}
