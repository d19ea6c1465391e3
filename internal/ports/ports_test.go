package ports_test

import (
	"context"
	"log/slog"
	"reflect"
	"testing"

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
		l := ports.Logger(env(map[string]string{"LOG_LEVEL": level}))
		if !l.Enabled(ctx, want) || (want > slog.LevelDebug && l.Enabled(ctx, want-1)) {
			t.Errorf("LOG_LEVEL=%q: not at level %v", level, want)
		}
	}
}
