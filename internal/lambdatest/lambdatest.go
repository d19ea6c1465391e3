// Package lambdatest runs the project's Lambda functions as AWS runs them, without Docker: the
// real bootstrap binary behind the Lambda Runtime Interface Emulator, the version go.mod pins.
package lambdatest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// emulatorTool is the tool go.mod pins (go get -tool).
const emulatorTool = "aws-lambda-rie"

// Root returns the module's root folder, where go.mod, events/ and functions/ are.
func Root(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("lambdatest: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("lambdatest: not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

// Emulator returns the path of the Runtime Interface Emulator's binary. `go tool -n` builds
// it once into Go's build cache and prints where it is, so later calls cost nothing.
func Emulator(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "tool", "-n", emulatorTool)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("lambdatest: build %s: %w%s", emulatorTool, err, stderrOf(err))
	}
	return strings.TrimSpace(string(out)), nil
}

// Build compiles the main package pkg (relative to root, e.g. "./functions/meta") the way the
// Makefile builds it for AWS, for linux on arch ("arm64" for AWS, runtime.GOARCH to run it
// here), and returns the path of dir/bootstrap.
func Build(ctx context.Context, root, pkg, arch, dir string) (string, error) {
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath",
		"-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	if _, err := cmd.Output(); err != nil {
		return "", fmt.Errorf("lambdatest: build %s: %w%s", pkg, err, stderrOf(err))
	}
	return out, nil
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return "\n" + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// BaseEnv is the environment every function starts with, before its own settings. It is not
// inherited from this process: a developer's AWS credentials must never reach a function
// under test, and an AWS call nobody pointed elsewhere fails at once, without retries, on a
// closed loopback port instead of reaching AWS.
var BaseEnv = []string{
	"PATH=/usr/local/bin:/usr/bin:/bin",
	"TZ=UTC",
	"AWS_REGION=us-east-1",
	"AWS_ACCESS_KEY_ID=test",
	"AWS_SECRET_ACCESS_KEY=test",
	"AWS_EC2_METADATA_DISABLED=true",
	"AWS_ENDPOINT_URL=http://127.0.0.1:9",
	"AWS_MAX_ATTEMPTS=1",
}

// Function is one bootstrap running under the emulator.
type Function struct {
	url  string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}

	mu      sync.Mutex // serializes invocations, as one Lambda execution environment does
	invoked int
}

// Start runs bootstrap under the emulator, both on free loopback ports (the emulator's own
// default, 0.0.0.0:8080 for invocations and 127.0.0.1:9001 for the runtime API, would clash
// between tests), with BaseEnv and then env. The caller must Close it.
func Start(ctx context.Context, emulator, bootstrap string, env []string) (*Function, error) {
	invokeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	runtimeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	f := &Function{
		url:  "http://" + invokeAddr + "/2015-03-31/functions/function/invocations",
		log:  &syncBuffer{},
		done: make(chan struct{}),
	}
	// --log-level: the emulator would otherwise take a level from its environment,
	// and at WARN or above it drops the INIT and REPORT lines the durations come from.
	f.cmd = exec.Command(emulator, "--log-level", "info",
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", runtimeAddr,
		bootstrap)
	f.cmd.Dir = filepath.Dir(bootstrap)
	f.cmd.Env = append(append([]string{}, BaseEnv...), env...)
	f.cmd.Stdout, f.cmd.Stderr = f.log, f.log
	if err := f.cmd.Start(); err != nil {
		return nil, fmt.Errorf("lambdatest: start emulator: %w", err)
	}
	go func() {
		_ = f.cmd.Wait()
		close(f.done)
	}()
	if err := f.waitListening(ctx, invokeAddr); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("lambdatest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (f *Function) waitListening(ctx context.Context, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-f.done:
			return fmt.Errorf("lambdatest: emulator exited at start:\n%s", f.Log())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lambdatest: emulator not listening on %s: %w", addr, err)
		}
	}
}

// Invocation is the outcome of one event.
type Invocation struct {
	// Payload is what the handler returned, as JSON; for a handler error, the error document.
	Payload json.RawMessage
	// Err is set when the handler returned an error (Lambda answers 200 all the same).
	Err *HandlerError
	// Init is the runtime's init phase, from process start to its first request for work:
	// the cold start. Zero on warm invocations.
	Init time.Duration
	// Duration is the invocation as the emulator's REPORT line gives it.
	Duration time.Duration
	// Elapsed is the round trip seen by the caller, init included on a cold start.
	Elapsed time.Duration
}

// HandlerError is an error a handler returned.
type HandlerError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *HandlerError) Error() string { return e.Type + ": " + e.Message }

var (
	initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	report     = regexp.MustCompile(`(?m)^REPORT RequestId: \S+.*?\tDuration: ([0-9.]+) ms`)
)

// Invoke sends one event and waits for the answer and the emulator's report of it.
func (f *Function) Invoke(ctx context.Context, event []byte) (Invocation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(event))
	if err != nil {
		return Invocation{}, fmt.Errorf("lambdatest: %w", err)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Invocation{}, fmt.Errorf("lambdatest: invoke: %w\n%s", err, f.Log())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Invocation{}, fmt.Errorf("lambdatest: read answer: %w", err)
	}
	inv := Invocation{Payload: body, Elapsed: time.Since(start)}
	if resp.StatusCode != http.StatusOK {
		return inv, fmt.Errorf("lambdatest: emulator answered %s: %s\n%s", resp.Status, body, f.Log())
	}
	inv.Err = handlerError(body)
	f.invoked++

	// The REPORT line is written after the answer, so wait for it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		log := f.Log()
		reports := report.FindAllStringSubmatch(log, -1)
		if len(reports) >= f.invoked {
			inv.Duration = millis(reports[f.invoked-1][1])
			if f.invoked == 1 {
				if m := initReport.FindStringSubmatch(log); m != nil {
					inv.Init = millis(m[1])
				}
			}
			return inv, nil
		}
		if time.Now().After(deadline) {
			return inv, fmt.Errorf("lambdatest: no REPORT line for invocation %d:\n%s", f.invoked, log)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// handlerError recognizes the error document the runtime sends for a handler's error: an
// object with exactly errorMessage and errorType (plus an optional stackTrace).
func handlerError(body []byte) *HandlerError {
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		return nil
	}
	delete(doc, "stackTrace")
	_, hasType := doc["errorType"]
	_, hasMessage := doc["errorMessage"]
	if len(doc) != 2 || !hasType || !hasMessage {
		return nil
	}
	var e HandlerError
	if json.Unmarshal(body, &e) != nil {
		return nil
	}
	return &e
}

func millis(s string) time.Duration {
	ms, _ := strconv.ParseFloat(s, 64) // the regexp admits only digits and dots
	return time.Duration(ms * float64(time.Millisecond))
}

// Log returns everything the emulator and the function wrote so far.
func (f *Function) Log() string { return f.log.String() }

// Close stops the emulator. SIGTERM lets it stop the bootstrap too; SIGKILL would orphan it.
func (f *Function) Close() error {
	select {
	case <-f.done:
		return nil
	default:
	}
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.done
	}
	return nil
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
