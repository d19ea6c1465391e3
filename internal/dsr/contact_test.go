package dsr_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
)

// testContactSealed: the address a request writes to is stored sealed, never in clear —
// whether it is the address on file, the one given, or that of an erasure the system opened —
// and mail still reaches it; a sealed address copied into another request does not open.
func testContactSealed(t *testing.T, e *env) {
	e.addSubject(t, "u-42", "ann.onfile@example.org")
	onFile := e.submit(t, dsr.Input{Type: dsr.Access, SubjectID: "u-42", Email: "given.by.site@example.org"}, site)
	given := e.submit(t, dsr.Input{Type: dsr.Erasure, Email: "Nobody.Known@Example.org"}, public)
	if _, err := e.svc.OpenErasure(ctx, e.tenant, "u-42", start.AddDate(-1, 0, 0), 365); err != nil {
		t.Fatal(err)
	}
	all := e.listAll(t, dsr.Filter{Limit: 50})
	if len(all) != 3 {
		t.Fatalf("%d requests, want 3", len(all))
	}
	want := map[string]string{onFile.ID: "ann.onfile@example.org", given.ID: "nobody.known@example.org"}
	for _, r := range all {
		if r.ID != onFile.ID && r.ID != given.ID {
			want[r.ID] = "ann.onfile@example.org" // the inactive subject's erasure
		}
	}
	for id, address := range want {
		it, err := e.table.Get(ctx, table.Key{PK: "T#" + e.tenant + "#R#" + id, SK: "REQUEST"})
		if err != nil {
			t.Fatal(err)
		}
		raw := strings.ToLower(string(it.Data))
		for _, clear := range []string{"@example.org", "ann.onfile", "nobody.known", "given.by.site"} {
			if strings.Contains(raw, clear) {
				t.Fatalf("request %s holds %q in clear: %s", id, clear, it.Data)
			}
		}
		r := e.get(t, id)
		if got, err := e.svc.Contact(r); err != nil || got != address {
			t.Fatalf("Contact of %s = %q, %v; want %q", id, got, err, address)
		}
	}

	// Mail is sent to the opened address.
	if got := e.mail.last(t).To; got != "nobody.known@example.org" {
		t.Fatalf("last code sent to %q", got)
	}
	e.clock.Set(start.Add(time.Hour))
	if _, err := e.svc.Extend(ctx, e.tenant, onFile.ID, "Two systems hold the data.", audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
	if m := e.mail.last(t); m.To != "ann.onfile@example.org" || !strings.Contains(m.Text, "Two systems hold the data.") {
		t.Fatalf("extension email to %q", m.To)
	}

	// Bound to its request: moved into another, it does not open, and no email goes out.
	moved := e.get(t, given.ID)
	moved.SealedContact = e.get(t, onFile.ID).SealedContact
	if _, err := e.svc.Contact(moved); !errors.Is(err, secrets.ErrNotSealed) {
		t.Fatalf("a contact sealed for another request opened: %v", err)
	}
	if err := e.svc.Tell(ctx, moved, "failed", dsr.Notice{}); !errors.Is(err, secrets.ErrNotSealed) {
		t.Fatalf("Tell with another request's contact = %v", err)
	}
}
