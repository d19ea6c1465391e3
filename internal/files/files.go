// Package files keeps objects in a local folder and hands them out through HMAC-signed links
// that the local server answers: the objects port without AWS, for `make run` and self-hosting.
package files

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/objects"
)

var _ objects.Store = (*Store)(nil)

// MinSecretLength is the shortest link secret accepted, in bytes: a SHA-256 sized key.
const MinSecretLength = 32

// LinkPath is the path under the base URL where ServeHTTP answers links.
const LinkPath = "/_local/objects/"

const (
	// typeSuffix names the file beside each object that holds its content type. "~" is outside
	// the key alphabet, so no key can name such a file, nor a temporary file.
	typeSuffix = "~type"
	tempPrefix = "~put-"
	// defaultContentType is what S3 would serve for an object stored without one.
	defaultContentType = "application/octet-stream"
)

// Store keeps each object as a file under its folder, the key being its relative path.
//
// Unlike S3, a folder cannot hold both an object "a" and an object "a/b": the second Put fails.
// Object keys in this service are paths whose last segment is a file name, so none collide.
type Store struct {
	dir     string
	baseURL string
	secret  []byte
	clk     clock.Clock
}

// New opens (and creates, private to its owner) the folder dir. Links start with baseURL, the
// address of the server that mounts the store's ServeHTTP, and are signed with secret.
func New(dir, baseURL string, secret []byte, clk clock.Clock) (*Store, error) {
	if len(secret) < MinSecretLength {
		return nil, fmt.Errorf("files: link secret shorter than %d bytes", MinSecretLength)
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("files: base URL is not an absolute http(s) URL without query")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("files: create folder: %w", err)
	}
	return &Store{dir: abs, baseURL: strings.TrimSuffix(baseURL, "/"), secret: bytes.Clone(secret), clk: clk}, nil
}

// Put copies r to a temporary file beside the object and renames it into place, so a reader
// sees the old object or the whole new one, never part of it.
func (s *Store) Put(ctx context.Context, key, contentType string, r io.Reader) error {
	if err := objects.ValidateKey(key); err != nil {
		return err
	}
	if contentType == "" {
		contentType = defaultContentType
	}
	path := s.path(key)
	body, err := s.writeTemp(filepath.Dir(path), ctxReader{ctx, r})
	if err != nil {
		s.prune(filepath.Dir(path))
		return fmt.Errorf("files: put %s: %w", key, err)
	}
	defer os.Remove(body) // fails harmlessly once renamed
	ctype, err := s.writeTemp(filepath.Dir(path), strings.NewReader(contentType))
	if err != nil {
		return fmt.Errorf("files: put %s: %w", key, err)
	}
	defer os.Remove(ctype)
	// The type goes first: a concurrent reader may pair it with the previous body for a moment,
	// but never meets a body without a type.
	if err := os.Rename(ctype, path+typeSuffix); err != nil {
		return fmt.Errorf("files: put %s: %w", key, err)
	}
	if err := os.Rename(body, path); err != nil {
		return fmt.Errorf("files: put %s: %w", key, err)
	}
	return nil
}

// writeTemp streams r into a new temporary file in dir, flushed to disk, and returns its path.
func (s *Store) writeTemp(dir string, r io.Reader) (string, error) {
	f, err := s.createTemp(dir)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// createTemp retries because a concurrent Delete prunes empty folders, possibly the one just made.
func (s *Store) createTemp(dir string) (*os.File, error) {
	for attempt := 1; ; attempt++ {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		f, err := os.CreateTemp(dir, tempPrefix+"*")
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == 3 {
			return f, err
		}
	}
}

// Get opens the object for reading. ErrNotFound when absent.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := objects.ValidateKey(key); err != nil {
		return nil, err
	}
	f, err := s.open(key)
	if err != nil {
		return nil, fmt.Errorf("files: get %s: %w", key, err)
	}
	return f, nil
}

// open opens the object's file, answering objects.ErrNotFound when no object has the key.
func (s *Store) open(key string) (*os.File, error) {
	f, err := os.Open(s.path(key))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, objects.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, objects.ErrNotFound
	}
	return f, nil
}

// contentType reads the type stored beside the object.
func (s *Store) contentType(key string) string {
	b, err := os.ReadFile(s.path(key) + typeSuffix)
	if err != nil || len(b) == 0 {
		return defaultContentType
	}
	return string(b)
}

// Delete removes the object and then every folder it leaves empty, so that deleted exports
// leave no trace of their tenant or request ids behind.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := objects.ValidateKey(key); err != nil {
		return err
	}
	path := s.path(key)
	if st, err := os.Lstat(path); err == nil && st.IsDir() {
		return nil // a prefix of other objects, not an object
	}
	for _, p := range []string{path, path + typeSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("files: delete %s: %w", key, err)
		}
	}
	s.prune(filepath.Dir(path))
	return nil
}

// prune removes dir and its parents up to the store's folder while they are empty.
func (s *Store) prune(dir string) {
	for ; dir != s.dir && strings.HasPrefix(dir, s.dir); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			return // not empty, or gone already
		}
	}
}

// URL returns a link to ServeHTTP that expires after ttl by the store's clock.
func (s *Store) URL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := objects.ValidateKey(key); err != nil {
		return "", err
	}
	if ttl <= 0 || ttl > objects.MaxURLTTL {
		return "", fmt.Errorf("files: link lifetime %s outside (0, %s]", ttl, objects.MaxURLTTL)
	}
	expires := s.clk.Now().Add(ttl).Unix()
	return s.baseURL + LinkPath + key + "?expires=" + strconv.FormatInt(expires, 10) +
		"&sig=" + base64.RawURLEncoding.EncodeToString(s.sign(key, expires)), nil
}

// sign binds a link to one key and one expiry; the newline keeps the two fields apart.
func (s *Store) sign(key string, expires int64) []byte {
	m := hmac.New(sha256.New, s.secret)
	io.WriteString(m, key+"\n"+strconv.FormatInt(expires, 10))
	return m.Sum(nil)
}

func (s *Store) path(key string) string {
	return filepath.Join(s.dir, filepath.FromSlash(key))
}

// ctxReader stops a copy once its context ends: io.Copy itself never looks.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
