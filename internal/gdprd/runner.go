package gdprd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/home"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/samtemplate"
)

// Runner holds the ports and the functions as the server builds them, without listening:
// `gdprd invoke` and `gdprctl` call functions through it in process.
type Runner struct {
	Ports  *ports.Ports
	tmpl   *samtemplate.Template
	fns    map[string]*function
	jobs   []*job
	clock  clock.Clock
	region string
	// unbound lists the schedules whose functions are not built.
	unbound []string
}

// NewRunner opens the ports (local under cfg.DataDir, or AWS by cfg.Env) with clk, and
// builds the functions. Links to local objects start with http://cfg.Addr.
func NewRunner(ctx context.Context, cfg Config, clk clock.Clock) (*Runner, error) {
	cfg = cfg.withDefaults()
	tmpl, err := samtemplate.Parse(cfg.Template)
	if err != nil {
		return nil, err
	}
	p, err := home.Open(ctx, cfg.Env, cfg.DataDir, "http://"+cfg.Addr, clk, cfg.Log)
	if err != nil {
		return nil, err
	}
	region := region(cfg.Env)
	fns, err := build(cfg.Functions, p, tmpl, region)
	if err != nil {
		if p.Close != nil {
			p.Close()
		}
		return nil, err
	}
	r := &Runner{Ports: p, tmpl: tmpl, fns: fns, clock: clk, region: region}
	r.jobs, r.unbound = bindJobs(tmpl, r.fns)
	return r, nil
}

func (cfg Config) withDefaults() Config {
	if cfg.Env == nil {
		cfg.Env = os.Getenv
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Template == nil {
		cfg.Template = gdpr.Template
	}
	if cfg.Functions == nil {
		cfg.Functions = Functions
	}
	if cfg.Poll == 0 {
		cfg.Poll = defaultPoll
	}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = defaultReadTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = defaultWriteTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	return cfg
}

// Close closes the ports.
func (r *Runner) Close() error {
	if r.Ports.Close == nil {
		return nil
	}
	return r.Ports.Close()
}

// Kind tells what triggers the function (KindHTTP, KindStream, ...); false when it is not
// built.
func (r *Runner) Kind(function string) (string, bool) {
	fn, ok := r.fns[function]
	if !ok {
		return "", false
	}
	return fn.kind, true
}

// Invoke calls the function once with the event payload, as the Lambda runtime would, and
// returns its JSON answer.
func (r *Runner) Invoke(ctx context.Context, function string, payload []byte) (json.RawMessage, error) {
	fn, ok := r.fns[function]
	if !ok {
		return nil, fmt.Errorf("gdprd: function %s is not built; built: %v", function, r.built())
	}
	return fn.invoke(ctx, payload)
}

func (r *Runner) built() []string {
	ids := make([]string, 0, len(r.fns))
	for id := range r.fns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Jobs lists the names of the scheduled jobs.
func (r *Runner) Jobs() []string {
	var names []string
	for _, j := range r.jobs {
		if j.name != "" {
			names = append(names, j.name)
		}
	}
	return names
}

// RunJob runs the scheduled job called name once and returns what it reports.
func (r *Runner) RunJob(ctx context.Context, name string) (json.RawMessage, error) {
	j, ok := findJob(r.jobs, name)
	if !ok {
		return nil, fmt.Errorf("gdprd: no scheduled job %q; jobs: %v", name, r.Jobs())
	}
	return j.run(ctx, r.clock.Now())
}
