package bouncesfn_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/example/gdpr/internal/bounces"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/handlers/bouncesfn"
	"github.com/example/gdpr/internal/mail"
)

// TestBounces invokes BouncesFunction through gdprd, as `gdprd invoke` and Lambda do, with
// the sample event and variations of it, and reads the marks back through their owner.
func TestBounces(t *testing.T) {
	ctx := context.Background()
	r, err := gdprd.NewRunner(ctx, gdprd.Config{DataDir: t.TempDir(), Env: func(string) string { return "" }, Addr: "127.0.0.1:3000"}, clock.System{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	store := bounces.Store{Table: r.Ports.Table, Secrets: r.Ports.Secrets}
	sample, err := os.ReadFile("../../../events/bounces-permanent.json")
	if err != nil {
		t.Fatal(err)
	}
	invoke := func(t *testing.T, event string) bouncesfn.Result {
		t.Helper()
		out, err := r.Invoke(ctx, "BouncesFunction", []byte(event))
		if err != nil {
			t.Fatalf("invoke: %v", err)
		}
		if strings.Contains(string(out), "@") {
			t.Fatalf("answer %s names an address", out)
		}
		var res bouncesfn.Result
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	bounced := func(t *testing.T, tenant, email string) bool {
		t.Helper()
		b, err := store.IsBounced(ctx, tenant, email)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	t.Run("Transient", func(t *testing.T) {
		res := invoke(t, strings.Replace(string(sample), `"bounceType": "Permanent"`, `"bounceType": "Transient"`, 1))
		if res != (bouncesfn.Result{Ignored: "not_permanent"}) || bounced(t, "demo", "nobody@example.org") {
			t.Fatalf("a transient bounce: %+v", res)
		}
	})
	t.Run("NoTenant", func(t *testing.T) {
		res := invoke(t, strings.Replace(string(sample), `"tenant": ["demo"]`, `"other": ["demo"]`, 1))
		if res != (bouncesfn.Result{Ignored: "no_tenant"}) {
			t.Fatalf("a message for no tenant: %+v", res)
		}
	})
	t.Run("Permanent", func(t *testing.T) {
		// Delivered twice, as EventBridge may: one mark, the same answer.
		for range 2 {
			if res := invoke(t, string(sample)); res != (bouncesfn.Result{Marked: 1}) {
				t.Fatalf("a permanent bounce: %+v", res)
			}
		}
		if !bounced(t, "demo", "nobody@example.org") || bounced(t, "other", "nobody@example.org") {
			t.Fatal("the address is not marked in its tenant only")
		}
		// And the mail port refuses it from now on.
		_, err := r.Ports.Mail.Send(ctx, mail.Message{To: "nobody@example.org", Subject: "S", Text: "T", Tenant: "demo"})
		if !errors.Is(err, mail.ErrUndeliverable) {
			t.Fatalf("send after the bounce: %v, want mail.ErrUndeliverable", err)
		}
	})
}
