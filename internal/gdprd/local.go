package gdprd

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strings"
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

// isLocalPath tells whether path (decoded) is under /_local/.
func isLocalPath(path string) bool {
	return path == "/_local" || strings.HasPrefix(path, "/_local/")
}

// localCaller refuses a request to /_local/* that does not come from this machine as itself:
// the routes take no key, so a web page the developer visits could call them. A Host that is
// not a loopback name or address is a DNS rebinding (a page's own name resolved to
// 127.0.0.1); an Origin other than the server's own, or a Sec-Fetch-Site other than
// same-origin or none, is another page's script or form.
func localCaller(r *http.Request) *apperr.Error {
	refuse := func(why string) *apperr.Error {
		return apperr.New(apperr.Forbidden, "local_only", "The local routes answer only this machine's own calls: %s.", why)
	}
	if !loopbackHost(r.Host) {
		return refuse("the Host is not a loopback name or address")
	}
	if origins := r.Header.Values("Origin"); len(origins) > 1 || (len(origins) == 1 && !strings.EqualFold(origins[0], "http://"+r.Host)) {
		return refuse("the request comes from another origin")
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return refuse("the request comes from another site")
	}
	return nil
}

// loopbackHost tells whether a Host header names this machine: localhost, or a loopback
// address (127.0.0.0/8, [::1]), with or without a port.
func loopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
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
