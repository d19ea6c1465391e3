// Command gdprd is the local and self-hosted server: every function of template.yaml behind
// one listener on 127.0.0.1 (`gdprd` or `gdprd serve`), or one function invoked once with
// an event file (`gdprd invoke -function MetaFunction -event events/meta-health.json`).
//
// Settings: PORT (3000), GDPR_DATA_DIR (.local), AWS_LAMBDA_LOG_LEVEL; TABLE_NAME, BUCKET_NAME,
// SENDER_EMAIL and AWS_* select DynamoDB, S3 and SES instead of the embedded adapters, and
// GDPR_CREATE_TABLE=1 creates the table and bucket in an empty emulator first; on those
// adapters /_local/* is served only with GDPR_LOCAL_ROUTES=1.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/ports"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gdprd:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	cfg := gdprd.Config{
		Addr:    "127.0.0.1:" + setting("PORT", gdprd.DefaultPort),
		DataDir: setting("GDPR_DATA_DIR", gdprd.DefaultDataDir),
		Env:     os.Getenv,
		Log:     ports.Logger(os.Getenv),
		Out:     stdout,
	}
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		if len(args) > 0 {
			return fmt.Errorf("serve takes no arguments")
		}
		return serve(cfg)
	case "invoke":
		return invoke(cfg, args, stdout)
	default:
		return fmt.Errorf("unknown command %q (commands: serve, invoke)", cmd)
	}
}

func setting(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func serve(cfg gdprd.Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := gdprd.New(ctx, cfg)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

func invoke(cfg gdprd.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	function := fs.String("function", "", "logical id of the function in template.yaml, e.g. MetaFunction")
	event := fs.String("event", "", "file holding the event, e.g. events/meta-health.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *function == "" || *event == "" || fs.NArg() > 0 {
		return fmt.Errorf("usage: gdprd invoke -function LogicalId -event FILE")
	}
	payload, err := os.ReadFile(*event)
	if err != nil {
		return err
	}
	ctx := context.Background()
	r, err := gdprd.NewRunner(ctx, cfg, clock.System{})
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := gdprd.EnsureDemo(ctx, r.Ports, cfg.DataDir); err != nil {
		return err
	}
	// The samples name the demo tenant's keys by placeholders (the function checks the key
	// itself, as in AWS): put this data folder's keys in.
	if payload, err = gdprd.WithDemoKeys(payload, cfg.DataDir); err != nil {
		return err
	}
	out, err := r.Invoke(ctx, *function, payload)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}
