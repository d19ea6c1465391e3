package gdprd

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/outbox"
)

// The routes only the local server has. They go through the same httpapi layer as the
// service's routes, so their errors are the same problem+json with the same request ids.
const (
	routeOutbox = "GET /_local/outbox"
	routeClock  = "POST /_local/clock"
	routeJobs   = "POST /_local/jobs/{name}"
)

// outboxLister is the local mail adapter; SES has no such thing.
type outboxLister interface {
	List(ctx context.Context) ([]outbox.Sent, error)
}

func (s *Server) localRoutes() []httpapi.Route {
	return []httpapi.Route{
		{Key: routeOutbox, Access: httpapi.Public, Handle: s.handleOutbox},
		{Key: routeClock, Access: httpapi.Public, Handle: s.handleClock},
		{Key: routeJobs, Access: httpapi.Public, Handle: s.handleJob},
	}
}

func (s *Server) handleOutbox(ctx context.Context, _ *httpapi.Request) (httpapi.Response, error) {
	sender := s.run.Ports.Mail
	// The outbox sits behind the guard that refuses bounced addresses (internal/bounces).
	if g, ok := sender.(interface{ Unwrap() mail.Sender }); ok {
		sender = g.Unwrap()
	}
	ob, ok := sender.(outboxLister)
	if !ok {
		return httpapi.Response{}, apperr.New(apperr.NotFound, "outbox_not_local", "Mail goes through SES; there is no local outbox.")
	}
	sent, err := ob.List(ctx)
	if err != nil {
		return httpapi.Response{}, err
	}
	if sent == nil {
		sent = []outbox.Sent{}
	}
	return httpapi.JSON(http.StatusOK, sent)
}

func (s *Server) handleClock(_ context.Context, r *httpapi.Request) (httpapi.Response, error) {
	// {"now":null} and {} both go back to the real clock.
	var in struct {
		Now *time.Time `json:"now"`
	}
	if err := r.Decode(&in); err != nil {
		return httpapi.Response{}, err
	}
	if in.Now == nil {
		s.clock.Reset()
	} else {
		s.clock.Set(*in.Now)
	}
	now := s.clock.Now().Format(time.RFC3339)
	s.log.Info("clock set", "now", now)
	return httpapi.JSON(http.StatusOK, map[string]string{"now": now})
}

func (s *Server) handleJob(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	j, ok := findJob(s.run.jobs, r.Path("name"))
	if !ok {
		return httpapi.Response{}, apperr.New(apperr.NotFound, "job_not_found", "No scheduled job has this name.")
	}
	out, err := s.runJob(ctx, j)
	if err != nil {
		return httpapi.Response{}, err
	}
	return httpapi.JSON(http.StatusOK, json.RawMessage(out))
}
