package dsr_test

import (
	"testing"

	"github.com/example/gdpr/internal/dsr"
)

// testWait: a processing request parks without spending an attempt, and is woken once.
func testWait(t *testing.T, e *env) {
	r := e.verified(t, "ann@example.org")
	if _, err := e.svc.Wait(ctx, e.tenant, r.ID, "sites"); !hasCode(err, dsr.CodeInvalidTransition) {
		t.Fatalf("Wait of a verified request = %v", err)
	}
	if _, woken, err := e.svc.Resume(ctx, e.tenant, r.ID, "deliveries settled"); err != nil || woken {
		t.Fatalf("Resume of a verified request = %v, %v", woken, err)
	}
	c, _, err := e.svc.Claim(ctx, e.tenant, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.svc.Wait(ctx, e.tenant, r.ID, "1 of 2 site deliveries to be confirmed")
	if err != nil || w.Status != dsr.Processing || w.Waiting == "" || w.Attempts != c.Attempts-1 {
		t.Fatalf("Wait = %+v, %v", w, err)
	}
	got, woken, err := e.svc.Resume(ctx, e.tenant, r.ID, "deliveries settled")
	if err != nil || !woken || got.Waiting != "" || got.Timeline[len(got.Timeline)-1].Event != "woken" {
		t.Fatalf("Resume = %+v, %v, %v", got, woken, err)
	}
	// Woken once: a second Resume finds nothing waiting, and writes nothing.
	v := e.version(t, r.ID)
	if _, woken, err := e.svc.Resume(ctx, e.tenant, r.ID, "deliveries settled"); err != nil || woken || e.version(t, r.ID) != v {
		t.Fatalf("second Resume = %v, %v", woken, err)
	}
}

func hasCode(err error, code string) bool {
	return err != nil && len(err.Error()) > len(code) && err.Error()[:len(code)+1] == code+":"
}
