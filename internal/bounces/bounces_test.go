package bounces_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/example/gdpr/internal/bounces"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/outbox"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sqlite"
)

// onSQLite is the ports Guard sees in gdprd: the SQLite table, a secret, the outbox.
func onSQLite(t *testing.T) (*ports.Ports, *outbox.Outbox) {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "gdpr.db"), ports.TableDef())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	master, err := secrets.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := outbox.New(filepath.Join(dir, "outbox"), "privacy@example.org", clock.System{})
	if err != nil {
		t.Fatal(err)
	}
	return &ports.Ports{Table: db, Secrets: master, Mail: out, Clock: clock.System{}}, out
}

func TestMarkAndGuard(t *testing.T) {
	ctx := context.Background()
	p, out := onSQLite(t)
	store := bounces.Store{Table: p.Table, Secrets: p.Secrets}
	bounces.Guard(p)

	msg := func(tenant, to string) mail.Message {
		return mail.Message{To: to, Subject: "Your request", Text: "Text.\n", Tenant: tenant}
	}
	if _, err := p.Mail.Send(ctx, msg("acme", "ann@example.org")); err != nil {
		t.Fatalf("send before any bounce: %v", err)
	}

	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// The address as SES reports it may differ in case from the one on file.
	if err := store.Mark(ctx, "acme", "Ann@Example.org", "General", at); err != nil {
		t.Fatal(err)
	}
	// The same report twice changes nothing.
	if err := store.Mark(ctx, "acme", "ann@example.org", "General", at.Add(time.Hour)); err != nil {
		t.Fatalf("second mark: %v", err)
	}
	for _, c := range []struct {
		tenant, to string
		bounced    bool
	}{
		{"acme", "ann@example.org", true},
		{"acme", "bob@example.org", false},
		{"other", "ann@example.org", false}, // marks are per tenant
	} {
		got, err := store.IsBounced(ctx, c.tenant, c.to)
		if err != nil || got != c.bounced {
			t.Errorf("IsBounced(%s, %s) = %v, %v; want %v", c.tenant, c.to, got, err, c.bounced)
		}
	}

	if _, err := p.Mail.Send(ctx, msg("acme", "ann@example.org")); !errors.Is(err, mail.ErrUndeliverable) {
		t.Fatalf("send to a bounced address: %v, want mail.ErrUndeliverable", err)
	}
	if _, err := p.Mail.Send(ctx, msg("other", "ann@example.org")); err != nil {
		t.Fatalf("send in another tenant: %v", err)
	}
	sent, err := out.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 {
		t.Fatalf("%d messages in the outbox, want 2 (the refused one not among them)", len(sent))
	}
	if err := store.Mark(ctx, "acme", "not an address", "General", at); !errors.Is(err, bounces.ErrInvalidAddress) {
		t.Fatalf("Mark of no address: %v", err)
	}
}
