package consent_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// failingTransacts fails every Transact after the first n: a crash part-way through a step.
type failingTransacts struct {
	table.Table
	n int
}

var errCrash = errors.New("injected crash")

func (f *failingTransacts) Transact(ctx context.Context, ws []table.Write) error {
	if f.n == 0 {
		return errCrash
	}
	f.n--
	return f.Table.Transact(ctx, ws)
}

func testErasure(t *testing.T, open opener) {
	e := newEnv(t, open)
	ctx := t.Context()
	for _, id := range []string{"u-1", "u-2"} {
		d := decision(id, all(true, true, true))
		d.Email = id + "@example.org"
		e.record(t, d)
		e.record(t, decision(id, map[string]bool{"marketing": false}))
	}
	if _, err := e.svc.PutProfile(ctx, e.tenant, "u-1", consent.ProfileInput{FirstName: "Annabel", Email: "ann@example.org", Phone: "+44 20 7946 0000"}); err != nil {
		t.Fatal(err)
	}
	const devices = 60
	for range devices {
		if _, err := e.svc.RecordDevice(ctx, e.tenant, "u-1", consent.Device{IP: "198.51.100.7", UserAgent: "Mozilla/5.0 (Erased)"}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("CloseGate", func(t *testing.T) {
		for range 2 {
			found, err := e.svc.CloseGate(ctx, e.tenant, "u-1")
			if err != nil || !found {
				t.Fatalf("CloseGate = %v, %v", found, err)
			}
		}
		if _, err := e.svc.Get(ctx, e.tenant, "u-1"); !errors.Is(err, consent.ErrNotFound) {
			t.Fatalf("Get after CloseGate = %v; want ErrNotFound", err)
		}
		_, err := e.svc.RecordDevice(ctx, e.tenant, "u-1", consent.Device{Browser: "late"})
		wantCode(t, err, consent.CodeConsentRequired)
		if found, err := e.svc.CloseGate(ctx, e.tenant, "nobody"); err != nil || found {
			t.Fatalf("CloseGate(unknown) = %v, %v", found, err)
		}
	})

	t.Run("Profile", func(t *testing.T) {
		// The decision's address was replaced by the profile's; the request may name either.
		p, n, err := subject.EraseProfile(ctx, e.table, e.secrets, e.tenant, "u-1", "u-1@example.org", "u-2@example.org")
		if err != nil || !p || n != 1 {
			t.Fatalf("EraseProfile = %v, %d, %v; want the profile and one lookup", p, n, err)
		}
		wantAbsent(t, e.table, subject.ProfileKey("acme", "u-1"))
		wantAbsent(t, e.table, subject.EmailKey(e.secrets, "acme", "ann@example.org"))
		if id, err := subject.FindByEmail(ctx, e.table, e.secrets, "acme", "u-2@example.org"); err != nil || id != "u-2" {
			t.Fatalf("another subject's lookup: %q, %v", id, err)
		}
		if p, n, err := subject.EraseProfile(ctx, e.table, e.secrets, e.tenant, "u-1"); err != nil || p || n != 0 {
			t.Fatalf("EraseProfile again = %v, %d, %v; want nothing", p, n, err)
		}
	})

	t.Run("DevicesResumeAfterCrash", func(t *testing.T) {
		crashing := consent.New(consent.Config{Table: &failingTransacts{Table: e.table, n: 1}, Clock: e.clock, Secrets: e.secrets, Tenants: tenantsOf(e)})
		n, err := crashing.EraseDevices(ctx, e.tenant, "u-1")
		if !errors.Is(err, errCrash) || n != 25 {
			t.Fatalf("crashed EraseDevices = %d, %v; want 25 and the crash", n, err)
		}
		n, err = e.svc.EraseDevices(ctx, e.tenant, "u-1")
		if err != nil || n != devices-25 {
			t.Fatalf("resumed EraseDevices = %d, %v; want %d", n, err, devices-25)
		}
		if n, err := e.svc.EraseDevices(ctx, e.tenant, "u-1"); err != nil || n != 0 {
			t.Fatalf("EraseDevices again = %d, %v", n, err)
		}
	})

	pseudonym := subject.Pseudonym(e.secrets, "acme", "u-1")
	t.Run("LedgerAndState", func(t *testing.T) {
		crashing := consent.New(consent.Config{Table: &failingTransacts{Table: e.table}, Clock: e.clock, Secrets: e.secrets, Tenants: tenantsOf(e)})
		if _, err := crashing.EraseState(ctx, e.tenant, "u-1", "req_erase1"); !errors.Is(err, errCrash) {
			t.Fatalf("crashed EraseState = %v", err)
		}
		found, err := e.svc.EraseState(ctx, e.tenant, "u-1", "req_erase1")
		if err != nil || !found {
			t.Fatalf("EraseState = %v, %v", found, err)
		}
		if found, err := e.svc.EraseState(ctx, e.tenant, "u-1", "req_erase1"); err != nil || found {
			t.Fatalf("EraseState again = %v, %v", found, err)
		}
		entries, heads, err := e.svc.ErasedLedger(ctx, e.tenant, pseudonym)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 || len(heads) != 1 {
			t.Fatalf("moved ledger: %d entries, %d heads; want 2 and 1", len(entries), len(heads))
		}
		if err := consent.Verify(entries); err != nil {
			t.Fatalf("moved chain: %v", err)
		}
		if h := heads[0]; h.Seq != 2 || h.Hash != entries[1].Hash || h.RequestID != "req_erase1" {
			t.Fatalf("head = %+v; want the last entry", h)
		}
		for _, en := range entries {
			if en.Evidence != nil || en.EvidenceDigest == "" || en.Subject != pseudonym {
				t.Fatalf("moved entry keeps evidence or lost its digest: %+v", en)
			}
		}
	})

	t.Run("NothingLeft", func(t *testing.T) {
		page, err := e.table.Query(ctx, table.Query{PK: subject.PK("acme", "u-1")})
		if err != nil || len(page.Items) != 0 {
			t.Fatalf("subject partition holds %d items, %v", len(page.Items), err)
		}
		page, err = e.table.Query(ctx, table.Query{PK: consent.ErasedPK("acme", pseudonym)})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			for _, pd := range []string{"198.51.100.7", "Mozilla", "u-1", "ann@", "Annabel"} {
				if strings.Contains(string(it.Data), pd) {
					t.Fatalf("%s still holds personal data", it.Key)
				}
			}
		}
		// The other subject is untouched.
		if v := e.get(t, "u-2"); !v.LoginAllowed {
			t.Fatal("u-2 lost its login")
		}
	})

	t.Run("ConsentAgainStartsANewChain", func(t *testing.T) {
		rc := e.record(t, decision("u-1", map[string]bool{"terms": true}))
		if rc.Entry.Seq != 1 || rc.Entry.PrevHash != "" {
			t.Fatalf("entry after erasure: seq %d, prev %q; want a new chain", rc.Entry.Seq, rc.Entry.PrevHash)
		}
	})
}

func tenantsOf(e *env) consent.Tenants { return tenant.Store{Table: e.table, Clock: e.clock} }
