package home_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/files"
	"github.com/example/gdpr/internal/home"
	"github.com/example/gdpr/internal/outbox"
	"github.com/example/gdpr/internal/sqlite"
	"github.com/example/gdpr/internal/table"
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

var discard = slog.New(slog.DiscardHandler)

func TestLocal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p, err := home.Local(dir, clock.System{}, "http://127.0.0.1:3000", discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Table.(*sqlite.DB); !ok {
		t.Fatalf("table is %T, want *sqlite.DB", p.Table)
	}
	if _, ok := p.Objects.(*files.Store); !ok {
		t.Fatalf("objects is %T, want *files.Store", p.Objects)
	}
	if _, ok := p.Mail.(*outbox.Outbox); !ok {
		t.Fatalf("mail is %T, want *outbox.Outbox", p.Mail)
	}
	ctx := context.Background()
	it, err := table.NewItem(table.Key{PK: "p", SK: "s"}, 0, map[string]int{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Table.Put(ctx, it, table.Cond{Kind: table.IfAbsent}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{home.DatabaseFile, home.ExportsDir, home.OutboxDir, home.SecretFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// Reopened, the same data and the same secret.
	q, err := home.Local(dir, clock.System{}, "http://127.0.0.1:3000", discard)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Table.Get(ctx, it.Key); err != nil {
		t.Fatalf("after reopening: %v", err)
	}
	if got, want := string(q.Secrets.Key("cursor")), string(p.Secrets.Key("cursor")); got != want {
		t.Fatal("the master secret changed on reopening")
	}
}

func TestLocalSecret(t *testing.T) {
	dir := t.TempDir()
	// Processes starting at once agree on one secret.
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Go(func() {
			s, err := home.LocalSecret(dir)
			if err != nil {
				t.Error(err)
			}
			got[i] = s
		})
	}
	wg.Wait()
	for _, s := range got[1:] {
		if s != got[0] {
			t.Fatal("concurrent first starts made different secrets")
		}
	}
	if len(got[0]) < 32 {
		t.Fatalf("secret of %d characters", len(got[0]))
	}
	fi, err := os.Stat(filepath.Join(dir, home.SecretFile))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Fatalf("mode = %v, want %v", got, want)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%d files left in the folder, want only the secret", len(entries))
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	p, err := home.Open(context.Background(), env(nil), dir, "http://127.0.0.1:3000", clock.System{}, discard)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, ok := p.Table.(*sqlite.DB); !ok {
		t.Fatalf("without TABLE_NAME, table is %T, want *sqlite.DB", p.Table)
	}
}
