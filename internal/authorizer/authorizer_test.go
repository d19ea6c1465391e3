package authorizer_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/authorizer"
	"github.com/example/gdpr/internal/tenant"
)

type keys map[string][2]string

func (k keys) Resolve(_ context.Context, key string) (string, string, error) {
	if key == "broken" {
		return "", "", errors.New("table unavailable")
	}
	v, ok := k[key]
	if !ok {
		return "", "", tenant.ErrUnknownKey
	}
	return v[0], v[1], nil
}

func TestHandle(t *testing.T) {
	h := authorizer.Handler{Keys: keys{"good": {"acme", "site"}}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, tc := range []struct {
		name, header, tenant, role string
		fails                      bool
	}{
		{name: "Valid", header: "Bearer good", tenant: "acme", role: "site"},
		{name: "SchemeCase", header: "bearer good", tenant: "acme", role: "site"},
		{name: "Missing", header: ""},
		{name: "NotBearer", header: "Basic good"},
		{name: "Unknown", header: "Bearer other"},
		{name: "Empty", header: "Bearer "},
		{name: "LookupFails", header: "Bearer broken", fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := events.APIGatewayV2CustomAuthorizerV2Request{Headers: map[string]string{}}
			if tc.header != "" {
				ev.Headers["authorization"] = tc.header
			}
			resp, err := h.Handle(context.Background(), ev)
			if tc.fails {
				if err == nil || resp.IsAuthorized {
					t.Fatalf("a failed lookup must fail the call, got %+v %v", resp, err)
				}
				return
			}
			if err != nil || !resp.IsAuthorized {
				t.Fatalf("got %+v %v", resp, err)
			}
			if got := resp.Context["tenant"]; got != tc.tenant {
				t.Fatalf("tenant = %v, want %q", got, tc.tenant)
			}
			if got := resp.Context["role"]; got != tc.role {
				t.Fatalf("role = %v, want %q", got, tc.role)
			}
		})
	}
}

// counting resolves one key and counts the lookups.
type counting struct{ calls int }

func (c *counting) Resolve(_ context.Context, key string) (string, string, error) {
	c.calls++
	if key != "good" {
		return "", "", tenant.ErrUnknownKey
	}
	return "acme", "admin", nil
}

func TestCache(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	keys := &counting{}
	h := authorizer.Handler{Keys: keys, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Cache: authorizer.NewCache(authorizer.CacheTTL, func() time.Time { return now })}
	call := func(key string) string {
		t.Helper()
		resp, err := h.Handle(context.Background(), events.APIGatewayV2CustomAuthorizerV2Request{Headers: map[string]string{"authorization": "Bearer " + key}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Context["tenant"].(string) + "/" + resp.Context["role"].(string)
	}
	if got := call("good") + " " + call("good"); got != "acme/admin acme/admin" {
		t.Fatalf("got %s", got)
	}
	if keys.calls != 1 {
		t.Fatalf("a cached key was resolved %d times, want 1", keys.calls)
	}
	call("bad")
	call("bad")
	if keys.calls != 3 {
		t.Fatalf("unknown keys must not be cached: %d lookups, want 3", keys.calls)
	}
	now = now.Add(authorizer.CacheTTL)
	call("good")
	if keys.calls != 4 {
		t.Fatalf("an expired entry was used: %d lookups, want 4", keys.calls)
	}
}
