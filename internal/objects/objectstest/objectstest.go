// Package objectstest is the conformance suite of the objects port: every adapter runs it, so
// the domain may rely on one behaviour whichever store holds its files.
package objectstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/objects"
)

// StreamSize is the size of the suite's large object: above the 16 MiB from which the S3
// transfer manager switches to a multipart upload, so both upload paths are exercised.
const StreamSize = 17 << 20

// Run checks the store newStore returns against the port's contract. newStore is called once
// per case; stores may share state, as every case uses keys of its own.
func Run(t *testing.T, newStore func(t *testing.T) objects.Store) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		st := newStore(t)
		mustPut(t, st, "rt/small.txt", "text/plain; charset=utf-8", strings.NewReader("héllo\n"))
		if got, want := mustGet(t, st, "rt/small.txt"), "héllo\n"; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		st := newStore(t)
		mustPut(t, st, "rt/empty", "application/octet-stream", strings.NewReader(""))
		if got := mustGet(t, st, "rt/empty"); got != "" {
			t.Fatalf("got %d bytes, want none", len(got))
		}
	})

	t.Run("Stream", func(t *testing.T) {
		st := newStore(t)
		want := sha256.New()
		mustPut(t, st, "rt/large.bin", "application/zip", io.TeeReader(Stream(StreamSize), want))
		rc, err := st.Get(ctx, "rt/large.bin")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		defer rc.Close()
		got := sha256.New()
		n, err := io.Copy(got, rc)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if n != StreamSize {
			t.Fatalf("read %d bytes, want %d", n, StreamSize)
		}
		if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			t.Fatal("object read back differs from the stream written")
		}
	})

	t.Run("Replace", func(t *testing.T) {
		st := newStore(t)
		mustPut(t, st, "replace/a.json", "application/json", strings.NewReader(`{"v":1}`))
		mustPut(t, st, "replace/a.json", "application/json", strings.NewReader(`{"v":2}`))
		if got, want := mustGet(t, st, "replace/a.json"), `{"v":2}`; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})

	t.Run("FailedPutKeepsPrevious", func(t *testing.T) {
		st := newStore(t)
		mustPut(t, st, "failed/a.txt", "text/plain", strings.NewReader("old"))
		broken := io.MultiReader(strings.NewReader("new, then"), errReader{})
		if err := st.Put(ctx, "failed/a.txt", "text/plain", broken); err == nil {
			t.Fatal("Put from a failing reader: no error")
		}
		if got, want := mustGet(t, st, "failed/a.txt"), "old"; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		if err := st.Put(ctx, "failed/b.txt", "text/plain", broken); err == nil {
			t.Fatal("Put from a failing reader: no error")
		}
		if _, err := st.Get(ctx, "failed/b.txt"); !errors.Is(err, objects.ErrNotFound) {
			t.Fatalf("Get after failed Put: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("GetMissing", func(t *testing.T) {
		st := newStore(t)
		if rc, err := st.Get(ctx, "missing/none.zip"); !errors.Is(err, objects.ErrNotFound) {
			if rc != nil {
				rc.Close()
			}
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		st := newStore(t)
		mustPut(t, st, "del/a/export.zip", "application/zip", strings.NewReader("zip"))
		mustPut(t, st, "del/b/export.zip", "application/zip", strings.NewReader("other"))
		for i := range 2 {
			if err := st.Delete(ctx, "del/a/export.zip"); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		if _, err := st.Get(ctx, "del/a/export.zip"); !errors.Is(err, objects.ErrNotFound) {
			t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
		}
		if got, want := mustGet(t, st, "del/b/export.zip"), "other"; got != want {
			t.Fatalf("neighbour: got %q, want %q", got, want)
		}
		if err := st.Delete(ctx, "del/never/stored.zip"); err != nil {
			t.Fatalf("Delete of a key never stored: %v", err)
		}
		// A deleted object's key can be used again.
		mustPut(t, st, "del/a/export.zip", "application/zip", strings.NewReader("again"))
		if got, want := mustGet(t, st, "del/a/export.zip"), "again"; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})

	t.Run("URL", func(t *testing.T) {
		st := newStore(t)
		body := strings.Repeat("export bytes ", 1000)
		mustPut(t, st, "url/t1/req_1/export.zip", "application/zip", strings.NewReader(body))
		link, err := st.URL(ctx, "url/t1/req_1/export.zip", time.Hour)
		if err != nil {
			t.Fatalf("URL: %v", err)
		}
		resp, err := http.Get(link)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, got)
		}
		if string(got) != body {
			t.Fatalf("downloaded %d bytes differing from the %d stored", len(got), len(body))
		}
		if got, want := resp.Header.Get("Content-Type"), "application/zip"; got != want {
			t.Fatalf("Content-Type = %q, want %q", got, want)
		}
	})

	t.Run("URLLifetime", func(t *testing.T) {
		st := newStore(t)
		for _, ttl := range []time.Duration{0, -time.Second, objects.MaxURLTTL + time.Second} {
			if _, err := st.URL(ctx, "url/any.zip", ttl); err == nil {
				t.Errorf("URL with lifetime %s: no error", ttl)
			}
		}
		if _, err := st.URL(ctx, "url/any.zip", objects.MaxURLTTL); err != nil {
			t.Errorf("URL with the longest lifetime: %v", err)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		st := newStore(t)
		for _, key := range InvalidKeys() {
			if err := st.Put(ctx, key, "text/plain", strings.NewReader("x")); !errors.Is(err, objects.ErrInvalidKey) {
				t.Errorf("Put(%q): err = %v, want ErrInvalidKey", key, err)
			}
			if rc, err := st.Get(ctx, key); !errors.Is(err, objects.ErrInvalidKey) {
				if rc != nil {
					rc.Close()
				}
				t.Errorf("Get(%q): err = %v, want ErrInvalidKey", key, err)
			}
			if err := st.Delete(ctx, key); !errors.Is(err, objects.ErrInvalidKey) {
				t.Errorf("Delete(%q): err = %v, want ErrInvalidKey", key, err)
			}
			if _, err := st.URL(ctx, key, time.Hour); !errors.Is(err, objects.ErrInvalidKey) {
				t.Errorf("URL(%q): err = %v, want ErrInvalidKey", key, err)
			}
		}
	})

	t.Run("ValidKeys", func(t *testing.T) {
		st := newStore(t)
		for _, key := range []string{"a", "A-Z_0.9", "exports/t-1/req_01J/export.zip", ".hidden/..x/x..", longestKey()} {
			mustPut(t, st, key, "text/plain", strings.NewReader(key))
			if got := mustGet(t, st, key); got != key {
				t.Errorf("Get(%.20q): got %.20q", key, got)
			}
		}
	})
}

// InvalidKeys are keys every adapter must refuse: they could escape a folder, mean different
// things on different file systems, or exceed S3's limits.
func InvalidKeys() []string {
	return []string{
		"", "/", "/abs", "a/", "a//b", ".", "..", "../a", "a/..", "a/../b", "a/./b",
		`a\b`, `..\a`, "a b", "a%2Fb", "a?b", "a#b", "a:b", "a~type", "é", "a\x00b", "a\nb",
		strings.Repeat("k", objects.MaxSegmentLength+1), longestKey() + "k",
	}
}

// longestKey is a valid key of MaxKeyLength bytes made of segments of MaxSegmentLength bytes.
func longestKey() string {
	var b strings.Builder
	for objects.MaxKeyLength-b.Len() > objects.MaxSegmentLength {
		n := min(objects.MaxSegmentLength, objects.MaxKeyLength-b.Len()-2)
		b.WriteString(strings.Repeat("k", n) + "/")
	}
	b.WriteString(strings.Repeat("k", objects.MaxKeyLength-b.Len()))
	return b.String()
}

// Stream returns a reader of n deterministic, poorly compressible bytes that hides its length
// (no Len, Seek or WriterTo), the way an export being zipped reaches Put.
func Stream(n int64) io.Reader {
	return &stream{left: n, x: 0x9E3779B97F4A7C15}
}

type stream struct {
	left int64
	x    uint64
}

func (s *stream) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	for i := range p {
		// xorshift64: cheap bytes that no compressor or deduplicating store shortcuts.
		s.x ^= s.x << 13
		s.x ^= s.x >> 7
		s.x ^= s.x << 17
		p[i] = byte(s.x)
	}
	s.left -= int64(len(p))
	return len(p), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("objectstest: reader broke") }

func mustPut(t *testing.T, st objects.Store, key, contentType string, r io.Reader) {
	t.Helper()
	if err := st.Put(context.Background(), key, contentType, r); err != nil {
		t.Fatalf("Put(%.40q): %v", key, err)
	}
}

func mustGet(t *testing.T, st objects.Store, key string) string {
	t.Helper()
	rc, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%.40q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %.40q: %v", key, err)
	}
	return string(b)
}
