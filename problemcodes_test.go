package gdpr_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/example/gdpr"
	"github.com/example/gdpr/internal/apperr"
)

// TestProblemCodesDocumented finds every error code the service can raise — the code
// argument of each apperr.New call and each apperr.Code* constant — and checks that
// openapi.yaml's x-problem-codes lists it, with the status its kind maps to. The other
// direction (every documented code is used by some operation) is checked by TestOpenAPI.
func TestProblemCodesDocumented(t *testing.T) {
	var doc struct {
		Codes map[string]struct {
			Status int `yaml:"status"`
		} `yaml:"x-problem-codes"`
	}
	if err := yaml.Unmarshal(gdpr.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	kindStatus := map[string]int{
		"Internal": 500, "Invalid": 400, "Unauthenticated": 401, "Forbidden": 403, "NotFound": 404,
		"Conflict": 409, "Gone": 410, "TooLarge": 413, "Unprocessable": 422, "Locked": 423, "RateLimited": 429,
		"UnsupportedMedia": 415,
	}
	consts := map[string]string{
		"CodeInvalidJSON": apperr.CodeInvalidJSON, "CodeValidation": apperr.CodeValidation,
		"CodeInvalidCursor": apperr.CodeInvalidCursor, "CodeUnauthenticated": apperr.CodeUnauthenticated,
		"CodeForbidden": apperr.CodeForbidden, "CodeNotFound": apperr.CodeNotFound, "CodeTooLarge": apperr.CodeTooLarge,
		"CodeMediaType":        apperr.CodeMediaType,
		"CodeIdempotencyReuse": apperr.CodeIdempotencyReuse, "CodeIdempotencyBusy": apperr.CodeIdempotencyBusy,
		"CodeRateLimited": apperr.CodeRateLimited, "CodeInternal": apperr.CodeInternal,
	}
	found := 0
	err := filepath.WalkDir("internal", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) < 2 || !isSelector(call.Fun, "apperr", "New") {
				return true
			}
			kind := selectorName(call.Args[0], "apperr")
			var code string
			switch a := call.Args[1].(type) {
			case *ast.BasicLit:
				code, _ = strconv.Unquote(a.Value)
			case *ast.SelectorExpr:
				code = consts[selectorName(a, "apperr")]
			}
			if code == "" {
				// A code held in a variable of the package: named by its declaration elsewhere.
				return true
			}
			found++
			doc, ok := doc.Codes[code]
			if !ok {
				t.Errorf("%s: code %q is raised but not listed in openapi.yaml x-problem-codes", path, code)
			} else if want, known := kindStatus[kind]; known && doc.Status != want {
				t.Errorf("%s: code %q has kind %s (%d) but openapi.yaml says %d", path, code, kind, want, doc.Status)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 10 {
		t.Fatalf("found only %d apperr.New calls: the scan is broken", found)
	}
}

func isSelector(e ast.Expr, pkg, name string) bool {
	return selectorName(e, pkg) == name
}

func selectorName(e ast.Expr, pkg string) string {
	s, ok := e.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	if id, ok := s.X.(*ast.Ident); !ok || id.Name != pkg {
		return ""
	}
	return s.Sel.Name
}
