package exporttest

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/example/gdpr/internal/objects"
)

// ErrInjected is the failure FailingStore injects.
var ErrInjected = errors.New("exporttest: injected upload failure")

// FailingStore is a real objects store whose uploads fail part-way: the reader handed to the
// adapter's Put fails once After bytes have gone through, as a broken connection would, while
// the adapter is uploading. Fail counts down the Puts still to break (nil: every one);
// Failures counts the Puts that failed so.
type FailingStore struct {
	objects.Store
	After    int64
	Fail     *atomic.Int64
	Failures *atomic.Int64
}

// Put uploads through the wrapped store, from a reader that breaks after After bytes while
// Fail has not counted down to zero.
func (f FailingStore) Put(ctx context.Context, key, contentType string, r io.Reader) error {
	if f.Fail != nil && f.Fail.Add(-1) < 0 {
		f.Fail.Store(0)
		return f.Store.Put(ctx, key, contentType, r)
	}
	err := f.Store.Put(ctx, key, contentType, &breakingReader{r: r, left: f.After})
	if err != nil && f.Failures != nil {
		f.Failures.Add(1)
	}
	return err
}

type breakingReader struct {
	r    io.Reader
	left int64
}

func (b *breakingReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, ErrInjected
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}
