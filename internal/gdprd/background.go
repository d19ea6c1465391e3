package gdprd

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// sweeper is the embedded table's stand-in for DynamoDB TTL.
type sweeper interface {
	Sweep(ctx context.Context, now time.Time) (int, error)
}

// trimmer is the embedded feed's stand-in for the stream's 24-hour retention.
type trimmer interface {
	TrimFeed(ctx context.Context, through string) (int, error)
}

// startBackground starts what runs beside the requests: the feed consumers, the schedules'
// timers and the TTL sweeper. They stop when s.stop closes.
func (s *Server) startBackground(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	for i, c := range s.feed {
		s.wg.Go(func() { c.run(ctx, s.stop, s.nudges[i], s.cfg.Poll) })
	}
	for _, j := range s.run.jobs {
		if !j.schedule.Enabled {
			continue
		}
		tm, err := parseSchedule(j.schedule.Expression)
		if err != nil {
			// POST /_local/jobs/{name} still runs the job.
			s.log.Warn("schedule not run on a timer", "function", j.fn.id, "schedule", j.schedule.Name, "error", err.Error())
			continue
		}
		s.wg.Go(func() { s.onSchedule(tm, func() { s.runJob(ctx, j) }) })
	}
	if _, ok := s.run.Ports.Table.(sweeper); ok {
		s.wg.Go(func() { s.onSchedule(every(sweepEvery), func() { s.sweep(ctx) }) })
	}
}

// onSchedule calls f each time tm fires until s.stop closes; a call in progress finishes
// first. Schedules fire by the real clock: /_local/clock moves what handlers read, not
// when timers ring.
func (s *Server) onSchedule(tm timing, f func()) {
	last := time.Now()
	for {
		last = tm.next(last)
		t := time.NewTimer(time.Until(last))
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
			f()
		}
	}
}

// sweep deletes expired items, as DynamoDB TTL does (by the server's clock, which
// /_local/clock moves), and trims the changes every consumer is done with.
func (s *Server) sweep(ctx context.Context) {
	n, err := s.run.Ports.Table.(sweeper).Sweep(ctx, s.clock.Now())
	if err != nil {
		s.log.Error("TTL sweep failed", slog.String("error", err.Error()))
	} else if n > 0 {
		s.log.Info("TTL sweep", slog.Int("deleted", n))
		s.nudge()
	}
	if t, ok := s.run.Ports.Feed.(trimmer); ok {
		s.trim(ctx, t)
	}
}

// trim drops the changes every consumer has passed. The embedded feed's positions are
// change numbers; with no consumer at all, everything read so far goes.
func (s *Server) trim(ctx context.Context, t trimmer) {
	through, lowest := "", int64(-1)
	if len(s.feed) == 0 {
		for {
			changes, next, err := s.run.Ports.Feed.Read(ctx, s.tail, maxReadBatch)
			if err != nil {
				s.log.Error("feed read failed", slog.String("error", err.Error()))
				return
			}
			s.tail = next
			if len(changes) == 0 {
				break
			}
		}
		through = s.tail
	}
	for _, c := range s.feed {
		n, err := strconv.ParseInt(strings.TrimSpace(c.position()), 10, 64)
		if err != nil {
			return // not yet started, or not a change number: keep everything
		}
		if lowest < 0 || n < lowest {
			lowest, through = n, strconv.FormatInt(n, 10)
		}
	}
	if through == "" {
		return
	}
	if _, err := t.TrimFeed(ctx, through); err != nil {
		s.log.Error("feed trim failed", slog.String("error", err.Error()))
	}
}
