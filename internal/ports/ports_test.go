package ports_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/samtemplate"
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

// TestTableDef keeps the Go value of the table equal to template.yaml's declaration.
func TestTableDef(t *testing.T) {
	tpl, err := samtemplate.Parse(gdpr.Template)
	if err != nil {
		t.Fatal(err)
	}
	want, err := tpl.Table("Table")
	if err != nil {
		t.Fatal(err)
	}
	if got := ports.TableDef(); !reflect.DeepEqual(got, want) {
		t.Fatalf("ports.TableDef() = %+v\ntemplate.yaml declares %+v", got, want)
	}
}

func TestLogger(t *testing.T) {
	ctx := context.Background()
	for level, want := range map[string]slog.Level{"": slog.LevelInfo, "DEBUG": slog.LevelDebug, "warn": slog.LevelWarn, "ERROR": slog.LevelError, "loud": slog.LevelInfo} {
		l := ports.Logger(env(map[string]string{ports.EnvLogLevel: level}))
		if !l.Enabled(ctx, want) || (want > slog.LevelDebug && l.Enabled(ctx, want-1)) {
			t.Errorf("%s=%q: not at level %v", ports.EnvLogLevel, level, want)
		}
	}
	if ports.EnvLogLevel != "AWS_LAMBDA_LOG_LEVEL" {
		t.Errorf("the level is read from %s, not from what Lambda sets from ApplicationLogLevel", ports.EnvLogLevel)
	}
}

// TestLoggerLines: every line is a JSON object in Lambda's shape, with the request id of the
// invocation whose context it was logged in. (Under WithGroup it would land in the group, as
// with lambdacontext's handler; the service logs no groups.)
func TestLoggerLines(t *testing.T) {
	var buf bytes.Buffer
	l := ports.NewLogger(&buf, env(nil)).With("function", "F")
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	l.InfoContext(ctx, "first", "n", 1)
	l.InfoContext(ctx, "second", "n", 2)
	l.Info("outside an invocation")
	l.Debug("below the level")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	for i, want := range []struct {
		message, requestID string
	}{{"first", "req-1"}, {"second", "req-1"}, {"outside an invocation", ""}} {
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i, err, lines[i])
		}
		if rec["message"] != want.message || rec["level"] != "INFO" || rec["timestamp"] == nil || rec["function"] != "F" {
			t.Errorf("line %d = %s: want message %q, level INFO, timestamp, function", i, lines[i], want.message)
		}
		if got, _ := rec["requestId"].(string); got != want.requestID {
			t.Errorf("line %d: requestId %q, want %q", i, got, want.requestID)
		}
	}
}
