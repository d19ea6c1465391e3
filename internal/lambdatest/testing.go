package lambdatest

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Found once per test binary.
var (
	rootOnce = sync.OnceValues(func() (string, error) { return Root(context.Background()) })
	rieOnce  = sync.OnceValues(func() (string, error) {
		root, err := rootOnce()
		if err != nil {
			return "", err
		}
		return Emulator(context.Background(), root)
	})
)

func moduleRoot(tb testing.TB) string {
	tb.Helper()
	root, err := rootOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

func emulator(tb testing.TB) string {
	tb.Helper()
	bin, err := rieOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}

// Run builds the template's function logicalID for this machine and starts it under the
// emulator, with a sample value for every environment variable the template gives it, for
// the rest of the test. While the function's folder does not exist yet the test skips, except
// under CI=true, where it fails.
func Run(tb testing.TB, logicalID string) *Function {
	tb.Helper()
	fn, err := TemplateFunction(logicalID)
	if err != nil {
		tb.Fatal(err)
	}
	root := moduleRoot(tb)
	if _, err := os.Stat(filepath.Join(root, fn.Folder)); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s: %v, and CI=true requires every function of template.yaml", logicalID, err)
		}
		tb.Skipf("%s: %s does not exist yet", logicalID, fn.Folder)
	}
	env, err := Settings(fn)
	if err != nil {
		tb.Fatal(err)
	}
	return RunPackage(tb, "./"+fn.Folder, env)
}

// RunPackage builds the main package pkg (relative to the module root) for this machine and
// starts it under the emulator with env, for the rest of the test.
func RunPackage(tb testing.TB, pkg string, env []string) *Function {
	tb.Helper()
	ctx := context.Background()
	bootstrap, err := Build(ctx, moduleRoot(tb), pkg, runtime.GOARCH, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	f, err := Start(ctx, emulator(tb), bootstrap, env)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = f.Close()
		if tb.Failed() {
			tb.Logf("emulator log of %s:\n%s", pkg, f.Log())
		}
	})
	return f
}

// Event reads events/<name>.json.
func Event(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(tb), "events", name+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
