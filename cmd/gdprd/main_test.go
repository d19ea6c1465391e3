package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/home"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/tenant"
)

// syncBuffer is written by the server and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSIGTERM starts the server as `make run` does and stops it with SIGTERM: it exits
// cleanly, and the database it leaves opens with what it wrote.
func TestSIGTERM(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PORT", "0")
	t.Setenv("GDPR_DATA_DIR", dir)
	t.Setenv("TABLE_NAME", "")
	t.Setenv("AWS_LAMBDA_LOG_LEVEL", "ERROR")
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(nil, out) }()

	addr := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	var url string
	deadline := time.Now().Add(30 * time.Second)
	for url == "" {
		if m := addr.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("gdprd stopped at start: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no address in the banner:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get(url + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health = %d", resp.StatusCode)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("gdprd exited with %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("gdprd did not stop on SIGTERM")
	}

	db := sqlitetest.MustOpenFile(t, filepath.Join(dir, home.DatabaseFile))
	if _, err := (tenant.Store{Table: db, Clock: clock.System{}}).Get(context.Background(), gdprd.DemoTenant); err != nil {
		t.Fatalf("demo tenant not in the database after shutdown: %v", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	if err := run([]string{"frobnicate"}, &bytes.Buffer{}); err == nil {
		t.Fatal("no error for an unknown command")
	}
}

func TestInvoke(t *testing.T) {
	t.Setenv("GDPR_DATA_DIR", t.TempDir())
	t.Setenv("TABLE_NAME", "")
	var out bytes.Buffer
	if err := run([]string{"invoke", "-function", "MetaFunction", "-event", "../../events/meta-health.json"}, &out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`"statusCode":200`).Match(out.Bytes()) {
		t.Fatalf("answer = %s", out.String())
	}
	// On a fresh data folder the sample events' tenant exists, as it does under make run.
	out.Reset()
	if err := run([]string{"invoke", "-function", "ConsentFunction", "-event", "../../events/consent-post.json"}, &out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`"statusCode":201`).Match(out.Bytes()) {
		t.Fatalf("consent-post answer = %s", out.String())
	}
	if err := run([]string{"invoke", "-function", "NoFunction", "-event", "../../events/meta-health.json"}, &out); err == nil {
		t.Fatal("no error for an unknown function")
	}
	if err := run([]string{"invoke", "-function", "MetaFunction"}, &out); err == nil {
		t.Fatal("no error without -event")
	}
}
