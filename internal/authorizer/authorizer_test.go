package authorizer_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

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
