package table

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// ErrRetry is what an attempt given to Retry returns (or wraps) when a concurrent writer
// changed what it read: a write conditional on the version read failed. Retry then runs the
// attempt again, which reads afresh. Which failed conditions mean that is the caller's to say
// (a failed put-if-absent may as well mean "taken"), so Retry never retries ErrConflict itself.
var ErrRetry = errors.New("table: concurrent write, retry")

// ErrContention is returned by Retry when every attempt lost to a concurrent writer.
var ErrContention = errors.New("table: too many concurrent writers")

// The one retry policy of optimistic-lock conflicts. Each loss waits a random time (full
// jitter) in a window that doubles with every loss and is measured in units of how long the
// lost attempt took: well under a millisecond on SQLite, ~10 ms on DynamoDB, far more on an
// emulator or under a queue. So the same policy spreads many writers of one item over time on
// every engine, instead of letting them collide again. 30 attempts let a few dozen writers of
// one item (a tenant's audit head, one subject's consent state) all get through.
const (
	RetryAttempts = 30
	maxDoublings  = 7 // the window stops growing at 128 attempt durations
	minRetryUnit  = 100 * time.Microsecond
)

// Retry runs attempt until it returns anything but ErrRetry, at most RetryAttempts times,
// waiting between attempts as the policy above says. It returns attempt's last error, an
// error wrapping ErrContention when every attempt lost, or ctx's error when ctx ends while
// waiting.
func Retry(ctx context.Context, attempt func() error) error {
	for n := 0; ; n++ {
		began := time.Now()
		err := attempt()
		if !errors.Is(err, ErrRetry) {
			return err
		}
		if n+1 == RetryAttempts {
			return fmt.Errorf("%w: %d attempts", ErrContention, RetryAttempts)
		}
		window := max(time.Since(began), minRetryUnit) << min(n, maxDoublings)
		t := time.NewTimer(rand.N(window))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
