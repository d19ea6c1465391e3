package table_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/example/gdpr/internal/table"
)

func TestKeyStringRedacts(t *testing.T) {
	for _, tc := range []struct {
		key  table.Key
		want string
	}{
		{table.Key{PK: "T#acme#S#john.smith", SK: "CONSENT#2026-11-29T10:00:00Z#0000000001"}, "T#acme#S#…|CONSENT#…#…"},
		{table.Key{PK: "T#acme#E#hash", SK: "EMAIL"}, "T#acme#E#…|EMAIL"},
		{table.Key{PK: "TENANTS", SK: "acme"}, "TENANTS|…"},
	} {
		if got := tc.key.String(); got != tc.want {
			t.Errorf("%q|%q: String() = %q, want %q", tc.key.PK, tc.key.SK, got, tc.want)
		}
	}
	err := &table.ConflictError{Key: table.Key{PK: "T#acme#S#john.smith", SK: "PROFILE"}}
	if strings.Contains(err.Error(), "john") || !errors.Is(err, table.ErrConflict) {
		t.Fatalf("conflict error %q names the subject, or is not a conflict", err)
	}
}
