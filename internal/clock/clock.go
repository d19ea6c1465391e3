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
// moves on from T as real time passes. The zero value is the system clock.
type Settable struct {
	mu     sync.RWMutex
	offset time.Duration
}

func (c *Settable) Now() time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return time.Now().Add(c.offset).UTC()
}

// Set makes Now answer t from this moment on, moving on from there.
func (c *Settable) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = time.Until(t)
}

// Reset goes back to the system clock.
func (c *Settable) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = 0
}
