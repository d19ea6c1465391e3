package sites_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/sites"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
)

// docs is the page that sites' developers read; its receiver and test vectors are tested here.
const docs = "../../docs/sites.md"

type vector struct {
	secret, id, body, signature string
	timestamp                   int64
}

// vectors reads the test vectors table of docs/sites.md.
func vectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile(docs)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(whsec_[^`]+)` \\| `([^`]+)` \\| `([0-9]+)` \\| `([^`]+)` \\| `(v1,[^`]+)` \\|$")
	var vs []vector
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		ts, _ := strconv.ParseInt(m[3], 10, 64)
		vs = append(vs, vector{secret: m[1], id: m[2], timestamp: ts, body: m[4], signature: m[5]})
	}
	if len(vs) < 2 {
		t.Fatalf("%s: %d test vectors found", docs, len(vs))
	}
	return vs
}

// TestVectors: the documented signatures are what Sign computes.
func TestVectors(t *testing.T) {
	for _, v := range vectors(t) {
		got, err := sites.Sign(v.secret, v.id, v.timestamp, []byte(v.body))
		if err != nil || got != v.signature {
			t.Errorf("Sign(%s) = %q, %v; the page says %q", v.id, got, err, v.signature)
		}
	}
}

// php finds php-cli: required under CI=true, else the test skips.
func php(t *testing.T) string {
	path, err := exec.LookPath("php")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("php-cli is not installed, and CI=true requires it (apt-get install -y php-cli)")
		}
		t.Skip("SKIP php-cli not installed (apt-get install -y php-cli); CI=true requires it")
	}
	return path
}

// receiverPHP writes the page's receiver to dir and returns its path.
func receiverPHP(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(docs)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- receiver.php -->\n```php\n")
	code, _, ok2 := strings.Cut(rest, "\n```\n")
	if !ok || !ok2 {
		t.Fatalf("%s has no receiver.php block", docs)
	}
	path := filepath.Join(dir, "receiver.php")
	if err := os.WriteFile(path, []byte(code+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPHPReceiver runs the page's PHP receiver: the documented vectors verify (and fail
// when changed or stale), it accepts a delivery from the service, acts on it once when it
// comes again, and refuses a tampered or replayed-late call.
func TestPHPReceiver(t *testing.T) {
	bin := php(t)
	dir := t.TempDir()
	receiver := receiverPHP(t, dir)

	// The vectors, through gdpr_verify, on the command line.
	var script strings.Builder
	fmt.Fprintf(&script, "<?php require %q;\n", receiver)
	for _, v := range vectors(t) {
		for _, c := range []struct {
			id, body string
			now      int64
			want     bool
		}{
			{v.id, v.body, v.timestamp, true},
			{v.id, v.body, v.timestamp + 299, true},
			{v.id, v.body + " ", v.timestamp, false},
			{v.id + "x", v.body, v.timestamp, false},
			{v.id, v.body, v.timestamp + 301, false},
		} {
			fmt.Fprintf(&script, "echo gdpr_verify(%s, %s, '%d', %s, %s, %d) ? \"1\" : \"0\";\n",
				phpString(v.secret), phpString(c.id), v.timestamp, phpString(v.signature), phpString(c.body), c.now)
		}
	}
	out, err := exec.Command(bin, "-r", strings.TrimPrefix(script.String(), "<?php ")).CombinedOutput()
	if err != nil {
		t.Fatalf("php: %v\n%s", err, out)
	}
	if want := strings.Repeat("11000", len(vectors(t))); string(out) != want {
		t.Fatalf("gdpr_verify of the vectors = %s, want %s", out, want)
	}

	// The receiver behind php's own web server, told of an erasure by the service.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := newEnv(t, sqlitetest.MustOpen(t))
	e.clock.Reset() // the receiver checks the call's timestamp against the real clock
	_, secret := e.register(t, "php.example.org", "http://"+addr+"/", sites.Erasure)
	seen := filepath.Join(dir, "seen")
	if err := os.Mkdir(seen, 0o700); err != nil {
		t.Fatal(err)
	}
	actions := filepath.Join(dir, "actions.log")
	// The site's own change records what it was told; the page's receiver does the rest.
	router := filepath.Join(dir, "router.php")
	os.WriteFile(router, []byte(fmt.Sprintf("<?php function gdpr_act(array $e): void { file_put_contents(%s, $e['type'] . ' ' . $e['subject_id'] . \"\\n\", FILE_APPEND); }\nrequire %s;\n", phpString(actions), phpString(receiver))), 0o600)
	cmd := exec.Command(bin, "-S", addr, router)
	cmd.Env = append(os.Environ(), "GDPR_WEBHOOK_SECRET="+secret, "GDPR_SEEN_DIR="+seen)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("php -S did not listen: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	r := e.processing(t, dsr.Erasure, dsr.Input{})
	if detail, err := e.svc.Deliver(t.Context(), r); err != nil {
		t.Fatalf("Deliver to the PHP receiver = %v (%+v)\n%s", err, e.deliveries(t, r.ID, 1), logs.String())
	} else if detail != "1 sites confirmed" {
		t.Fatalf("Deliver = %q", detail)
	}
	if b, _ := os.ReadFile(actions); string(b) != "subject.erasure u-42\n" {
		t.Fatalf("the receiver did %q\n%s", b, logs.String())
	}

	post := func(id string, ts int64, sig, body string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	now := time.Now().Unix()
	body := `{"type":"subject.erasure","request_id":"` + r.ID + `","tenant":"` + e.tenant + `","subject_id":"u-7","data":{}}`
	sig, _ := sites.Sign(secret, "msg_tampered", now, []byte(body))
	if got := post("msg_tampered", now, sig, strings.Replace(body, "u-7", "u-8", 1)); got != http.StatusUnauthorized {
		t.Errorf("a tampered body: HTTP %d, want 401", got)
	}
	other, _ := sites.Sign(sites.NewSecret(), "msg_tampered", now, []byte(body))
	if got := post("msg_tampered", now, other, body); got != http.StatusUnauthorized {
		t.Errorf("another secret's signature: HTTP %d, want 401", got)
	}
	late, _ := sites.Sign(secret, "msg_late", now-3600, []byte(body))
	if got := post("msg_late", now-3600, late, body); got != http.StatusUnauthorized {
		t.Errorf("an hour-old call: HTTP %d, want 401", got)
	}
	if got := post("msg_tampered", now, sig, body); got != http.StatusOK {
		t.Errorf("the untampered call: HTTP %d, want 200", got)
	}
	if got := post("msg_tampered", now, sig, body); got != http.StatusOK {
		t.Errorf("the same call again: HTTP %d, want 200", got)
	}
	if b, _ := os.ReadFile(actions); string(b) != "subject.erasure u-42\nsubject.erasure u-7\n" {
		t.Fatalf("after the refused and repeated calls the receiver did %q", b)
	}
}

// phpString quotes s as a PHP single-quoted string.
func phpString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
