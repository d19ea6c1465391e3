package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/home"
	"github.com/example/gdpr/internal/tenant"
)

func ctl(t *testing.T, dir string, args ...string) ([]byte, error) {
	t.Helper()
	vars := map[string]string{"GDPR_DATA_DIR": dir, "AWS_LAMBDA_LOG_LEVEL": "ERROR"}
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
	mustCtl(t, dir, &shown, "tenant", "get", "acme")
	if shown["purposes"] == nil || shown["notice_period_days"] != 30.0 {
		t.Fatalf("get = %v", shown)
	}
	for k := range shown {
		if k == "site_key" || k == "admin_key" || k == "id" || k == "external_systems" {
			t.Fatalf("get prints %s", k)
		}
	}
	if _, err := ctl(t, dir, "tenant", "get", "nobody"); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("unknown tenant: %v", err)
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

func TestRequestsList(t *testing.T) {
	dir := t.TempDir()
	var keys tenant.Keys
	mustCtl(t, dir, &keys, "tenant", "create", "acme")

	// Two requests received a week apart, submitted on the same store as gdprctl reads.
	clk := &clock.Settable{}
	p, err := home.Local(dir, clk, "http://127.0.0.1:3000", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	svc := dsr.New(p.Table, tenant.Store{Table: p.Table, Clock: clk}, p.Mail, clk, p.Secrets)
	var ids []string
	for i, typ := range []dsr.Type{dsr.Erasure, dsr.Access} {
		clk.Set(time.Date(2026, 3, 2+7*i, 10, 0, 0, 0, time.UTC))
		r, err := svc.Submit(context.Background(), "acme", dsr.Input{Type: typ, Email: fmt.Sprintf("p%d@example.org", i)},
			dsr.Caller{Actor: audit.ActorSite, Source: "203.0.113.1"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	type page struct {
		Items []struct{ ID, Type, Status string }
	}
	list := func(args ...string) []string {
		t.Helper()
		var pg page
		mustCtl(t, dir, &pg, append([]string{"requests", "list", "acme"}, args...)...)
		var got []string
		for _, it := range pg.Items {
			got = append(got, it.ID)
		}
		return got
	}
	if got, want := fmt.Sprint(list()), fmt.Sprint(ids); got != want {
		t.Fatalf("queue = %s, want soonest due first %s", got, want)
	}
	if got, want := fmt.Sprint(list("--type", "access")), fmt.Sprint(ids[1:]); got != want {
		t.Fatalf("--type access = %s, want %s", got, want)
	}
	if got := list("--status", "verified"); len(got) != 0 {
		t.Fatalf("--status verified = %v, want none", got)
	}
	if got, want := fmt.Sprint(list("--due-before", "2026-04-05T00:00:00Z")), fmt.Sprint(ids[:1]); got != want {
		t.Fatalf("--due-before = %s, want %s", got, want)
	}
	if _, err := ctl(t, dir, "requests", "list", "ghost"); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}
	if _, err := ctl(t, dir, "requests", "list", "acme", "--status", "lost"); err == nil {
		t.Fatal("an unknown status was accepted")
	}
}

func TestPolicies(t *testing.T) {
	dir := t.TempDir()
	var keys tenant.Keys
	mustCtl(t, dir, &keys, "tenant", "create", "acme")
	effective := time.Now().UTC().Add(31 * 24 * time.Hour).Format(time.RFC3339)
	var p struct {
		Version  string `json:"version"`
		Material bool   `json:"material"`
	}
	mustCtl(t, dir, &p, "policies", "publish", "acme", "--version", "2026-02", "--url", "https://example.org/p",
		"--summary", "Logs are kept 60 days.", "--effective-at", effective, "--material")
	if p.Version != "2026-02" || !p.Material {
		t.Fatalf("published %+v", p)
	}
	if _, err := ctl(t, dir, "policies", "publish", "acme", "--version", "2026-03", "--url", "https://example.org/p",
		"--summary", "Too soon.", "--effective-at", time.Now().UTC().Add(24*time.Hour).Format(time.RFC3339)); err == nil {
		t.Fatal("no error for an effective time inside the notice period")
	}
	var list struct{ Items []struct{ Version string } }
	mustCtl(t, dir, &list, "policies", "list", "acme")
	if len(list.Items) != 1 || list.Items[0].Version != "2026-02" {
		t.Fatalf("list %+v", list)
	}
	var st struct{ State string }
	mustCtl(t, dir, &st, "policies", "status", "acme", "2026-02")
	if st.State != "pending" {
		t.Fatalf("status before any run %+v; want pending", st)
	}
	var job struct{ Job string }
	mustCtl(t, dir, &job, "jobs", "run", "notifications")
	mustCtl(t, dir, &st, "policies", "status", "acme", "2026-02")
	if job.Job != "notifications" || st.State != "done" {
		t.Fatalf("after the job: %+v, %+v; want the run done", job, st)
	}
}

func TestTenantSet(t *testing.T) {
	dir := t.TempDir()
	mustCtl(t, dir, new(tenant.Keys), "tenant", "create", "acme")
	file := func(patch string) string {
		t.Helper()
		name := filepath.Join(t.TempDir(), "patch.json")
		if err := os.WriteFile(name, []byte(patch), 0o600); err != nil {
			t.Fatal(err)
		}
		return name
	}
	get := func() []byte {
		t.Helper()
		out, err := ctl(t, dir, "tenant", "get", "acme")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	var set tenant.Settings
	mustCtl(t, dir, &set, "tenant", "set", "acme", "--file", file(`{"dpo_email":"dpo@example.org","reminder_days":[3],"approval_required":["erasure"]}`))
	if set.DPOEmail != "dpo@example.org" || !slices.Equal(set.ReminderDays, []int{3}) || !set.NeedsApproval("erasure") {
		t.Fatalf("set = %+v", set)
	}
	var got tenant.Settings
	if err := json.Unmarshal(get(), &got); err != nil || !slices.Equal(got.ReminderDays, []int{3}) {
		t.Fatalf("get after set = %+v (%v)", got, err)
	}

	before := get()
	_, err := ctl(t, dir, "tenant", "set", "acme", "--file", file(`{"purposes":[],"dpo_email":"secret-value"}`))
	if e, ok := apperr.From(err); !ok || e.Code != "invalid_settings" {
		t.Fatalf("bad patch: %v", err)
	}
	text := errorText(err)
	if !strings.Contains(text, "purposes: ") || !strings.Contains(text, "dpo_email: ") || strings.Contains(text, "secret-value") {
		t.Fatalf("the error does not name the fields, or repeats a value:\n%s", text)
	}
	if after := get(); !bytes.Equal(before, after) {
		t.Fatalf("a refused patch changed the settings:\n%s\n%s", before, after)
	}

	// The change is audited as the operator's, by setting name only.
	p, err := home.Local(dir, clock.System{}, "http://127.0.0.1:3000", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	entries, _, err := audit.Log{Table: p.Table}.List(context.Background(), "acme", audit.Filter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Actor != audit.ActorOperator || entries[0].Detail["settings"] != "approval_required,dpo_email,reminder_days" {
		t.Fatalf("audit = %+v", entries)
	}

	for _, args := range [][]string{{"tenant", "set", "acme"}, {"tenant", "set", "--file", file(`{}`)}} {
		if _, err := ctl(t, dir, args...); !errors.Is(err, errUsage) {
			t.Errorf("gdprctl %v: error = %v, want a usage error", args, err)
		}
	}
	if _, err := ctl(t, dir, "tenant", "set", "acme", "--file", filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("a missing file was accepted")
	}
	if _, err := ctl(t, dir, "tenant", "set", "ghost", "--file", file(`{}`)); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}
}

// TestRequestsListOverdue: jobs run retention past a request's due date flags it, and
// requests list --overdue lists it alone.
func TestRequestsListOverdue(t *testing.T) {
	dir := t.TempDir()
	mustCtl(t, dir, new(tenant.Keys), "tenant", "create", "acme")
	clk := &clock.Settable{}
	clk.Set(time.Now()) // the tenant's sweep starts on the day it was created
	p, err := home.Local(dir, clk, "http://127.0.0.1:3000", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	svc := dsr.New(p.Table, tenant.Store{Table: p.Table, Clock: clk}, p.Mail, clk, p.Secrets)
	// A verified request nobody answers (one the system opens needs no code), and one pending.
	if _, err := svc.OpenErasure(context.Background(), "acme", "u-1", clk.Now(), 365); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Submit(context.Background(), "acme", dsr.Input{Type: dsr.Access, Email: "p@example.org"}, dsr.Caller{Actor: audit.ActorSite}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	var pg struct {
		Items []struct {
			ID      string `json:"id"`
			Type    string `json:"type"`
			Overdue bool   `json:"overdue"`
		}
	}
	mustCtl(t, dir, &pg, "requests", "list", "acme", "--overdue")
	if len(pg.Items) != 0 {
		t.Fatalf("overdue before the job ran: %+v", pg.Items)
	}
	var rep struct {
		Deadlines map[string]int `json:"deadlines"`
	}
	mustCtl(t, dir, &rep, "jobs", "run", "retention", "--now", time.Now().UTC().AddDate(0, 0, 40).Format(time.RFC3339))
	if rep.Deadlines["overdue"] != 1 {
		t.Fatalf("report %+v, want one overdue", rep)
	}
	mustCtl(t, dir, &pg, "requests", "list", "acme", "--overdue")
	if len(pg.Items) != 1 || pg.Items[0].Type != "erasure" || !pg.Items[0].Overdue {
		t.Fatalf("--overdue = %+v, want the erasure", pg.Items)
	}
}

// TestRequestsApprove: an erasure awaiting approval (the tenant wants erasures approved) is
// listed by that status and approved once; a second approval, or one of an unknown tenant,
// fails.
func TestRequestsApprove(t *testing.T) {
	dir := t.TempDir()
	mustCtl(t, dir, new(tenant.Keys), "tenant", "create", "acme")
	patch := filepath.Join(dir, "patch.json")
	if err := os.WriteFile(patch, []byte(`{"approval_required":["erasure"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	mustCtl(t, dir, new(map[string]any), "tenant", "set", "acme", "--file", patch)
	clk := &clock.Settable{}
	clk.Set(time.Now())
	p, err := home.Local(dir, clk, "http://127.0.0.1:3000", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	svc := dsr.New(p.Table, tenant.Store{Table: p.Table, Clock: clk}, p.Mail, clk, p.Secrets)
	if _, err := svc.OpenErasure(context.Background(), "acme", "u-1", clk.Now(), 365); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	var pg struct {
		Items []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
	}
	mustCtl(t, dir, &pg, "requests", "list", "acme", "--status", "awaiting_approval")
	if len(pg.Items) != 1 {
		t.Fatalf("awaiting approval: %+v, want the erasure", pg.Items)
	}
	id := pg.Items[0].ID
	var approved struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	mustCtl(t, dir, &approved, "requests", "approve", "acme", id)
	if approved.ID != id || approved.Status != "verified" {
		t.Fatalf("requests approve = %+v, want %s verified", approved, id)
	}
	if _, err := ctl(t, dir, "requests", "approve", "acme", id); !isCode(err, dsr.CodeInvalidTransition) {
		t.Fatalf("second approval: %v, want invalid_transition", err)
	}
	if _, err := ctl(t, dir, "requests", "approve", "ghost", id); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}
	if _, err := ctl(t, dir, "requests", "approve", "acme"); !errors.Is(err, errUsage) {
		t.Fatalf("no id: %v, want the usage", err)
	}
}

func isCode(err error, code string) bool {
	e, ok := apperr.From(err)
	return ok && e.Code == code
}

func TestSystems(t *testing.T) {
	dir := t.TempDir()
	var keys tenant.Keys
	mustCtl(t, dir, &keys, "tenant", "create", "shop")
	var added struct {
		ID     string   `json:"id"`
		Name   string   `json:"name"`
		URL    string   `json:"url"`
		Events []string `json:"events"`
		Secret string   `json:"secret"`
	}
	// The local store takes a site on this machine.
	mustCtl(t, dir, &added, "systems", "add", "shop", "--name", "local shop", "--url", "http://127.0.0.1:8080/hook", "--events", "erasure,restriction")
	if added.ID == "" || len(added.Secret) != len("whsec_")+44 || len(added.Events) != 2 {
		t.Fatalf("systems add = %+v", added)
	}
	if _, err := ctl(t, dir, "systems", "add", "shop", "--name", "x", "--url", "http://10.0.0.1:80/"); err == nil {
		t.Fatal("a private address was registered")
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	out, err := ctl(t, dir, "systems", "list", "shop")
	if err != nil || bytes.Contains(out, []byte("whsec_")) {
		t.Fatalf("systems list = %s, %v", out, err)
	}
	json.Unmarshal(out, &list)
	if len(list.Items) != 1 || list.Items[0]["id"] != added.ID {
		t.Fatalf("systems list = %s", out)
	}
	var rotated struct{ Secret string }
	mustCtl(t, dir, &rotated, "systems", "rotate", "shop", added.ID)
	if rotated.Secret == "" || rotated.Secret == added.Secret {
		t.Fatalf("systems rotate = %+v", rotated)
	}
	var removed map[string]string
	mustCtl(t, dir, &removed, "systems", "remove", "shop", added.ID)
	if _, err := ctl(t, dir, "systems", "remove", "shop", added.ID); err == nil {
		t.Fatal("a removed system was removed again")
	}
	if _, err := ctl(t, dir, "systems", "list", "nobody"); err == nil {
		t.Fatal("systems of an unknown tenant listed")
	}
}
