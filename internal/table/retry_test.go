package table_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/example/gdpr/internal/table"
)

func TestRetry(t *testing.T) {
	ctx := context.Background()

	t.Run("UntilAnAttemptWins", func(t *testing.T) {
		n := 0
		err := table.Retry(ctx, func() error {
			n++
			if n < 3 {
				return table.ErrRetry
			}
			return nil
		})
		if err != nil || n != 3 {
			t.Fatalf("Retry = %v after %d attempts; want nil after 3", err, n)
		}
	})

	t.Run("WrappedRetry", func(t *testing.T) {
		n := 0
		err := table.Retry(ctx, func() error {
			n++
			if n == 1 {
				return fmt.Errorf("consent state: %w", table.ErrRetry)
			}
			return nil
		})
		if err != nil || n != 2 {
			t.Fatalf("Retry = %v after %d attempts; want nil after 2", err, n)
		}
	})

	t.Run("OtherErrorsAtOnce", func(t *testing.T) {
		n := 0
		boom := errors.New("boom")
		// A bare conflict is the caller's to interpret: not retried.
		for _, want := range []error{boom, table.ErrConflict} {
			n = 0
			err := table.Retry(ctx, func() error { n++; return want })
			if !errors.Is(err, want) || n != 1 {
				t.Fatalf("Retry = %v after %d attempts; want %v after 1", err, n, want)
			}
		}
	})

	t.Run("Bounded", func(t *testing.T) {
		n := 0
		err := table.Retry(ctx, func() error { n++; return table.ErrRetry })
		if !errors.Is(err, table.ErrContention) || n != table.RetryAttempts {
			t.Fatalf("Retry = %v after %d attempts; want ErrContention after %d", err, n, table.RetryAttempts)
		}
	})

	t.Run("HonoursContext", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		n := 0
		err := table.Retry(ctx, func() error {
			n++
			if n == 2 {
				cancel()
			}
			return table.ErrRetry
		})
		if !errors.Is(err, context.Canceled) || n != 2 {
			t.Fatalf("Retry = %v after %d attempts; want context.Canceled after 2", err, n)
		}
	})
}
