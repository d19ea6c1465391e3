package dsr_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
)

// testAnonymize: an erased subject's requests are found by pseudonym and keep nothing else.
func testAnonymize(t *testing.T, e *env) {
	e.addSubject(t, "u-42", "ann@example.org")
	e.addSubject(t, "u-7", "bob@example.org")
	phone := "+44 20 7946 0000"
	rect := e.submit(t, dsr.Input{Type: dsr.Rectification, SubjectID: "u-42", Rectification: &dsr.ProfileFields{Phone: &phone}, Note: "I am Ann Example"}, site)
	acc := e.submit(t, dsr.Input{Type: dsr.Access, Email: "ann@example.org"}, public)
	if _, err := e.svc.Reject(ctx, e.tenant, acc.ID, dsr.Rejection{Reason: dsr.OtherReason, Detail: "Dear Ann Example"}, audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
	other := e.submit(t, dsr.Input{Type: dsr.Access, Email: "bob@example.org"}, public)

	ps := subject.Pseudonym(e.secrets, e.tenant, "u-42")
	ids, err := e.svc.SubjectRequests(ctx, e.tenant, ps)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{rect.ID, acc.ID}) {
		t.Fatalf("SubjectRequests = %v; want %v", ids, []string{rect.ID, acc.ID})
	}
	for _, id := range ids {
		for range 2 {
			if _, err := e.svc.Anonymize(ctx, e.tenant, id, "req_erasure"); err != nil {
				t.Fatal(err)
			}
		}
		r := e.get(t, id)
		if r.SubjectID != "" || r.SealedContact != "" || r.Note != "" || r.Rectification != nil || r.Pseudonym != ps {
			t.Fatalf("anonymized request = %+v", r)
		}
		it, err := e.table.Get(ctx, table.Key{PK: "T#" + e.tenant + "#R#" + id, SK: "REQUEST"})
		if err != nil {
			t.Fatal(err)
		}
		for _, pd := range []string{"ann@", "Ann", "7946", "u-42", "sealed_contact"} {
			if strings.Contains(string(it.Data), pd) {
				t.Fatalf("request %s still holds %q", id, pd)
			}
		}
		if n := strings.Count(string(it.Data), `"anonymized"`); n != 1 {
			t.Fatalf("request %s has %d anonymized events; want 1 (a replay writes nothing)", id, n)
		}
	}
	// The audit trail still finds them by pseudonym; the other subject's request is untouched.
	if again, err := e.svc.SubjectRequests(ctx, e.tenant, ps); err != nil || !slices.Equal(again, ids) {
		t.Fatalf("SubjectRequests after = %v, %v", again, err)
	}
	r := e.get(t, other.ID)
	if to, err := e.svc.Contact(r); err != nil || to != "bob@example.org" || r.SubjectID != "u-7" {
		t.Fatalf("another subject's request changed: %+v (contact %q, %v)", r, to, err)
	}
}
