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
	// maxRatio bounds a function's cold start against the echo handler's: what our main does
	// before lambda.Start may cost at most half again what the runtime costs alone.
	maxRatio = 1.5
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

	fmt.Printf("Cold start: Runtime Interface Emulator's INIT REPORT on this machine (linux/%s, %d CPUs), %d cold starts each;\n", runtime.GOARCH, runtime.NumCPU(), runs)
	fmt.Printf("ratio: the function's median cold start over the echo handler's in this run; first call: the first invocation's duration, median.\n\n")
	fmt.Println("| function | bootstrap, linux/arm64 | cold start, median | cold start, max | ratio to echo | first call, median | goals (≤ 15 MiB, ≤ 50 ms, ≤ 1.5× echo) |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
	// The floor: the smallest aws-lambda-go handler, measured the same way in the same run.
	echo := samtemplate.Function{LogicalID: "echo", Folder: echoFolder}
	base, err := measure(ctx, root, emulator, echo, filepath.Join(tmp, "echo"), runs, []byte(`{"n":1}`))
	if err != nil {
		return err
	}
	base.print(base)
	for _, fn := range tpl.Functions() {
		if _, err := os.Stat(filepath.Join(root, fn.Folder)); err != nil {
			fmt.Printf("| %s | - | - | - | - | - | %s not written yet |\n", fn.LogicalID, fn.Folder)
			continue
		}
		event, err := sampleEvent(root, fn)
		if err != nil {
			return err
		}
		m, err := measure(ctx, root, emulator, fn, filepath.Join(tmp, fn.LogicalID), runs, event)
		if err != nil {
			return err
		}
		m.print(base)
	}
	return nil
}

// echoFolder is the smallest aws-lambda-go handler, the floor every function is compared to.
const echoFolder = "internal/lambdatest/testdata/echo"

// measurement is one function's figures.
type measurement struct {
	id                   string
	size                 int64
	median, worst, first time.Duration
}

func measure(ctx context.Context, root, emulator string, fn samtemplate.Function, dir string, runs int, event []byte) (measurement, error) {
	size, err := armSize(ctx, root, fn, dir)
	if err != nil {
		return measurement{}, err
	}
	colds, firsts, err := coldStarts(ctx, root, emulator, fn, dir, runs, event)
	if err != nil {
		return measurement{}, err
	}
	slices.Sort(colds)
	slices.Sort(firsts)
	return measurement{id: fn.LogicalID, size: size, median: colds[len(colds)/2], worst: colds[len(colds)-1], first: firsts[len(firsts)/2]}, nil
}

func (m measurement) print(echo measurement) {
	ratio := float64(m.median) / float64(echo.median)
	verdict := "met"
	if m.size > maxSize || m.median > maxColdStart || ratio > maxRatio {
		verdict = "**missed**"
	}
	fmt.Printf("| %s | %.1f MiB | %.1f ms | %.1f ms | %.2f | %.1f ms | %s |\n", m.id,
		float64(m.size)/(1<<20), ms(m.median), ms(m.worst), ratio, ms(m.first), verdict)
}

// sampleEvent is the function's first sample event; init does not depend on it.
func sampleEvent(root string, fn samtemplate.Function) ([]byte, error) {
	samples, _ := filepath.Glob(filepath.Join(root, "events", filepath.Base(fn.Folder)+"-*.json"))
	if len(samples) == 0 {
		return []byte("{}"), nil
	}
	return os.ReadFile(samples[0])
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
// phase and its duration.
func coldStarts(ctx context.Context, root, emulator string, fn samtemplate.Function, dir string, runs int, event []byte) (colds, firsts []time.Duration, err error) {
	bin, err := lambdatest.Build(ctx, root, "./"+fn.Folder, runtime.GOARCH, filepath.Join(dir, "host"))
	if err != nil {
		return nil, nil, err
	}
	env, err := lambdatest.Settings(fn)
	if err != nil {
		return nil, nil, err
	}
	for range runs {
		f, err := lambdatest.Start(ctx, emulator, bin, env)
		if err != nil {
			return nil, nil, err
		}
		inv, err := f.Invoke(ctx, event)
		_ = f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", fn.LogicalID, err)
		}
		if inv.Init == 0 {
			return nil, nil, fmt.Errorf("%s: no INIT REPORT on the first invocation:\n%s", fn.LogicalID, f.Log())
		}
		colds = append(colds, inv.Init)
		firsts = append(firsts, inv.Duration)
	}
	return colds, firsts, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
