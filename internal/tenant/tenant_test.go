package tenant_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

func mustStore(t *testing.T) tenant.Store {
	t.Helper()
	db := sqlitetest.MustOpen(t)
	return tenant.Store{Table: db, Clock: clock.System{}}
}

func TestCreateAndResolve(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t)
	tn, keys, err := s.Create(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(tn.Purposes), 3; got != want {
		t.Fatalf("default purposes = %d, want %d", got, want)
	}
	if p, ok := tn.Purpose("terms"); !ok || !p.Required {
		t.Fatalf("terms must be a required default purpose")
	}
	for _, k := range []string{keys.SiteKey, keys.AdminKey} {
		// 256 random bits, base64url: 43 characters after the prefix.
		if parts := strings.SplitN(k, "_", 4); len(parts) != 4 || len(parts[3]) < 43 {
			t.Fatalf("key does not carry 256 random bits")
		}
	}
	t.Run("SiteKey", func(t *testing.T) {
		id, role, err := s.Resolve(ctx, keys.SiteKey)
		if err != nil || id != "acme" || role != tenant.RoleSite {
			t.Fatalf("got %q %q %v", id, role, err)
		}
	})
	t.Run("AdminKey", func(t *testing.T) {
		id, role, err := s.Resolve(ctx, keys.AdminKey)
		if err != nil || id != "acme" || role != tenant.RoleAdmin {
			t.Fatalf("got %q %q %v", id, role, err)
		}
	})
	t.Run("KeysStoredOnlyAsHashes", func(t *testing.T) {
		page, err := s.Table.Query(ctx, table.Query{PK: "T#acme"})
		if err != nil {
			t.Fatal(err)
		}
		secret := strings.SplitN(keys.SiteKey, "_", 4)[3]
		for _, it := range page.Items {
			if strings.Contains(string(it.Data), secret) || strings.Contains(it.SK, secret) {
				t.Fatalf("key stored in clear in %s", it.SK)
			}
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		for _, k := range []string{"", "nope", keys.SiteKey + "x", "gk_site_acme_" + strings.Repeat("A", 43), strings.Replace(keys.SiteKey, "site", "admin", 1)} {
			if _, _, err := s.Resolve(ctx, k); !errors.Is(err, tenant.ErrUnknownKey) {
				t.Fatalf("Resolve(%.12q...) = %v, want ErrUnknownKey", k, err)
			}
		}
	})
	t.Run("Duplicate", func(t *testing.T) {
		if _, _, err := s.Create(ctx, "acme"); !errors.Is(err, tenant.ErrExists) {
			t.Fatalf("got %v, want ErrExists", err)
		}
	})
	t.Run("InvalidName", func(t *testing.T) {
		for _, n := range []string{"", "Acme", "a_b", "-a", strings.Repeat("a", 41)} {
			if _, _, err := s.Create(ctx, n); err == nil {
				t.Fatalf("Create(%q) accepted", n)
			}
		}
	})
	t.Run("List", func(t *testing.T) {
		if _, _, err := s.Create(ctx, "beta"); err != nil {
			t.Fatal(err)
		}
		ids, err := s.List(ctx)
		if err != nil || strings.Join(ids, ",") != "acme,beta" {
			t.Fatalf("List = %v %v", ids, err)
		}
	})
	t.Run("Rotate", func(t *testing.T) {
		fresh, err := s.RotateKeys(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Resolve(ctx, keys.SiteKey); !errors.Is(err, tenant.ErrUnknownKey) {
			t.Fatalf("old site key still works: %v", err)
		}
		if _, _, err := s.Resolve(ctx, keys.AdminKey); !errors.Is(err, tenant.ErrUnknownKey) {
			t.Fatalf("old admin key still works: %v", err)
		}
		if id, role, err := s.Resolve(ctx, fresh.AdminKey); err != nil || id != "acme" || role != tenant.RoleAdmin {
			t.Fatalf("new admin key: %q %q %v", id, role, err)
		}
		if _, err := s.RotateKeys(ctx, "ghost"); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("rotate unknown tenant: %v", err)
		}
	})
}

// countingReader counts reads of tenant settings.
type countingReader struct {
	tenant.Reader
	reads int
}

func (c *countingReader) Get(ctx context.Context, id string) (tenant.Tenant, error) {
	c.reads++
	return c.Reader.Get(ctx, id)
}

func TestCache(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t)
	if _, _, err := s.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	clk := &clock.Settable{}
	start := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clk.Set(start)
	src := &countingReader{Reader: s}
	c := tenant.NewCache(src, clk)
	for range 3 {
		if ok, err := c.Exists(ctx, "acme"); !ok || err != nil {
			t.Fatalf("Exists = %v, %v", ok, err)
		}
	}
	if src.reads != 1 {
		t.Fatalf("%d reads for three calls within the TTL, want 1", src.reads)
	}
	clk.Set(start.Add(tenant.CacheTTL + time.Second))
	c.Get(ctx, "acme")
	clk.Set(start.Add(-time.Hour)) // a clock set back must not keep an entry forever
	c.Get(ctx, "acme")
	if src.reads != 3 {
		t.Fatalf("%d reads, want 3: a stale entry was used", src.reads)
	}
	for range 2 {
		if ok, err := c.Exists(ctx, "ghost"); ok || err != nil {
			t.Fatalf("Exists(ghost) = %v, %v", ok, err)
		}
	}
	if src.reads != 5 {
		t.Fatalf("%d reads, want 5: unknown tenants are not cached", src.reads)
	}
}

func TestSettingsFallBackToDefaults(t *testing.T) {
	var zero tenant.Tenant
	if got, want := zero.DeviceRetention(), 90*24*time.Hour; got != want {
		t.Fatalf("DeviceRetention = %s, want %s", got, want)
	}
	if e, s := zero.SubmissionLimits(); e != 10 || s != 100 {
		t.Fatalf("SubmissionLimits = %d, %d; want 10, 100", e, s)
	}
	set := tenant.Tenant{Settings: tenant.Settings{DeviceRetentionDays: 30, RateLimits: tenant.RateLimits{PerEmailPerHour: 3, PerSourcePerHour: 7}}}
	if got, want := set.DeviceRetention(), 30*24*time.Hour; got != want {
		t.Fatalf("DeviceRetention = %s, want %s", got, want)
	}
	if e, s := set.SubmissionLimits(); e != 3 || s != 7 {
		t.Fatalf("SubmissionLimits = %d, %d; want 3, 7", e, s)
	}
}
