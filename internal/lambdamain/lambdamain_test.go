package lambdamain

import (
	"context"
	"errors"
	"testing"
)

// TestOnFirstCall: the handler is built once, on the first call; a failed build is the call's
// error and is tried again on the next call.
func TestOnFirstCall(t *testing.T) {
	builds, failures := 0, 0
	fail := true
	h := onFirstCall(func(context.Context) (func(context.Context, int) (int, error), error) {
		builds++
		if fail {
			return nil, errors.New("secret unreachable")
		}
		return func(_ context.Context, n int) (int, error) { return n * 2, nil }, nil
	}, func(error) { failures++ })
	ctx := context.Background()
	if builds != 0 {
		t.Fatal("built before the first call")
	}
	if _, err := h(ctx, 1); err == nil || failures != 1 {
		t.Fatalf("failed build: err %v, %d failures reported", err, failures)
	}
	fail = false
	for i := range 3 {
		got, err := h(ctx, i)
		if err != nil || got != i*2 {
			t.Fatalf("call %d: %d, %v", i, got, err)
		}
	}
	if builds != 2 {
		t.Fatalf("%d builds, want 2 (the failed one, then one for the instance's life)", builds)
	}
}
