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
	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/dsr"
)

// TestProblemCodesDocumented finds every error code the service can raise — the code
// argument of each apperr.New call, whether a literal or a constant of any package, and each
// Code* constant declared anywhere — and checks that openapi.yaml's x-problem-codes lists it,
// with the status its kind maps to. A code argument the scan cannot resolve to a string is an
// error, so no code escapes it. The other direction (every documented code is used by some
// operation) is checked by TestOpenAPI.
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
	files := parseSources(t, "internal")
	// Every string constant (or variable initialised with a literal) of every package, by
	// package folder and name.
	consts := map[string]string{}
	for _, f := range files {
		for _, d := range f.ast.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || (g.Tok != token.CONST && g.Tok != token.VAR) {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						consts[f.dir+"."+name.Name] = v
						if g.Tok == token.CONST && strings.HasPrefix(name.Name, "Code") {
							if _, ok := doc.Codes[v]; !ok {
								t.Errorf("%s: %s = %q is not listed in openapi.yaml x-problem-codes", f.path, name.Name, v)
							}
						}
					}
				}
			}
		}
	}
	found := map[string]bool{}
	for _, f := range files {
		if f.dir == "internal/apperr" {
			continue // New itself, and Validation's literal, whose code is a constant above
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) < 2 || !isSelector(call.Fun, "apperr", "New") {
				return true
			}
			pos := f.fset.Position(call.Pos())
			kind := selectorName(call.Args[0], "apperr")
			want, known := kindStatus[kind]
			if !known {
				t.Errorf("%s: the kind of apperr.New is not a constant of apperr", pos)
			}
			code, ok := f.resolve(call.Args[1], consts)
			if !ok {
				t.Errorf("%s: the code of apperr.New is neither a literal nor a string constant", pos)
				return true
			}
			found[code] = true
			if d, ok := doc.Codes[code]; !ok {
				t.Errorf("%s: code %q is raised but not listed in openapi.yaml x-problem-codes", pos, code)
			} else if known && d.Status != want {
				t.Errorf("%s: code %q has kind %s (%d) but openapi.yaml says %d", pos, code, kind, want, d.Status)
			}
			return true
		})
	}
	// The domain codes (held in constants) must be among those found: a scan that only reads
	// literals finds none of them.
	for _, code := range []string{dsr.CodeCannotExtend, consent.CodeUnknownPurpose, "subject_not_found", apperr.CodeNotFound} {
		if !found[code] {
			t.Errorf("the scan did not find code %q: it is broken", code)
		}
	}
}

// source is one parsed Go file of the module.
type source struct {
	path, dir string
	fset      *token.FileSet
	ast       *ast.File
	imports   map[string]string // local name → folder in the module
}

// parseSources parses every non-test Go file under root.
func parseSources(t *testing.T, root string) []source {
	t.Helper()
	const module = "github.com/example/gdpr/"
	var out []source
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		s := source{path: path, dir: filepath.ToSlash(filepath.Dir(path)), fset: fset, ast: f, imports: map[string]string{}}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if !strings.HasPrefix(p, module) {
				continue
			}
			name := p[strings.LastIndex(p, "/")+1:]
			if im.Name != nil {
				name = im.Name.Name
			}
			s.imports[name] = strings.TrimPrefix(p, module)
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// resolve is the string value of e: a literal, a constant of the file's package or of a
// package of the module it imports.
func (s source) resolve(e ast.Expr, consts map[string]string) (string, bool) {
	switch a := e.(type) {
	case *ast.BasicLit:
		v, err := strconv.Unquote(a.Value)
		return v, err == nil && a.Kind == token.STRING
	case *ast.Ident:
		v, ok := consts[s.dir+"."+a.Name]
		return v, ok
	case *ast.SelectorExpr:
		pkg, ok := a.X.(*ast.Ident)
		if !ok {
			return "", false
		}
		v, ok := consts[s.imports[pkg.Name]+"."+a.Sel.Name]
		return v, ok
	}
	return "", false
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
