package webtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/tenant"
)

// server is gdprd on SQLite in a temporary folder, on a free loopback port.
type server struct {
	t    *testing.T
	url  string
	keys tenant.Keys
}

func startServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := gdprd.New(ctx, gdprd.Config{
		Addr: "127.0.0.1:0", DataDir: dir, Env: func(string) string { return "" }, Poll: 20 * time.Millisecond,
	})
	if err != nil {
		cancel()
		t.Fatalf("gdprd: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gdprd Run: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Error("gdprd did not stop")
		}
	})
	keys, err := gdprd.ReadCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &server{t: t, url: s.URL(), keys: keys}
}

// call sends one API request and decodes a JSON answer into out (when not nil); it fails
// the test unless the status is want.
func (s *server) call(method, path, key string, body any, want int, out any) {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// subject gives a subject consent and a profile, so that it has data to export and erase.
func (s *server) subject(id, email string) {
	s.t.Helper()
	s.call("POST", "/v1/consents", s.keys.SiteKey, map[string]any{
		"subject_id": id, "email": email, "policy_version": "2026-01", "method": "web_form",
		"purposes": map[string]bool{"terms": true, "rba": true, "marketing": false},
	}, http.StatusCreated, nil)
	s.call("PUT", "/v1/subjects/"+id+"/profile", s.keys.SiteKey, map[string]any{
		"first_name": "Ann", "last_name": "Example", "email": email, "phone": "+44 20 7946 0000",
	}, http.StatusOK, nil)
}

type mail struct {
	ID      string `json:"id"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
}

func (s *server) outbox() []mail {
	s.t.Helper()
	var m []mail
	s.call("GET", "/_local/outbox", "", nil, http.StatusOK, &m)
	return m
}

var codeLine = regexp.MustCompile(`Verification code: (\S+)`)

// code waits (at most 10 s) for a verification email to addr not in seen, and returns its code.
func (s *server) code(addr string) string {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range s.outbox() { // newest first
			if m.To == addr {
				if c := codeLine.FindStringSubmatch(m.Text); c != nil {
					return c[1]
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("no verification email to %s", addr)
	return ""
}

// mailTo waits (at most 10 s) for an email to addr whose text contains want.
func (s *server) mailTo(addr, want string) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range s.outbox() {
			if m.To == addr && strings.Contains(m.Text, want) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("no email to %s saying %q", addr, want)
}

// setClock moves the server's clock (the zero time: back to the real one).
func (s *server) setClock(at time.Time) {
	s.t.Helper()
	var body any = map[string]any{"now": nil}
	if !at.IsZero() {
		body = map[string]any{"now": at.UTC().Format(time.RFC3339)}
	}
	s.call("POST", "/_local/clock", "", body, http.StatusOK, nil)
}
