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
