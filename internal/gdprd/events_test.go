package gdprd_test

import (
	"context"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/samtemplate"
)

// TestEvents invokes every sample event in events/ (named <function folder>-<what>.json)
// through its function's handler, as `make invoke` and `sam local invoke -e` do.
func TestEvents(t *testing.T) {
	files, err := filepath.Glob("../../events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no events in events/")
	}
	tmpl, err := samtemplate.Parse(gdpr.Template)
	if err != nil {
		t.Fatal(err)
	}
	byFolder := map[string]string{}
	for _, f := range tmpl.Functions() {
		byFolder[path.Base(f.Folder)] = f.LogicalID
	}
	dir := t.TempDir()
	r, err := gdprd.NewRunner(context.Background(), gdprd.Config{DataDir: dir, Env: env(nil), Addr: "127.0.0.1:3000"}, clock.System{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	// The events name tenant demo and its keys, as `make run` creates them.
	if _, err := gdprd.EnsureDemo(context.Background(), r.Ports, dir); err != nil {
		t.Fatal(err)
	}

	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			folder, _, _ := strings.Cut(name, "-")
			fn, ok := byFolder[folder]
			if !ok {
				t.Fatalf("no function in template.yaml lives in functions/%s", folder)
			}
			kind, built := r.Kind(fn)
			if !built {
				t.Fatalf("%s has sample events but gdprd.Functions does not list it", fn)
			}
			sample, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			payload, err := gdprd.WithDemoKeys(sample, dir)
			if err != nil {
				t.Fatal(err)
			}
			out, err := r.Invoke(context.Background(), fn, payload)
			if err != nil {
				t.Fatalf("%s failed: %v", fn, err)
			}
			if !json.Valid(out) {
				t.Fatalf("%s answered with something other than JSON: %s", fn, out)
			}
			if kind == gdprd.KindHTTP {
				var resp struct {
					StatusCode int               `json:"statusCode"`
					Headers    map[string]string `json:"headers"`
					Body       string            `json:"body"`
				}
				if err := json.Unmarshal(out, &resp); err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode == 0 || resp.StatusCode >= 500 {
					t.Fatalf("%s answered %d: %s", fn, resp.StatusCode, resp.Body)
				}
				// A sample with a demo key gets past the key check: the key resolves, and its
				// role may call the route.
				keyed := strings.Contains(string(sample), gdprd.SampleSiteKey) || strings.Contains(string(sample), gdprd.SampleAdminKey)
				if keyed && (resp.StatusCode == 401 || resp.StatusCode == 403) {
					t.Fatalf("%s answered %d with the demo key: %s", fn, resp.StatusCode, resp.Body)
				}
				// The web pages answer HTML, scripts and styles (text/*); every other body is JSON.
				ct := resp.Headers["Content-Type"]
				if resp.Body != "" && !strings.HasPrefix(ct, "text/") && !json.Valid([]byte(resp.Body)) {
					t.Fatalf("%s answered a body that is not JSON (%q): %.200s", fn, ct, resp.Body)
				}
			}
		})
	}
}
