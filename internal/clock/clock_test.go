package clock_test

import (
	"testing"
	"time"

	"github.com/example/gdpr/internal/clock"
)

var at = time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)

// TestSettableMovesOn: a set clock moves on from the time set, as /_local/clock promises.
func TestSettableMovesOn(t *testing.T) {
	c := &clock.Settable{}
	c.Set(at)
	deadline := time.Now().Add(10 * time.Second)
	for !c.Now().After(at) {
		if time.Now().After(deadline) {
			t.Fatalf("the clock stands at %v", c.Now())
		}
		time.Sleep(time.Millisecond)
	}
	if d := c.Now().Sub(at); d < 0 || d > 5*time.Second {
		t.Fatalf("Now is %v after the time set", d)
	}
	c.Reset()
	if d := time.Since(c.Now()); d < -time.Second || d > time.Second {
		t.Fatalf("after Reset, Now is %v off the system clock", d)
	}
}

// TestSettableFrozen: a frozen clock answers exactly the time set, however long the caller
// takes, and the next time set after that.
func TestSettableFrozen(t *testing.T) {
	c := &clock.Settable{Frozen: true}
	if d := time.Since(c.Now()); d < -time.Second || d > time.Second {
		t.Fatalf("a frozen clock never set is %v off the system clock", d)
	}
	c.Set(at)
	time.Sleep(20 * time.Millisecond)
	if got := c.Now(); !got.Equal(at) {
		t.Fatalf("Now = %v, want %v", got, at)
	}
	c.Set(at.Add(time.Hour))
	if got := c.Now(); !got.Equal(at.Add(time.Hour)) {
		t.Fatalf("Now = %v, want %v", got, at.Add(time.Hour))
	}
}
