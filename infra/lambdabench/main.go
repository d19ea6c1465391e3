// Command lambdabench measures what each Lambda function costs before it does any work: the
// size of its linux/arm64 bootstrap (what AWS stores and loads) and its cold start under the
// Runtime Interface Emulator. It prints the Markdown table of BENCHMARKS.md; `make bench` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/lambdatest"
	"github.com/example/gdpr/internal/samtemplate"
)

// Goals, as BENCHMARKS.md states them.
const (
	maxSize      = 15 << 20
	maxColdStart = 50 * time.Millisecond
)

func main() {
	runs := flag.Int("runs", 7, "cold starts per function; the table shows their median and maximum")
	flag.Parse()
	if err := run(context.Background(), *runs); err != nil {
		fmt.Fprintln(os.Stderr, "lambdabench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, runs int) error {
	tpl, err := samtemplate.Parse(gdpr.Template)
	if err != nil {
		return err
	}
	root, err := lambdatest.Root(ctx)
	if err != nil {
		return err
	}
	emulator, err := lambdatest.Emulator(ctx, root)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "lambdabench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Printf("Cold start: Runtime Interface Emulator's INIT REPORT on this machine (linux/%s, %d CPUs), %d cold starts each.\n\n",
		runtime.GOARCH, runtime.NumCPU(), runs)
	fmt.Println("| function | bootstrap, linux/arm64 | cold start, median | cold start, max | goals (≤ 15 MiB, ≤ 50 ms) |")
	fmt.Println("| --- | ---: | ---: | ---: | --- |")
	for _, fn := range tpl.Functions() {
		if _, err := os.Stat(filepath.Join(root, fn.Folder)); err != nil {
			fmt.Printf("| %s | - | - | - | %s not written yet |\n", fn.LogicalID, fn.Folder)
			continue
		}
		dir := filepath.Join(tmp, fn.LogicalID)
		size, err := armSize(ctx, root, fn, dir)
		if err != nil {
			return err
		}
		colds, err := coldStarts(ctx, root, emulator, fn, dir, runs)
		if err != nil {
			return err
		}
		slices.Sort(colds)
		median, worst := colds[len(colds)/2], colds[len(colds)-1]
		verdict := "met"
		if size > maxSize || median > maxColdStart {
			verdict = "**missed**"
		}
		fmt.Printf("| %s | %.1f MiB | %.1f ms | %.1f ms | %s |\n", fn.LogicalID,
			float64(size)/(1<<20), ms(median), ms(worst), verdict)
	}
	return nil
}

func armSize(ctx context.Context, root string, fn samtemplate.Function, dir string) (int64, error) {
	bin, err := lambdatest.Build(ctx, root, "./"+fn.Folder, "arm64", filepath.Join(dir, "arm64"))
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(bin)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// coldStarts starts the function afresh runs times and gives each first invocation's init
// phase. The event is the function's first sample; init does not depend on it.
func coldStarts(ctx context.Context, root, emulator string, fn samtemplate.Function, dir string, runs int) ([]time.Duration, error) {
	bin, err := lambdatest.Build(ctx, root, "./"+fn.Folder, runtime.GOARCH, filepath.Join(dir, "host"))
	if err != nil {
		return nil, err
	}
	env, err := lambdatest.Settings(fn)
	if err != nil {
		return nil, err
	}
	event := []byte("{}")
	samples, _ := filepath.Glob(filepath.Join(root, "events", filepath.Base(fn.Folder)+"-*.json"))
	if len(samples) > 0 {
		if event, err = os.ReadFile(samples[0]); err != nil {
			return nil, err
		}
	}
	var colds []time.Duration
	for range runs {
		f, err := lambdatest.Start(ctx, emulator, bin, env)
		if err != nil {
			return nil, err
		}
		inv, err := f.Invoke(ctx, event)
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn.LogicalID, err)
		}
		if inv.Init == 0 {
			return nil, fmt.Errorf("%s: no INIT REPORT on the first invocation:\n%s", fn.LogicalID, f.Log())
		}
		colds = append(colds, inv.Init)
	}
	return colds, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
