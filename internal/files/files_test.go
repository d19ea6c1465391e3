package files_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/files"
	"github.com/example/gdpr/internal/objects"
	"github.com/example/gdpr/internal/objects/objectstest"
)

var secret = bytes.Repeat([]byte("s"), files.MinSecretLength)

// server is a store in a temporary folder, served by an HTTP test server as gdprd serves it.
type server struct {
	*files.Store
	dir string
	clk *clock.Settable
	srv *httptest.Server
}

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{dir: filepath.Join(t.TempDir(), "exports"), clk: &clock.Settable{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/_local/objects/", func(w http.ResponseWriter, r *http.Request) { s.ServeHTTP(w, r) })
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	st, err := files.New(s.dir, s.srv.URL+"/", secret, s.clk)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.Store = st
	return s
}

func TestConformance(t *testing.T) {
	objectstest.Run(t, func(t *testing.T) objects.Store { return newServer(t) })
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		base   string
		secret []byte
	}{
		"ShortSecret":   {"http://127.0.0.1:3000", secret[1:]},
		"RelativeURL":   {"/files", secret},
		"NotHTTP":       {"ftp://127.0.0.1", secret},
		"URLWithQuery":  {"http://127.0.0.1:3000/?a=b", secret},
		"UnparsableURL": {"http://[::1", secret},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := files.New(dir, tc.base, tc.secret, clock.System{}); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestPut(t *testing.T) {
	ctx := context.Background()

	t.Run("StreamsWithoutBuffering", func(t *testing.T) {
		s := newServer(t)
		const size = 50 << 20
		want := sha256.New()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if err := s.Put(ctx, "big/export.zip", "application/zip", io.TeeReader(objectstest.Stream(size), want)); err != nil {
			t.Fatalf("Put: %v", err)
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > size/20 {
			t.Fatalf("Put allocated %d bytes for a %d byte object: it buffers", grew, size)
		}
		if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > size/20 {
			t.Fatalf("heap grew by %d bytes for a %d byte object", grew, size)
		}
		rc, err := s.Get(ctx, "big/export.zip")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		defer rc.Close()
		got := sha256.New()
		if n, err := io.Copy(got, rc); err != nil || n != size {
			t.Fatalf("read %d bytes, err %v; want %d", n, err, size)
		}
		if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			t.Fatal("object read back differs from the stream written")
		}
	})

	t.Run("Permissions", func(t *testing.T) {
		s := newServer(t)
		if err := s.Put(ctx, "perm/t1/export.zip", "application/zip", strings.NewReader("x")); err != nil {
			t.Fatalf("Put: %v", err)
		}
		err := filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if perm := info.Mode().Perm(); perm&0o077 != 0 {
				t.Errorf("%s: mode %v, want no access for group or others", path, perm)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("FailureLeavesNoTemporaryFile", func(t *testing.T) {
		s := newServer(t)
		r := io.MultiReader(strings.NewReader("part"), failingReader{})
		if err := s.Put(ctx, "tmp/export.zip", "application/zip", r); err == nil {
			t.Fatal("no error")
		}
		if names := tree(t, s.dir); len(names) != 0 {
			t.Fatalf("left behind: %v", names)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		s := newServer(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Put(cctx, "cancel/export.zip", "application/zip", objectstest.Stream(1<<20)); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})

	t.Run("InvalidKeysTouchNothing", func(t *testing.T) {
		s := newServer(t)
		for _, key := range objectstest.InvalidKeys() {
			_ = s.Put(ctx, key, "text/plain", strings.NewReader("x"))
		}
		if got, want := strings.Join(tree(t, filepath.Dir(s.dir)), " "), "exports"; got != want {
			t.Fatalf("tree = %s, want %s", got, want)
		}
	})
}

func TestDelete(t *testing.T) {
	t.Run("PrunesEmptyFolders", func(t *testing.T) {
		ctx := context.Background()
		s := newServer(t)
		for _, key := range []string{"exports/t1/req_1/export.zip", "exports/t1/req_2/export.zip"} {
			if err := s.Put(ctx, key, "application/zip", strings.NewReader("x")); err != nil {
				t.Fatalf("Put: %v", err)
			}
		}
		if err := s.Delete(ctx, "exports/t1/req_1/export.zip"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if got, want := strings.Join(tree(t, s.dir), " "), "exports exports/t1 exports/t1/req_2 exports/t1/req_2/export.zip exports/t1/req_2/export.zip~type"; got != want {
			t.Fatalf("tree = %s, want %s", got, want)
		}
		if err := s.Delete(ctx, "exports/t1/req_2/export.zip"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if names := tree(t, s.dir); len(names) != 0 {
			t.Fatalf("left behind: %v", names)
		}
	})

	t.Run("PrefixIsNoObject", func(t *testing.T) {
		ctx := context.Background()
		s := newServer(t)
		if err := s.Put(ctx, "p/q/export.zip", "application/zip", strings.NewReader("x")); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if err := s.Delete(ctx, "p/q"); err != nil {
			t.Fatalf("Delete of a prefix: %v", err)
		}
		if _, err := s.Get(ctx, "p/q"); !errors.Is(err, objects.ErrNotFound) {
			t.Fatalf("Get of a prefix: err = %v, want ErrNotFound", err)
		}
		if _, err := s.Get(ctx, "p/q/export.zip/x"); !errors.Is(err, objects.ErrNotFound) {
			t.Fatalf("Get below an object: err = %v, want ErrNotFound", err)
		}
	})
}

func TestServeHTTP(t *testing.T) {
	ctx := context.Background()
	const key = "exports/t1/req_1/export.zip"
	const body = "PK zip bytes"
	s := newServer(t)
	if err := s.Put(ctx, key, "application/zip", strings.NewReader(body)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	link, err := s.URL(ctx, key, time.Hour)
	if err != nil {
		t.Fatalf("URL: %v", err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("parse link: %v", err)
	}
	if got, want := u.Path, "/_local/objects/"+key; got != want {
		t.Fatalf("link path %q, want %q", got, want)
	}
	sig, expires := u.Query().Get("sig"), u.Query().Get("expires")

	with := func(path, expires, sig string) string {
		return s.srv.URL + path + "?" + url.Values{"expires": {expires}, "sig": {sig}}.Encode()
	}
	// forged signs with the store's secret, as only someone who stole it could.
	forged := func(key string) string {
		m := hmac.New(sha256.New, secret)
		io.WriteString(m, key+"\n"+expires)
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	tampered := []byte(sig)
	tampered[3] ^= 1

	t.Run("Valid", func(t *testing.T) {
		status, got, h := get(t, http.MethodGet, link, nil)
		if status != http.StatusOK || got != body {
			t.Fatalf("status %d body %q, want 200 %q", status, got, body)
		}
		if got, want := h.Get("Content-Type"), "application/zip"; got != want {
			t.Errorf("Content-Type = %q, want %q", got, want)
		}
		if got, want := h.Get("Cache-Control"), "private, no-store"; got != want {
			t.Errorf("Cache-Control = %q, want %q", got, want)
		}
	})

	t.Run("Head", func(t *testing.T) {
		status, got, h := get(t, http.MethodHead, link, nil)
		if status != http.StatusOK || got != "" || h.Get("Content-Length") != strconv.Itoa(len(body)) {
			t.Fatalf("status %d body %q length %q", status, got, h.Get("Content-Length"))
		}
	})

	t.Run("Range", func(t *testing.T) {
		status, got, _ := get(t, http.MethodGet, link, http.Header{"Range": {"bytes=3-5"}})
		if status != http.StatusPartialContent || got != body[3:6] {
			t.Fatalf("status %d body %q, want 206 %q", status, got, body[3:6])
		}
	})

	t.Run("Post", func(t *testing.T) {
		if status, _, _ := get(t, http.MethodPost, link, nil); status != http.StatusMethodNotAllowed {
			t.Fatalf("status %d, want 405", status)
		}
	})

	for name, link := range map[string]string{
		"TamperedSignature":  with(u.Path, expires, string(tampered)),
		"OtherKeySameSig":    with("/_local/objects/exports/t1/req_2/export.zip", expires, sig),
		"LaterExpirySameSig": with(u.Path, expires+"0", sig),
		"NoSignature":        s.srv.URL + u.Path + "?expires=" + expires,
		"NoExpiry":           s.srv.URL + u.Path + "?sig=" + sig,
		"SignatureNotBase64": with(u.Path, expires, sig+"!"),
		"PaddedSignature":    with(u.Path, expires, sig+"="),
	} {
		t.Run(name, func(t *testing.T) {
			status, got, _ := get(t, http.MethodGet, link, nil)
			if status != http.StatusForbidden {
				t.Fatalf("status %d, want 403", status)
			}
			mustNotLeak(t, got)
		})
	}

	t.Run("TraversalWithStolenSecret", func(t *testing.T) {
		// Straight to the handler: a ServeMux would clean the path before it got there.
		target := "/_local/objects/../../secret?" + url.Values{"expires": {expires}, "sig": {forged("../../secret")}}.Encode()
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		if w.Code != http.StatusForbidden {
			t.Fatalf("status %d, want 403", w.Code)
		}
		mustNotLeak(t, w.Body.String())
	})

	t.Run("Expired", func(t *testing.T) {
		defer s.clk.Reset()
		s.clk.Set(time.Now().Add(59 * time.Minute))
		if status, _, _ := get(t, http.MethodGet, link, nil); status != http.StatusOK {
			t.Fatalf("a minute before expiry: status %d, want 200", status)
		}
		s.clk.Set(time.Now().Add(time.Hour + time.Second))
		status, got, _ := get(t, http.MethodGet, link, nil)
		if status != http.StatusForbidden {
			t.Fatalf("after expiry: status %d, want 403", status)
		}
		mustNotLeak(t, got)
	})

	t.Run("Deleted", func(t *testing.T) {
		other := "exports/t1/req_3/export.zip"
		if err := s.Put(ctx, other, "application/zip", strings.NewReader(body)); err != nil {
			t.Fatalf("Put: %v", err)
		}
		link, err := s.URL(ctx, other, time.Hour)
		if err != nil {
			t.Fatalf("URL: %v", err)
		}
		if err := s.Delete(ctx, other); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		status, got, _ := get(t, http.MethodGet, link, nil)
		if status != http.StatusNotFound {
			t.Fatalf("status %d, want 404", status)
		}
		mustNotLeak(t, got)
	})
}

// get sends one request and returns the status, body and header of the answer.
func get(t *testing.T, method, link string, h http.Header) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, link, nil)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func mustNotLeak(t *testing.T, body string) {
	t.Helper()
	for _, s := range []string{"exports", "t1", "req_", "secret", "/"} {
		if strings.Contains(body, s) {
			t.Fatalf("error body %q mentions %q", body, s)
		}
	}
}

// tree lists every path under dir, relative to it, in lexical order.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir {
			rel, _ := filepath.Rel(dir, path)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return names
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }
