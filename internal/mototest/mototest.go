// Package mototest starts moto_server, the AWS emulator, for tests of the AWS adapters: one
// process per call on a free loopback port, stopped when the test ends. Outside CI, when
// moto_server is not installed, tests skip with one line; under CI=true they fail instead.
package mototest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Server is one running moto_server.
type Server struct {
	// Endpoint is its base URL, e.g. http://127.0.0.1:41234.
	Endpoint string
}

// Start runs moto_server for the rest of the test (or benchmark) and returns it.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatal("moto_server not found, and CI=true requires the AWS adapter tests to run")
		}
		tb.Skip("moto_server not found: skipping AWS adapter tests (they run under CI=true)")
	}
	port, err := freePort()
	if err != nil {
		tb.Fatalf("mototest: free port: %v", err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		tb.Fatalf("mototest: start moto_server: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("mototest: moto_server did not answer on %s: %v", s.Endpoint, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// Config is an SDK configuration that sends every call to this server, whatever the
// environment says. It is built by hand, not by config.LoadDefaultConfig: the SDK lets
// AWS_ENDPOINT_URL_<SERVICE> and a profile's services section override a configured base
// endpoint, so a developer's shell could otherwise point test traffic somewhere real.
func (s *Server) Config(tb testing.TB) aws.Config {
	tb.Helper()
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(s.Endpoint),
	}
}

// Env is the environment that points config.LoadDefaultConfig (in a child process or in
// code under test) at this server. A child process must get it on top of a clean
// environment, not os.Environ(); code in the test's own process needs SetEnv.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.Endpoint,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_REGION=us-east-1",
	}
}

// SetEnv points code under test that loads its own configuration (config.LoadDefaultConfig,
// as ports.AWS does) at this server for the rest of the test, from a clean slate: every
// AWS_* variable of the process is unset first, and the shared config and credentials files
// name a file that does not exist, so neither AWS_ENDPOINT_URL_<SERVICE> nor a profile can
// send its calls elsewhere. Set a variable after SetEnv to add to it (a second server for
// SES: AWS_ENDPOINT_URL_SES).
func (s *Server) SetEnv(t testing.TB) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AWS_") {
			t.Setenv(name, "") // restores the value when the test ends
			os.Unsetenv(name)
		}
	}
	none := filepath.Join(t.TempDir(), "no-aws-config")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	for _, kv := range s.Env() {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
}

// Reset drops all state of the server.
func (s *Server) Reset(tb testing.TB) {
	tb.Helper()
	resp, err := http.Post(s.Endpoint+"/moto-api/reset", "application/json", strings.NewReader(""))
	if err != nil {
		tb.Fatalf("mototest: reset: %v", err)
	}
	resp.Body.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// SESMessage is what moto keeps of one SendEmail call. Body is the HTML part when the message
// has one, else the text.
type SESMessage struct {
	ID      string
	Source  string
	To      []string
	Subject string
	Body    string
}

// SESMessages reads back every message sent through this server's SES. TOOLING.md: after an
// S3 multipart upload moto answers 500 here until reset, so read mail from a server that does
// not also hold exports.
func (s *Server) SESMessages(tb testing.TB) []SESMessage {
	tb.Helper()
	resp, err := http.Get(s.Endpoint + "/moto-api/data.json")
	if err != nil {
		tb.Fatalf("mototest: data.json: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("mototest: data.json: status %d", resp.StatusCode)
	}
	var data struct {
		SES struct {
			Message []struct {
				ID           string `json:"id"`
				Source       string `json:"source"`
				Subject      string `json:"subject"`
				Body         string `json:"body"`
				Destinations struct {
					ToAddresses []string `json:"ToAddresses"`
				} `json:"destinations"`
			} `json:"Message"`
		} `json:"ses"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&data); err != nil {
		tb.Fatalf("mototest: data.json: %v", err)
	}
	out := make([]SESMessage, 0, len(data.SES.Message))
	for _, m := range data.SES.Message {
		out = append(out, SESMessage{ID: m.ID, Source: m.Source, To: m.Destinations.ToAddresses, Subject: m.Subject, Body: m.Body})
	}
	return out
}
