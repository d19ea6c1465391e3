package home_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/files"
	"github.com/example/gdpr/internal/home"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/outbox"
	"github.com/example/gdpr/internal/secrets"
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

// TestOpenAWS: against an emulator, the master secret is the one GDPR_SECRET_ARN names, or,
// without it, the data folder's own.
func TestOpenAWS(t *testing.T) {
	srv := mototest.Start(t)
	vars := map[string]string{"TABLE_NAME": "gdpr-home", "BUCKET_NAME": "gdpr-home-exports", "SENDER_EMAIL": "no-reply@example.org", "GDPR_CREATE_TABLE": "1"}
	for _, kv := range srv.Env() {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	ctx := context.Background()
	value := secrets.Generate()
	out, err := awssm.NewFromConfig(srv.Config(t)).CreateSecret(ctx, &awssm.CreateSecretInput{Name: aws.String("gdpr-master"), SecretString: aws.String(value)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	local, err := home.LocalSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ arn, secret string }{
		"SecretsManager": {*out.ARN, value},
		"LocalSecret":    {"", local},
	} {
		t.Run(name, func(t *testing.T) {
			vars["GDPR_SECRET_ARN"] = c.arn
			p, err := home.Open(ctx, env(vars), dir, "http://127.0.0.1:3000", clock.System{}, discard)
			if err != nil {
				t.Fatal(err)
			}
			want, err := secrets.New([]byte(c.secret))
			if err != nil {
				t.Fatal(err)
			}
			if string(p.Secrets.Key(secrets.ForCursor)) != string(want.Key(secrets.ForCursor)) {
				t.Fatal("another master secret")
			}
		})
	}
}
