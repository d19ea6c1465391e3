// Command gdprctl is the operator's command line. It works on the same store as gdprd (the
// local one under GDPR_DATA_DIR, default .local, or AWS when TABLE_NAME is set), prints JSON
// on stdout, and errors on stderr with a non-zero exit status.
//
//	gdprctl tenant create NAME    new tenant: {"tenant","site_key","admin_key"}
//	gdprctl tenant list           {"tenants":[...]}
//	gdprctl tenant get NAME       the tenant's settings, as GET /v1/tenant shows them (no keys)
//	gdprctl tenant set NAME --file patch.json   apply a JSON merge patch, as PATCH /v1/tenant
//	gdprctl key rotate NAME       new keys; the old ones stop working
//	gdprctl requests approve TENANT ID   a request awaiting approval goes on (verified), as
//	                              POST /v1/requests/{id}/approve
//	gdprctl systems add TENANT --name N --url U [--events erasure,rectification,restriction]
//	                              a marketplace site, with its signing secret (shown once)
//	gdprctl systems list TENANT   {"items":[...]} (no secrets)
//	gdprctl systems remove TENANT ID
//	gdprctl systems rotate TENANT ID   a new signing secret (shown once)
//	gdprctl jobs list             {"jobs":[...]}
//	gdprctl jobs run NAME [--now RFC3339]   run a scheduled job now, in process
//	gdprctl policies publish TENANT --version V --url U --summary S --effective-at T [--material]
//	gdprctl policies list TENANT  the published versions
//	gdprctl policies status TENANT VERSION   the version's notification run
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/awsports"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/handlers/requestsapi"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/notify"
	"github.com/example/gdpr/internal/policy"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/sites"
	"github.com/example/gdpr/internal/tenant"
)

// errUsage is a command line that names no command.
var errUsage = errors.New(`usage:
  gdprctl tenant create NAME
  gdprctl tenant list
  gdprctl tenant get NAME
  gdprctl tenant set NAME --file patch.json
  gdprctl key rotate NAME
  gdprctl requests list TENANT [--status S] [--type T] [--due-before RFC3339] [--overdue] [--limit N] [--cursor C]
  gdprctl requests approve TENANT ID
  gdprctl systems add TENANT --name NAME --url URL [--events erasure,rectification,restriction]
  gdprctl systems list TENANT
  gdprctl systems remove TENANT ID
  gdprctl systems rotate TENANT ID
  gdprctl jobs list
  gdprctl jobs run NAME [--now RFC3339]
  gdprctl policies publish TENANT --version V --url https://... --summary TEXT --effective-at RFC3339 [--material]
  gdprctl policies list TENANT
  gdprctl policies status TENANT VERSION`)

