package gdprd_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/gdprd"
)

// A gdprd left running is safe against a client on the same machine or a web page the
// developer visits: slow clients are cut off, /_local/* answers only the machine itself, and
// bodies a cross-site form can send are refused.

// dial opens a raw connection to the server, closed at the end of the test.
func dial(t *testing.T, s *testServer) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads c until the server closes it and fails unless that happens within d.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(d))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection is still open after %v", d)
	}
	return time.Since(start)
}

func TestSlowClientsCutOff(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := start(t, gdprd.Config{ReadTimeout: timeout, IdleTimeout: timeout})

	t.Run("TrickledBody", func(t *testing.T) {
		c := dial(t, s)
		// 1000 bytes announced, one sent every 20 ms: 20 s if the server waited for them all.
		if _, err := io.WriteString(c, "POST /v1/public/demo/requests HTTP/1.1\r\nHost: 127.0.0.1\r\n"+
			"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for range 1000 {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}()
		closedWithin(t, c, 10*timeout)
		if took := time.Since(start); took < timeout/2 {
			t.Fatalf("closed after %v, before the read timeout", took)
		}
	})

	t.Run("IdleKeepAlive", func(t *testing.T) {
		c := dial(t, s)
		if _, err := io.WriteString(c, "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("status %d, close %v: want a kept-alive 200", resp.StatusCode, resp.Close)
		}
		start := time.Now()
		c.SetReadDeadline(start.Add(10 * timeout))
		if _, err := io.Copy(io.Discard, br); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("an idle keep-alive connection is still open after %v", 10*timeout)
		}
	})
}

// localCall sends a request to the server with the given Host and headers.
func localCall(t *testing.T, s *testServer, method, path, host, body string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if header != nil {
		req.Header = header.Clone()
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if host != "" {
		req.Host = host
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
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func TestLocalRoutesOnlyForThisMachine(t *testing.T) {
	s := start(t, gdprd.Config{})
	c := localClient(t, s)
	// A request whose code is in the outbox: what a rebinding page would read.
	c.submit(t, "access", "ann@example.org")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL(), "http://"))
	own := "http://" + strings.TrimPrefix(s.URL(), "http://")

	refused := []struct {
		name, host string
		header     http.Header
	}{
		{"RebindingHost", "attacker.example:" + port, nil},
		{"RebindingHostNoPort", "attacker.example", nil},
		{"PrivateAddress", "192.168.1.10:" + port, nil},
		{"LocalhostSuffix", "localhost.attacker.example:" + port, nil},
		{"ForeignOrigin", "", http.Header{"Origin": {"http://attacker.example"}}},
		{"OtherLocalOrigin", "", http.Header{"Origin": {"http://localhost:" + port}}},
		{"NullOrigin", "", http.Header{"Origin": {"null"}}},
		{"CrossSiteFetch", "", http.Header{"Sec-Fetch-Site": {"cross-site"}}},
	}
	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			for _, call := range []struct{ method, path, body string }{
				{"GET", "/_local/outbox", ""},
				{"POST", "/_local/clock", `{"now":"2031-01-01T00:00:00Z"}`},
				{"POST", "/_local/jobs/retention", ""},
				{"GET", "/_local/objects/anything", ""},
			} {
				got := localCall(t, s, call.method, call.path, r.host, call.body, r.header)
				if got.status != http.StatusForbidden || !strings.Contains(string(got.body), `"code":"local_only"`) ||
					got.header.Get("Content-Type") != "application/problem+json" || got.header.Get("X-Request-Id") == "" {
					t.Fatalf("%s %s: %d %s, want 403 local_only problem+json", call.method, call.path, got.status, got.body)
				}
			}
		})
	}
	if now := s.Ports().Clock.Now(); now.Year() == 2031 {
		t.Fatal("a refused call set the clock")
	}

	for _, r := range []struct {
		name, host string
		header     http.Header
	}{
		{"Loopback", "", nil},
		{"Localhost", "localhost:" + port, nil},
		{"IPv6Loopback", "[::1]:" + port, nil},
		{"OwnOrigin", "", http.Header{"Origin": {own}, "Sec-Fetch-Site": {"same-origin"}}},
	} {
		t.Run(r.name, func(t *testing.T) {
			if got := localCall(t, s, "GET", "/_local/outbox", r.host, "", r.header); got.status != http.StatusOK {
				t.Fatalf("%d %s", got.status, got.body)
			}
		})
	}
	t.Run("APIUnderAnyHost", func(t *testing.T) {
		if got := localCall(t, s, "GET", "/v1/health", "gdpr.example.org", "", http.Header{"Origin": {"https://gdpr.example.org"}}); got.status != http.StatusOK {
			t.Fatalf("%d %s", got.status, got.body)
		}
	})
}

// A cross-site form or text/plain POST is a "simple" request a browser sends without asking:
// JSON routes refuse it, nothing done.
func TestCrossSiteBodiesRefused(t *testing.T) {
	s := start(t, gdprd.Config{})
	c := localClient(t, s)
	path := c.url + "/v1/public/" + c.keys.Tenant + "/requests"
	for _, ct := range []string{"application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"} {
		r := callHeader(t, "POST", path, "", []byte(`{"type":"access","email":"ann@example.org"}`), http.Header{"Content-Type": {ct}})
		r.code(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
	}
	if sent := c.mail(t); len(sent) != 0 {
		t.Fatalf("%d messages sent for refused requests", len(sent))
	}
	r := patchSettings(t, c.url, c.keys.AdminKey, `{"notice_period_days":40}`)
	r.must(t, http.StatusOK, nil)
	r = callHeader(t, "PATCH", c.url+"/v1/tenant", c.keys.AdminKey, []byte(`{"notice_period_days":41}`), nil)
	r.code(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
}

// RFC 9112 §6.3: a request with both Content-Length and Transfer-Encoding is refused and its
// connection closed, so nothing after it on the connection is read as a request.
func TestAmbiguousLengthClosesConnection(t *testing.T) {
	s := start(t, gdprd.Config{})
	const next = "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
	chunkedBody := "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
	post := "POST /_local/clock HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"

	t.Run("Both", func(t *testing.T) {
		c := dial(t, s)
		if _, err := io.WriteString(c, post+"Content-Length: 2\r\n"+chunkedBody+next); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !resp.Close {
			t.Fatalf("status %d, close %v: want 400 and Connection: close", resp.StatusCode, resp.Close)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, err := io.ReadAll(br)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the connection is still open")
		}
		if len(rest) != 0 {
			t.Fatalf("the request after it was answered: %q", rest)
		}
	})

	// Chunked alone is a well-formed request: answered, the connection kept, and the request
	// after it answered too (the framing is followed, not guessed).
	t.Run("ChunkedOnly", func(t *testing.T) {
		c := dial(t, s)
		if _, err := io.WriteString(c, post+chunkedBody+next); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for _, want := range []int{http.StatusOK, http.StatusOK} {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want || resp.Close {
				t.Fatalf("status %d, close %v: want %d, kept alive", resp.StatusCode, resp.Close, want)
			}
		}
	})
}
