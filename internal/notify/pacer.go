package notify

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/example/gdpr/internal/mail"
)

// Pacer spaces the sends of every run and shard of a process to the transport's send rate:
// one slot every 1/rate seconds, handed out in order, with no burst saved up while idle (SES
// counts its maximum send rate per second). The rate comes from the transport (mail.RateSource:
// SES v2 GetAccount, the outbox's configured rate), read at most once per RateTTL; Max, when
// set, caps it, so that notices leave room for the service's other mail.
type Pacer struct {
	src mail.RateSource
	max float64
	log *slog.Logger

	mu      sync.Mutex
	rate    float64
	fetched time.Time
	next    time.Time
}

// RateTTL is how long a send rate read from the transport is used.
const RateTTL = 5 * time.Minute

// fallbackRate is used when the transport tells no rate, or telling it fails: SES's sandbox rate.
const fallbackRate = 1

// NewPacer paces to src's rate capped at max when max > 0; without src, to max (or
// fallbackRate when max is 0).
func NewPacer(src mail.RateSource, max float64, log *slog.Logger) *Pacer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pacer{src: src, max: max, log: log}
}

// Wait takes the next slot and sleeps until it. It takes none, and answers false, when the
// slot would come after until (the caller stops then) or ctx ends first.
func (p *Pacer) Wait(ctx context.Context, until time.Time) bool {
	rate := p.sendRate(ctx)
	p.mu.Lock()
	now := time.Now()
	slot := p.next
	if slot.Before(now) {
		slot = now
	}
	if slot.After(until) {
		p.mu.Unlock()
		return false
	}
	p.next = slot.Add(time.Duration(float64(time.Second) / rate))
	p.mu.Unlock()
	d := time.Until(slot)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Rate is the rate sends are paced to now.
func (p *Pacer) Rate(ctx context.Context) float64 { return p.sendRate(ctx) }

func (p *Pacer) sendRate(ctx context.Context) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rate > 0 && time.Since(p.fetched) < RateTTL {
		return p.rate
	}
	rate := float64(fallbackRate)
	if p.src == nil && p.max > 0 {
		rate = p.max // no transport to ask: max is the rate
	}
	if p.src != nil {
		r, err := p.src.SendRate(ctx)
		switch {
		case err != nil:
			p.log.Warn("send rate unknown; pacing to the last known or the sandbox rate", "error", err.Error())
			if p.rate > 0 {
				rate = p.rate
			}
		case r > 0:
			rate = r
		}
	}
	if p.max > 0 && rate > p.max {
		rate = p.max
	}
	p.rate, p.fetched = rate, time.Now()
	return rate
}