func main() {
	err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gdprctl:", errorText(err))
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// command is one gdprctl command: its words, how many arguments it takes, and what it does.
type command struct {
	words []string
	args  int
	run   func(ctx context.Context, e *env, args []string) (any, error)
}

var commands = []command{
	{[]string{"tenant", "create"}, 1, tenantCreate},
	{[]string{"tenant", "list"}, 0, tenantList},
	{[]string{"tenant", "get"}, 1, tenantGet},
	{[]string{"tenant", "set"}, 1, tenantSet},
	{[]string{"key", "rotate"}, 1, keyRotate},
	{[]string{"requests", "list"}, 1, requestsList},
	{[]string{"requests", "approve"}, 2, requestsApprove},
	{[]string{"systems", "add"}, 1, systemsAdd},
	{[]string{"systems", "list"}, 1, systemsList},
	{[]string{"systems", "remove"}, 2, systemsRemove},
	{[]string{"systems", "rotate"}, 2, systemsRotate},
	{[]string{"jobs", "list"}, 0, jobsList},
	{[]string{"jobs", "run"}, 1, jobsRun},
	{[]string{"policies", "publish"}, 1, policiesPublish},
	{[]string{"policies", "list"}, 1, policiesList},
	{[]string{"policies", "status"}, 2, policiesStatus},
}

// env is what commands work with.
type env struct {
	getenv  func(string) string
	dataDir string
	clock   *clock.Settable
	runner  *gdprd.Runner
	// filter holds the flags of requests list.
	filter dsr.Filter
	// publish holds the flags of policies publish.
	publish policy.Input
	// patchFile is tenant set's --file.
	patchFile string
	// system holds the flags of systems add.
	system sites.Registration
}

func (e *env) tenants() tenant.Store {
	return tenant.Store{Table: e.runner.Ports.Table, Clock: e.clock}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) < 2 {
		return errUsage
	}
	var cmd *command
	for i := range commands {
		if commands[i].words[0] == args[0] && commands[i].words[1] == args[1] {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		return fmt.Errorf("unknown command %q: %w", args[0]+" "+args[1], errUsage)
	}
	fs := flag.NewFlagSet(args[0]+" "+args[1], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	now := fs.String("now", "", "run at this time (RFC 3339), for jobs run")
	var f dsr.Filter
	fs.Func("status", "requests list: only this status", func(s string) error { f.Status = dsr.Status(s); return nil })
	fs.Func("type", "requests list: only this type", func(s string) error { f.Type = dsr.Type(s); return nil })
	fs.Func("due-before", "requests list: due before this time (RFC 3339)", func(s string) (err error) {
		f.DueBefore, err = time.Parse(time.RFC3339, s)
		return err
	})
	fs.BoolVar(&f.Overdue, "overdue", false, "requests list: only requests flagged overdue")
	fs.IntVar(&f.Limit, "limit", 50, "requests list: page size")
	fs.StringVar(&f.Cursor, "cursor", "", "requests list: next_cursor of the page before")
	var pub policy.Input
	fs.StringVar(&pub.Version, "version", "", "policies publish: the version")
	// --url is the policy's text for policies publish and the site's endpoint for systems add.
	url := fs.String("url", "", "policies publish: the https URL of its text; systems add: the URL the site receives calls at")
	fs.StringVar(&pub.Summary, "summary", "", "policies publish: what changes, plain text")
	fs.Func("effective-at", "policies publish: when it takes effect (RFC 3339)", func(s string) (err error) {
		pub.EffectiveAt, err = time.Parse(time.RFC3339, s)
		return err
	})
	fs.BoolVar(&pub.Material, "material", false, "policies publish: subjects must consent again once it takes effect")
	patchFile := fs.String("file", "", "tenant set: the file holding the JSON merge patch")
	reg := sites.Registration{Events: sites.Events}
	fs.StringVar(&reg.Name, "name", "", "systems add: the site's name")
	fs.Func("events", "systems add: events the site takes, comma-separated (default all)", func(s string) error {
		reg.Events = strings.Split(s, ",")
		return nil
	})
	// Flags may come before or after the argument.
	rest, err := parseInterspersed(fs, args[2:])
	if err != nil {
		return fmt.Errorf("%w\n%w", err, errUsage)
	}
	if len(rest) != cmd.args {
		return errUsage
	}
	pub.URL, reg.URL = *url, *url
	e := &env{getenv: getenv, dataDir: setting(getenv, "GDPR_DATA_DIR", gdprd.DefaultDataDir), clock: &clock.Settable{}, filter: f, publish: pub, patchFile: *patchFile, system: reg}
	if *now != "" {
		t, err := time.Parse(time.RFC3339, *now)
		if err != nil {
			return fmt.Errorf("--now is not an RFC 3339 time: %w", errUsage)
		}
		e.clock.Set(t)
	}
	log := ports.Logger(getenv)
	e.runner, err = gdprd.NewRunner(ctx, gdprd.Config{
		Addr:    "127.0.0.1:" + setting(getenv, "PORT", gdprd.DefaultPort),
		DataDir: e.dataDir,
		Env:     getenv,
		Log:     log,
	}, e.clock)
	if err != nil {
		return err
	}
	out, err := cmd.run(ctx, e, rest)
	if cerr := e.runner.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func setting(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func tenantCreate(ctx context.Context, e *env, args []string) (any, error) {
	_, keys, err := e.tenants().Create(ctx, args[0])
	return keys, err
}

func tenantList(ctx context.Context, e *env, _ []string) (any, error) {
	ids, err := e.tenants().List(ctx)
	if ids == nil {
		ids = []string{}
	}
	return map[string][]string{"tenants": ids}, err
}

// tenantGet prints what GET /v1/tenant answers.
func tenantGet(ctx context.Context, e *env, args []string) (any, error) {
	t, err := e.tenants().Get(ctx, args[0])
	return t.Settings, err
}

// tenantSet applies the merge patch in --file as PATCH /v1/tenant does (the same function:
// validated as a whole, audited as the operator's), and prints the new settings.
func tenantSet(ctx context.Context, e *env, args []string) (any, error) {
	if e.patchFile == "" {
		return nil, fmt.Errorf("tenant set needs --file: %w", errUsage)
	}
	f, err := os.Open(e.patchFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patch, err := io.ReadAll(io.LimitReader(f, httpapi.MaxBody+1))
	if err != nil {
		return nil, err
	}
	if len(patch) > httpapi.MaxBody {
		return nil, fmt.Errorf("%s is larger than %d bytes", e.patchFile, httpapi.MaxBody)
	}
	return e.tenants().PatchSettings(ctx, args[0], audit.ActorOperator, patch)
}

// errorText is err for the operator: an application error with the fields it names, one a
// line, so that a refused patch says which settings to fix.
func errorText(err error) string {
	e, ok := apperr.From(err)
	if !ok {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(e.Error())
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
	}
	return b.String()
}

// keyRotate also rewrites the local credentials file when it holds this tenant's keys, so
// that `make run`'s demo keys stay usable.
func keyRotate(ctx context.Context, e *env, args []string) (any, error) {
	keys, err := e.tenants().RotateKeys(ctx, args[0])
	if err != nil {
		return nil, err
	}
	if e.getenv(awsports.EnvTable) == "" {
		if old, err := gdprd.ReadCredentials(e.dataDir); err == nil && old.Tenant == keys.Tenant {
			if err := gdprd.WriteCredentials(e.dataDir, keys); err != nil {
				return nil, err
			}
		}
	}
	return keys, nil
}

// requestsList prints the tenant's queue of data subject requests, soonest due first, as the
// operator route GET /v1/requests does.
func requestsList(ctx context.Context, e *env, args []string) (any, error) {
	if _, err := e.tenants().Get(ctx, args[0]); err != nil {
		return nil, err
	}
	p := e.runner.Ports
	reqs, next, err := dsr.New(p.Table, e.tenants(), p.Mail, e.clock, p.Secrets).List(ctx, args[0], e.filter)
	if err != nil {
		return nil, err
	}
	out := struct {
		Items      []requestsapi.Summary `json:"items"`
		NextCursor string                `json:"next_cursor,omitempty"`
	}{Items: []requestsapi.Summary{}, NextCursor: next}
	for _, r := range reqs {
		out.Items = append(out.Items, requestsapi.SummaryOf(r))
	}
	return out, nil
}

// requestsApprove approves a request that awaits an operator, as the operator route
// POST /v1/requests/{id}/approve does (the same function: audited as the operator's), and
// prints it. Fulfilment starts from the change: on the local store once gdprd runs, as it
// reads the change feed.
func requestsApprove(ctx context.Context, e *env, args []string) (any, error) {
	if _, err := e.tenants().Get(ctx, args[0]); err != nil {
		return nil, err
	}
	p := e.runner.Ports
	r, err := dsr.New(p.Table, e.tenants(), p.Mail, e.clock, p.Secrets).Approve(ctx, args[0], args[1], audit.ActorOperator)
	if err != nil {
		return nil, err
	}
	return requestsapi.SummaryOf(r), nil
}

// sites is the marketplace-site registry on the command's store, with the local server's
// URL rules when the store is (gdprd's ports say so).
func (e *env) sites(ctx context.Context, tenantID string) (*sites.Service, error) {
	if _, err := e.tenants().Get(ctx, tenantID); err != nil {
		return nil, err
	}
	p := e.runner.Ports
	return sites.New(p.Table, e.clock, p.Secrets, p.Local, p.Log), nil
}

// withSecret is what systems add and rotate print: the one time the secret is shown.
type withSecret struct {
	sites.System
	Secret string `json:"secret"`
}

func systemsAdd(ctx context.Context, e *env, args []string) (any, error) {
	svc, err := e.sites(ctx, args[0])
	if err != nil {
		return nil, err
	}
	sys, secret, err := svc.Register(ctx, args[0], e.system, audit.ActorOperator)
	return withSecret{sys, secret}, err
}

func systemsList(ctx context.Context, e *env, args []string) (any, error) {
	svc, err := e.sites(ctx, args[0])
	if err != nil {
		return nil, err
	}
	all, err := svc.Systems(ctx, args[0])
	return map[string][]sites.System{"items": all}, err
}

func systemsRemove(ctx context.Context, e *env, args []string) (any, error) {
	svc, err := e.sites(ctx, args[0])
	if err != nil {
		return nil, err
	}
	if err := svc.Remove(ctx, args[0], args[1], audit.ActorOperator); err != nil {
		return nil, err
	}
	return map[string]string{"removed": args[1]}, nil
}

func systemsRotate(ctx context.Context, e *env, args []string) (any, error) {
	svc, err := e.sites(ctx, args[0])
	if err != nil {
		return nil, err
	}
	sys, secret, err := svc.RotateSecret(ctx, args[0], args[1], audit.ActorOperator)
	return withSecret{sys, secret}, err
}

func jobsList(_ context.Context, e *env, _ []string) (any, error) {
	jobs := e.runner.Jobs()
	if jobs == nil {
		jobs = []string{}
	}
	return map[string][]string{"jobs": jobs}, nil
}

func jobsRun(ctx context.Context, e *env, args []string) (any, error) {
	return e.runner.RunJob(ctx, args[0])
}

func (e *env) policies() policy.Store {
	return policy.Store{Table: e.runner.Ports.Table, Clock: e.clock, Tenants: e.tenants(), Audit: audit.Log{Table: e.runner.Ports.Table}}
}

// policiesPublish publishes a version as POST /v1/policies does, its run included. The run
// starts when the server's feed sees the version, or with `gdprctl jobs run notifications`.
func policiesPublish(ctx context.Context, e *env, args []string) (any, error) {
	return notify.Publish(ctx, e.policies(), args[0], e.publish)
}

func policiesList(ctx context.Context, e *env, args []string) (any, error) {
	if _, err := e.tenants().Get(ctx, args[0]); err != nil {
		return nil, err
	}
	tl, err := e.policies().Timeline(ctx, args[0])
	if err != nil {
		return nil, err
	}
	return map[string][]policy.Policy{"items": append([]policy.Policy{}, tl.All()...)}, nil
}

func policiesStatus(ctx context.Context, e *env, args []string) (any, error) {
	return notify.ReadStatus(ctx, e.runner.Ports.Table, args[0], args[1], e.clock.Now())
}
