package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/tenant"
)

func ctl(t *testing.T, dir string, args ...string) ([]byte, error) {
	t.Helper()
	vars := map[string]string{"GDPR_DATA_DIR": dir, "LOG_LEVEL": "ERROR"}
	var out bytes.Buffer
	err := run(context.Background(), args, func(name string) string { return vars[name] }, &out)
	return out.Bytes(), err
}

func mustCtl(t *testing.T, dir string, v any, args ...string) {
	t.Helper()
	out, err := ctl(t, dir, args...)
	if err != nil {
		t.Fatalf("gdprctl %v: %v", args, err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("gdprctl %v: output is not JSON: %s", args, out)
	}
}

func TestTenants(t *testing.T) {
	dir := t.TempDir()
	var keys tenant.Keys
	mustCtl(t, dir, &keys, "tenant", "create", "acme")
	if keys.Tenant != "acme" || keys.SiteKey == "" || keys.AdminKey == "" {
		t.Fatalf("keys = %+v", keys)
	}
	if _, err := ctl(t, dir, "tenant", "create", "acme"); err == nil {
		t.Fatal("no error creating a tenant twice")
	}
	if _, err := ctl(t, dir, "tenant", "create", "Not A Name"); err == nil {
		t.Fatal("no error for an invalid name")
	}

	var list struct{ Tenants []string }
	mustCtl(t, dir, &list, "tenant", "list")
	if got, want := list.Tenants, []string{"acme"}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("tenants = %v, want %v", got, want)
	}

	var shown map[string]any
	mustCtl(t, dir, &shown, "tenant", "show", "acme")
	if shown["id"] != "acme" || shown["purposes"] == nil {
		t.Fatalf("show = %v", shown)
	}
	for k := range shown {
		if k == "site_key" || k == "admin_key" {
			t.Fatalf("show prints %s", k)
		}
	}
	if _, err := ctl(t, dir, "tenant", "show", "nobody"); err == nil {
		t.Fatal("no error for an unknown tenant")
	}

	var rotated tenant.Keys
	mustCtl(t, dir, &rotated, "key", "rotate", "acme")
	if rotated.SiteKey == keys.SiteKey || rotated.AdminKey == keys.AdminKey || rotated.Tenant != "acme" {
		t.Fatalf("rotated keys = %+v", rotated)
	}
}

func TestRotateRewritesCredentials(t *testing.T) {
	dir := t.TempDir()
	var keys tenant.Keys
	mustCtl(t, dir, &keys, "tenant", "create", gdprd.DemoTenant)
	if err := gdprd.WriteCredentials(dir, keys); err != nil {
		t.Fatal(err)
	}
	var rotated tenant.Keys
	mustCtl(t, dir, &rotated, "key", "rotate", gdprd.DemoTenant)
	got, err := gdprd.ReadCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got != rotated {
		t.Fatal("credentials file does not hold the rotated keys")
	}
}

func TestJobs(t *testing.T) {
	dir := t.TempDir()
	var list struct{ Jobs []string }
	mustCtl(t, dir, &list, "jobs", "list")
	if _, err := ctl(t, dir, "jobs", "run", "no-such-job"); err == nil {
		t.Fatal("no error for an unknown job")
	}
	if _, err := ctl(t, dir, "jobs", "run", "retention", "--now", "tomorrow"); !errors.Is(err, errUsage) {
		t.Fatalf("error = %v, want a usage error", err)
	}
	for _, name := range list.Jobs {
		var out map[string]any
		mustCtl(t, dir, &out, "jobs", "run", name, "--now", "2030-01-01T00:00:00Z")
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"tenant"}, {"tenant", "create"}, {"tenant", "list", "extra"}, {"bogus", "cmd"}, {"requests", "list"}} {
		if _, err := ctl(t, t.TempDir(), args...); !errors.Is(err, errUsage) {
			t.Errorf("gdprctl %v: error = %v, want a usage error", args, err)
		}
	}
}
