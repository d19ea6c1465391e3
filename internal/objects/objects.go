// Package objects is the blob storage port: exports and other files written as streams and
// handed to data subjects through time-limited links. S3 and a local folder implement it.
package objects

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is returned by Get for a key with no object.
var ErrNotFound = errors.New("objects: not found")

// Store is the blob storage port.
//
// Keys are slash-separated paths of [A-Za-z0-9._-] segments; anything else is refused, so no
// key can escape its store.
type Store interface {
	// Put stores everything read from r under key, without knowing its length in advance and
	// without holding it in memory. It replaces any object with that key.
	Put(ctx context.Context, key, contentType string, r io.Reader) error
	// Get opens the object; the caller closes it. ErrNotFound when absent.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes the object; deleting an absent object is not an error.
	Delete(ctx context.Context, key string) error
	// URL returns a link that lets anyone holding it download the object until ttl has passed.
	URL(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// ErrInvalidKey is returned for a key outside the objects port's key rule.
var ErrInvalidKey = errors.New("objects: invalid key")

// MaxKeyLength is S3's limit on key length in bytes; the folder adapter applies it too so that
// a key accepted locally is accepted in AWS.
const MaxKeyLength = 1024

// MaxSegmentLength is the usual file system limit on a file name, in bytes; S3 has none, but
// a key must name a file in the local folder too.
const MaxSegmentLength = 255

// MaxURLTTL is the longest life of a link: SigV4 presigned URLs cannot outlive seven days, and
// the folder adapter refuses the same so that local mode cannot promise what AWS refuses.
const MaxURLTTL = 7 * 24 * time.Hour

// ValidateKey refuses any key that is not slash-separated segments of [A-Za-z0-9._-], each
// non-empty, neither "." nor ".." and at most MaxSegmentLength bytes, the whole at most
// MaxKeyLength bytes. Such a key names the same path on every file system and in S3, and
// cannot escape the folder that holds the objects.
func ValidateKey(key string) error {
	if key == "" || len(key) > MaxKeyLength {
		return ErrInvalidKey
	}
	start := 0
	for i := 0; i <= len(key); i++ {
		if i < len(key) && key[i] != '/' {
			if !keyByte(key[i]) {
				return ErrInvalidKey
			}
			continue
		}
		if seg := key[start:i]; seg == "" || seg == "." || seg == ".." || len(seg) > MaxSegmentLength {
			return ErrInvalidKey
		}
		start = i + 1
	}
	return nil
}

func keyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}
