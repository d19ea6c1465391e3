// Package gdprd is the local and self-hosted server: every function of template.yaml behind
// one HTTP listener, fed the same Lambda events API Gateway, DynamoDB Streams and EventBridge send.
package gdprd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/awsports"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/files"
	"github.com/example/gdpr/internal/home"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/samtemplate"
	"github.com/example/gdpr/internal/tenant"
)

// Defaults of the server's settings.
const (
	DefaultPort    = "3000"
	DefaultDataDir = ".local"
	// shutdownTimeout is how long requests in flight may take to finish at shutdown: API
	// Gateway's own integration timeout.
	shutdownTimeout = 30 * time.Second
	sweepEvery      = time.Minute
	defaultPoll     = 100 * time.Millisecond
	// A request, headers and body, is read within ReadTimeout (a body is at most 64 KiB), and
	// answered within WriteTimeout of its headers: longer than any function behind a route
	// runs (the local routes' 30 s, API Gateway's integration timeout). A keep-alive
	// connection idle for IdleTimeout is closed.
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = 20 * time.Second
	defaultWriteTimeout      = shutdownTimeout + 15*time.Second
	defaultIdleTimeout       = time.Minute
	// EnvLocalRoutes=1 serves /_local/* when gdprd runs on the AWS adapters (an emulator).
	EnvLocalRoutes = "GDPR_LOCAL_ROUTES"
)

// Config is what a Server is built from.
type Config struct {
	// Addr is the address to listen on, e.g. 127.0.0.1:3000 (port 0 picks a free one).
	Addr string
	// DataDir holds the local data (database, exports, outbox, credentials, feed positions).
	DataDir string
	// Env reads settings: TABLE_NAME (with the other AWS settings) selects the AWS adapters.
	Env func(string) string
	Log *slog.Logger
	// Out receives the start banner: where everything is.
	Out io.Writer
	// Template is the SAM template; gdpr.Template when nil.
	Template []byte
	// Functions are the functions to run; Functions (the service's) when nil.
	Functions []Function
	// Poll is how often the change feed is read when nothing nudges it; 100 ms when zero.
	Poll time.Duration
	// ReadTimeout bounds reading a request, headers and body; WriteTimeout, answering it,
	// from the end of its headers; IdleTimeout, a keep-alive connection waiting for the next
	// request. The defaults (20 s, 45 s, 1 min) when zero.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
}

// Server is a running gdprd.
type Server struct {
	run      *Runner
	cfg      Config
	log      *slog.Logger
	clock    *clock.Settable
	router   router
	fallback *route    // the template's $default route, when its function is built
	local    *function // the local-only routes, as one more function
	// localOn: /_local/* is served (always on the embedded adapters; on the AWS ones only
	// with GDPR_LOCAL_ROUTES=1).
	localOn  bool
	feed     []*consumer
	listener net.Listener
	url      string
	http     *http.Server

	nudges []chan struct{}
	tail   string // how far trim has read the feed when no consumer reads it
	stop   chan struct{}
	wg     sync.WaitGroup // timers, consumers and the sweeper
}

// New opens the ports, builds the functions and the routes, creates the demo tenant on
// first start and listens. Serving starts with Run.
func New(ctx context.Context, cfg Config) (s *Server, err error) {
	cfg = cfg.withDefaults()
	s = &Server{cfg: cfg, log: cfg.Log, clock: &clock.Settable{}, stop: make(chan struct{})}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("gdprd: data folder: %w", err)
	}
	if s.listener, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("gdprd: %w", err)
	}
	defer func() {
		if err != nil {
			s.listener.Close()
		}
	}()
	s.url = "http://" + s.listener.Addr().String()
	// Links to local objects name the address actually bound (port 0 picks one).
	cfg.Addr = s.listener.Addr().String()
	if s.run, err = NewRunner(ctx, cfg, s.clock); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.run.Close()
		}
	}()
	for _, m := range s.run.unbound {
		s.log.Warn("schedule of a function not built; not run", "schedule", m)
	}
	if err := s.routes(); err != nil {
		return nil, err
	}
	if err := s.consumers(ctx); err != nil {
		return nil, err
	}
	created, err := EnsureDemo(ctx, s.run.Ports, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("gdprd: demo tenant: %w", err)
	}
	s.banner(created)
	return s, nil
}

// region is the AWS region events name: AWS_REGION, or us-east-1.
func region(env func(string) string) string {
	if r := env("AWS_REGION"); r != "" {
		return r
	}
	return "us-east-1"
}

