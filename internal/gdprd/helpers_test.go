package gdprd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/tenant"
)

// testServer is a gdprd running in process on a free loopback port.
type testServer struct {
	*gdprd.Server
	dir    string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// env is a fixed environment for the server under test.
func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func start(t testing.TB, cfg gdprd.Config) *testServer {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Env == nil {
		cfg.Env = env(nil)
	}
	if cfg.Poll == 0 {
		cfg.Poll = 20 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := gdprd.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("gdprd.New: %v", err)
	}
	ts := &testServer{Server: s, dir: cfg.DataDir, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Run(ctx) }()
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// stop shuts the server down as SIGTERM does and waits for Run to return.
func (ts *testServer) stop(t testing.TB) {
	t.Helper()
	ts.once.Do(func() {
		ts.cancel()
		select {
		case err := <-ts.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Fatal("gdprd did not stop")
		}
	})
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body is not JSON (%v): %s", err, r.body)
	}
}

// problem checks a problem+json answer and returns its code.
func (r response) problem(t *testing.T, status int) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if got, want := r.header.Get("Content-Type"), "application/problem+json"; got != want {
		t.Fatalf("content type = %q, want %q", got, want)
	}
	var p struct {
		Type, Title, Detail, Code string
		Status                    int
	}
	r.json(t, &p)
	if p.Status != status || p.Code == "" || p.Type == "" || p.Title == "" {
		t.Fatalf("problem body incomplete: %s", r.body)
	}
	return p.Code
}

// call sends a request; every answer must carry X-Request-Id and keep to openapi.yaml.
func call(t *testing.T, method, url, key string, body []byte) response {
	t.Helper()
	return callHeader(t, method, url, key, body, nil)
}

// callHeader is call with more request headers.
func callHeader(t *testing.T, method, url, key string, body []byte, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if header != nil {
		req.Header = header.Clone()
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("%s %s: no X-Request-Id", method, url)
	}
	if err := checkContract(req, resp.StatusCode, resp.Header, b); err != nil {
		t.Errorf("the answer drifts from openapi.yaml: %v; body %s", err, b)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func credentials(t testing.TB, dir string) tenant.Keys {
	t.Helper()
	k, err := gdprd.ReadCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// withoutStreams is every function but the stream-triggered ones: nothing acts on the change
// feed, so tests of the states before fulfilment see them stay.
func withoutStreams() []gdprd.Function {
	var fns []gdprd.Function
	for _, f := range gdprd.Functions {
		if f.Stream == nil {
			fns = append(fns, f)
		}
	}
	return fns
}

// onPorts is every function, each built on the ports change makes of the server's.
func onPorts(change func(p ports.Ports) ports.Ports) []gdprd.Function {
	fns := make([]gdprd.Function, len(gdprd.Functions))
	for i, f := range gdprd.Functions {
		switch {
		case f.HTTP != nil:
			build := f.HTTP
			f.HTTP = func(p *ports.Ports) (lambdamain.HTTPHandler, error) { q := change(*p); return build(&q) }
		case f.Stream != nil:
			build := f.Stream
			f.Stream = func(p *ports.Ports) (lambdamain.StreamHandler, error) { q := change(*p); return build(&q) }
		case f.Schedule != nil:
			build := f.Schedule
			f.Schedule = func(p *ports.Ports) (lambdamain.ScheduleHandler, error) { q := change(*p); return build(&q) }
		case f.Event != nil:
			build := f.Event
			f.Event = func(p *ports.Ports) (lambdamain.EventHandler, error) { q := change(*p); return build(&q) }
		}
		fns[i] = f
	}
	return fns
}
