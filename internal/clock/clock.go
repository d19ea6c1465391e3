// Package clock gives the service its notion of now: the system clock in production and a
// settable one for tests and the local server, so no test sleeps to move time.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time. Every handler and job reads time through one.
type Clock interface {
	Now() time.Time
}

// System is the real clock, in UTC.
type System struct{}

func (System) Now() time.Time { return time.Now().UTC() }

// Settable reads the system clock shifted by an offset: once set to T, it answers T and then
// moves on from T as real time passes (what /_local/clock does). The zero value is the system
// clock.
//
// With Frozen, a set clock stands still instead: Now answers exactly the time last set, until
// it is set again. Tests that compare times to the second freeze their clock, so that a slow
// machine cannot move an answer past the second they expect.
type Settable struct {
	Frozen bool

	mu     sync.RWMutex
	offset time.Duration
	at     time.Time // the time last set, while Frozen; zero when never set
}

func (c *Settable) Now() time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.Frozen && !c.at.IsZero() {
		return c.at
	}
	return time.Now().Add(c.offset).UTC()
}

// Set makes Now answer t from this moment on: moving on from there, or standing at t when
// the clock is Frozen.
func (c *Settable) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = time.Until(t)
	c.at = t.UTC()
}

// Reset goes back to the system clock.
func (c *Settable) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset, c.at = 0, time.Time{}
}