// URL is the server's base URL, e.g. http://127.0.0.1:3000.
func (s *Server) URL() string { return s.url }

// Ports are the adapters the server's functions run on.
func (s *Server) Ports() *ports.Ports { return s.run.Ports }

func (s *Server) routes() error {
	unbuilt := map[string]int{}
	for _, r := range s.run.tmpl.Routes() {
		fn, ok := s.run.fns[r.Function]
		if !ok || fn.kind != KindHTTP {
			unbuilt[r.Function]++
			continue
		}
		rt, err := compileRoute(r.Method, r.Path)
		if err != nil {
			return fmt.Errorf("gdprd: %w", err)
		}
		rt.function = r.Function
		if err := s.router.add(rt); err != nil {
			return fmt.Errorf("gdprd: %w", err)
		}
	}
	if r, ok := s.run.tmpl.DefaultRoute(); ok {
		if fn, built := s.run.fns[r.Function]; built && fn.kind == KindHTTP {
			s.fallback = &route{key: r.Key(), method: r.Method, function: r.Function}
		} else {
			unbuilt[r.Function]++
		}
	}
	for _, id := range slices.Sorted(maps.Keys(unbuilt)) {
		s.log.Warn("function not built; its routes answer 404", "function", id, "routes", unbuilt[id])
	}
	// The local routes have no key: on the AWS adapters, they are served only when asked.
	// Their API answers what no route takes when the template has no $default route.
	s.localOn = s.cfg.Env(awsports.EnvTable) == "" || s.cfg.Env(EnvLocalRoutes) == "1"
	var routes []httpapi.Route
	if s.localOn {
		routes = s.localRoutes()
	}
	local := httpapi.New(httpapi.Config{
		Table:   s.run.Ports.Table,
		Tenants: tenant.Store{Table: s.run.Ports.Table, Clock: s.run.Ports.Clock},
		Secrets: s.run.Ports.Secrets,
		Clock:   s.run.Ports.Clock,
		Log:     s.log,
	}, routes...)
	s.local = newFunction("gdprd", KindHTTP, shutdownTimeout, local.Handle, s.run.region)
	for _, r := range routes {
		method, path, _ := strings.Cut(r.Key, " ")
		rt, err := compileRoute(method, path)
		if err != nil {
			return fmt.Errorf("gdprd: %w", err)
		}
		rt.function = s.local.id
		if err := s.router.add(rt); err != nil {
			return fmt.Errorf("gdprd: %w", err)
		}
	}
	return nil
}

func (s *Server) consumers(ctx context.Context) error {
	engine := "sqlite"
	if name := s.cfg.Env(awsports.EnvTable); name != "" {
		engine = name
	}
	posDir := filepath.Join(s.cfg.DataDir, "feed", engine)
	for _, t := range s.run.tmpl.StreamTriggers() {
		fn, ok := s.run.fns[t.Function]
		if !ok || fn.kind != KindStream {
			s.log.Warn("stream trigger of a function not built; not fed", "function", t.Function, "trigger", t.Name)
			continue
		}
		def, err := s.run.tmpl.Table(t.Table)
		if err != nil {
			return fmt.Errorf("gdprd: %w", err)
		}
		arn := fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s/stream/local", s.run.region, accountID, engine)
		c, err := newConsumer(t, fn, s.run.Ports.Feed, def.StreamView, s.run.region, arn, posDir, s.log)
		if err != nil {
			return fmt.Errorf("gdprd: %w", err)
		}
		if err := c.start(ctx); err != nil {
			return fmt.Errorf("gdprd: %s %s: %w", t.Function, t.Name, err)
		}
		s.feed = append(s.feed, c)
		s.nudges = append(s.nudges, make(chan struct{}, 1))
	}
	return nil
}

func (s *Server) banner(created bool) {
	dir := s.cfg.DataDir
	w := s.cfg.Out
	fmt.Fprintf(w, "gdprd listening on %s\n", s.url)
	fmt.Fprintf(w, "  data folder:  %s\n", dir)
	if table := s.cfg.Env(awsports.EnvTable); table != "" {
		fmt.Fprintf(w, "  table:        DynamoDB %s\n", table)
		fmt.Fprintf(w, "  exports:      S3 bucket %s\n", s.cfg.Env(awsports.EnvBucket))
		fmt.Fprintf(w, "  mail:         SES, from %s\n", s.cfg.Env(awsports.EnvSender))
	} else {
		fmt.Fprintf(w, "  database:     %s\n", filepath.Join(dir, home.DatabaseFile))
		fmt.Fprintf(w, "  exports:      %s\n", filepath.Join(dir, home.ExportsDir))
		fmt.Fprintf(w, "  outbox:       %s (GET %s/_local/outbox)\n", filepath.Join(dir, home.OutboxDir), s.url)
	}
	note := ""
	if created {
		note = " (tenant demo created now)"
	}
	fmt.Fprintf(w, "  credentials:  %s%s\n", filepath.Join(dir, CredentialsFile), note)
	fmt.Fprintf(w, "  privacy center: %s/privacy/%s\n", s.url, DemoTenant)
	fmt.Fprintf(w, "  console:      %s/console (admin key in %s)\n", s.url, filepath.Join(dir, CredentialsFile))
}

// Run serves until ctx is done, then shuts down gracefully: it stops accepting, lets requests
// and jobs in flight finish, stops the feed after its current batches and closes the ports.
func (s *Server) Run(ctx context.Context) error {
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: min(defaultReadHeaderTimeout, s.cfg.ReadTimeout),
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ConnContext:       connContext,
	}
	s.startBackground(ctx)
	served := make(chan error, 1)
	go func() { served <- s.http.Serve(watchListener{s.listener}) }()

	var err error
	select {
	case err = <-served:
	case <-ctx.Done():
		s.log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		err = s.http.Shutdown(sctx)
		cancel()
		<-served
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	close(s.stop)
	s.wg.Wait()
	err = errors.Join(err, s.run.Close())
	return err
}

// ServeHTTP turns each request into the event of its route and answers with the function's
// answer, as API Gateway does.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer s.nudge()
	if ambiguousLength(r.Context()) {
		// Both lengths: refused, and the connection closed after the answer (RFC 9112 §6.3).
		w.Header().Set("Connection", "close")
		gatewayError(w, http.StatusBadRequest, newRequestID())
		return
	}
	if s.localOn && isLocalPath(r.URL.Path) {
		if err := localCaller(r); err != nil {
			writeResponse(w, httpapi.Problem(newRequestID(), err), "")
			return
		}
	}
	if strings.HasPrefix(r.URL.Path, files.LinkPath) {
		if h, ok := s.run.Ports.Objects.(http.Handler); ok {
			h.ServeHTTP(w, r)
			return
		}
	}
	reqID := newRequestID()
	body, err := readBody(r)
	if err != nil {
		gatewayError(w, http.StatusBadRequest, reqID)
		return
	}
	rt, params, ok := s.router.find(r.Method, r.URL.EscapedPath())
	if !ok && s.fallback != nil {
		// As in API Gateway: what no route matches goes to the $default route's function.
		rt, ok = s.fallback, true
	}
	fn := s.local
	if ok {
		if rt.function != s.local.id {
			fn = s.run.fns[rt.function]
		}
	} else {
		// No route and no $default route to send it to (a template without one, or its
		// function not built): the local routes' API answers its not_found problem.
		rt = &route{key: samtemplate.DefaultRouteKey}
	}
	// No authorizer runs first, in AWS as here: the function checks the caller's key itself,
	// so a call is one invocation.
	ev := httpEvent(r, rt, params, body, reqID, s.clock.Now())
	var resp events.APIGatewayV2HTTPResponse
	if err := fn.call(r.Context(), ev, &resp); err != nil {
		s.log.Error("function failed", "function", fn.id, "request_id", reqID, "route", rt.key, "error", err.Error())
		gatewayError(w, http.StatusInternalServerError, reqID)
		return
	}
	writeResponse(w, resp, reqID)
}

// nudge wakes the feed consumers: a request may have written something they wait for.
func (s *Server) nudge() {
	for _, n := range s.nudges {
		select {
		case n <- struct{}{}:
		default:
		}
	}
}

// runJob runs a job now, as its schedule would.
func (s *Server) runJob(ctx context.Context, j *job) ([]byte, error) {
	start := time.Now()
	out, err := j.run(ctx, s.clock.Now())
	if err != nil {
		s.log.Error("job failed", "function", j.fn.id, "schedule", j.schedule.Name, "error", err.Error())
		return nil, err
	}
	s.log.Info("job done", "function", j.fn.id, "schedule", j.schedule.Name, "duration_ms", time.Since(start).Milliseconds())
	s.nudge()
	return out, nil
}
