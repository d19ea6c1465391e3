package gdprd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// The tenant settings routes (GET and PATCH /v1/tenant) end to end, over HTTP, on both homes.

func TestFlowTenantSettings(t *testing.T) {
	s := start(t, gdprd.Config{})
	testTenantSettings(t, s, localClient(t, s))
}

func TestAWSFlowTenantSettings(t *testing.T) {
	vars := motoEnv(t, "gdpr-settings")
	dir := t.TempDir()
	s := start(t, gdprd.Config{DataDir: dir, Env: env(vars)})
	testTenantSettings(t, s, client{url: s.URL(), keys: credentials(t, dir)})
}

// patchSettings sends a merge patch with its media type.
func patchSettings(t *testing.T, url, key, body string) response {
	t.Helper()
	return callHeader(t, "PATCH", url+"/v1/tenant", key, []byte(body), http.Header{"Content-Type": {"application/merge-patch+json"}})
}

// settingsMembers are the members API.md lists, and no others.
var settingsMembers = []string{"approval_required", "device_retention_days", "dpo_email", "export_link_days", "holidays",
	"inactive_days", "notice_period_days", "purposes", "rate_limits", "reminder_days", "retained"}

const (
	settingsT0 = "2030-05-06T09:00:00Z"
	dpoEmail   = "dpo.person@example.org"
	// withNewsletter adds a described purpose to the default three.
	withNewsletter = `{"purposes":[
		{"name":"terms","description":"Accept the terms and the privacy policy version.","required":true},
		{"name":"rba","description":"Device information is collected for risk-based authentication."},
		{"name":"marketing","description":"Email about offers and new features."},
		{"name":"newsletter","description":"The monthly newsletter."}],
		"dpo_email":"` + dpoEmail + `","notice_period_days":14,"rate_limits":{"per_email_per_hour":3}}`
)

func newsletterConsent(subjectID string) string {
	return `{"subject_id":"` + subjectID + `","policy_version":"2026-01","purposes":{"terms":true,"newsletter":true},` +
		`"method":"web_form","evidence":{"ip":"203.0.113.9","user_agent":"Mozilla/5.0 Firefox/146.0","locale":"en"}}`
}

func testTenantSettings(t *testing.T, s *testServer, c client) {
	type settings struct {
		Purposes []struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			Required    bool   `json:"required"`
		} `json:"purposes"`
		NoticePeriodDays    int    `json:"notice_period_days"`
		DeviceRetentionDays int    `json:"device_retention_days"`
		ExportLinkDays      int    `json:"export_link_days"`
		DPOEmail            string `json:"dpo_email"`
		RateLimits          struct {
			PerEmail  int `json:"per_email_per_hour"`
			PerSource int `json:"per_source_per_hour"`
		} `json:"rate_limits"`
		ReminderDays     []int    `json:"reminder_days"`
		InactiveDays     int      `json:"inactive_days"`
		ApprovalRequired []string `json:"approval_required"`
		Holidays         []string `json:"holidays"`
	}
	get := func(t *testing.T) (settings, []byte) {
		t.Helper()
		r := c.admin(t, "GET", "/v1/tenant", "")
		var v settings
		r.must(t, http.StatusOK, &v)
		return v, r.body
	}
	c.setClock(t, settingsT0)

	step(t, "Defaults", func(t *testing.T) {
		v, body := get(t)
		var members map[string]json.RawMessage
		if err := json.Unmarshal(body, &members); err != nil {
			t.Fatal(err)
		}
		names := make([]string, 0, len(members))
		for k := range members {
			names = append(names, k)
		}
		slices.Sort(names)
		if !slices.Equal(names, settingsMembers) {
			t.Fatalf("members %v, want %v", names, settingsMembers)
		}
		if len(v.Purposes) != 3 || v.Purposes[0].Name != "terms" || !v.Purposes[0].Required || v.NoticePeriodDays != 30 ||
			v.DeviceRetentionDays != 90 || v.ExportLinkDays != 7 || !slices.Equal(v.ReminderDays, []int{7, 2}) ||
			v.InactiveDays != 0 || v.ApprovalRequired == nil || len(v.ApprovalRequired) != 0 || v.RateLimits.PerEmail != 10 {
			t.Fatalf("defaults %s", body)
		}
		for _, secret := range []string{c.keys.AdminKey, c.keys.SiteKey, "gk_", "key", "secret"} {
			if bytes.Contains(body, []byte(secret)) {
				t.Fatalf("settings show %q: %s", secret, body)
			}
		}
	})
	step(t, "Keys", func(t *testing.T) {
		_, before := get(t)
		call(t, "GET", c.url+"/v1/tenant", "", nil).code(t, http.StatusUnauthorized, "unauthenticated")
		call(t, "GET", c.url+"/v1/tenant", "gk_admin_demo_"+strings.Repeat("A", 43), nil).code(t, http.StatusUnauthorized, "unauthenticated")
		call(t, "GET", c.url+"/v1/tenant", c.keys.SiteKey, nil).code(t, http.StatusForbidden, "forbidden")
		patchSettings(t, c.url, "", `{"notice_period_days":5}`).code(t, http.StatusUnauthorized, "unauthenticated")
		patchSettings(t, c.url, c.keys.SiteKey, `{"notice_period_days":5}`).code(t, http.StatusForbidden, "forbidden")
		// The tenant is the key's: no route names one.
		call(t, "GET", c.url+"/v1/tenant/"+c.keys.Tenant, c.keys.AdminKey, nil).code(t, http.StatusNotFound, "not_found")
		if _, after := get(t); !bytes.Equal(before, after) {
			t.Fatalf("a refused call changed the settings:\n%s\n%s", before, after)
		}
	})
	step(t, "ConsentBeforeTheChange", func(t *testing.T) {
		// The consent function reads (and caches) the settings: newsletter is no purpose yet.
		c.site(t, "POST", "/v1/consents", newsletterConsent("u-news")).code(t, http.StatusUnprocessableEntity, "unknown_purpose")
	})
	step(t, "Patch", func(t *testing.T) {
		var v settings
		r := patchSettings(t, c.url, c.keys.AdminKey, withNewsletter)
		r.must(t, http.StatusOK, &v)
		if len(v.Purposes) != 4 || v.Purposes[3].Name != "newsletter" || v.Purposes[3].Required ||
			v.DPOEmail != dpoEmail || v.NoticePeriodDays != 14 || v.RateLimits.PerEmail != 3 || v.RateLimits.PerSource != 100 {
			t.Fatalf("patched settings %s", r.body)
		}
		if _, back := get(t); !bytes.Equal(back, r.body) {
			t.Fatalf("read back\n%s\nanswered\n%s", back, r.body)
		}
	})
	step(t, "NullMeansDefault", func(t *testing.T) {
		var v settings
		patchSettings(t, c.url, c.keys.AdminKey, `{"notice_period_days":null,"rate_limits":{"per_email_per_hour":null},"inactive_days":365}`).must(t, http.StatusOK, &v)
		if v.NoticePeriodDays != 30 || v.RateLimits.PerEmail != 10 || v.InactiveDays != 365 || v.DPOEmail != dpoEmail || len(v.Purposes) != 4 {
			t.Fatalf("after nulls: %+v", v)
		}
	})
	step(t, "BadPatchChangesNothing", func(t *testing.T) {
		_, before := get(t)
		for _, bad := range []struct {
			body   string
			status int
			code   string
			fields []string
		}{
			{`{"purposes":[{"name":"rba","description":"Devices."}],"notice_period_days":20}`, 422, "invalid_settings", []string{"purposes"}},
			{`{"purposes":[{"name":"terms","description":"Terms."}]}`, 422, "invalid_settings", []string{"purposes[0].required"}},
			{`{"notice_period_days":20,"colour":"not-a-setting-value"}`, 422, "invalid_settings", []string{""}},
			{`{"rate_limits":{"per_day":1}}`, 422, "invalid_settings", []string{"rate_limits"}},
			{`{"export_link_days":"seven"}`, 422, "invalid_settings", []string{"export_link_days"}},
			{`{"dpo_email":"not-an-address-value"}`, 422, "invalid_settings", []string{"dpo_email"}},
			{`{"approval_required":["erasure","deletion"]}`, 422, "invalid_settings", []string{"approval_required[1]"}},
			{`{"id":"other","external_systems":[]}`, 422, "invalid_settings", []string{""}},
			{`[{"notice_period_days":20}]`, 400, "invalid_json", nil},
			{`{"notice_period_days":`, 400, "invalid_json", nil},
			{``, 400, "invalid_json", nil},
		} {
			r := patchSettings(t, c.url, c.keys.AdminKey, bad.body)
			r.code(t, bad.status, bad.code)
			var p struct {
				Errors []struct{ Field, Message string } `json:"errors"`
			}
			r.json(t, &p)
			var fields []string
			for _, e := range p.Errors {
				fields = append(fields, e.Field)
			}
			slices.Sort(fields)
			if !slices.Equal(fields, bad.fields) {
				t.Fatalf("%s: fields %v, want %v", bad.body, fields, bad.fields)
			}
			for _, value := range []string{"not-a-setting-value", "not-an-address-value", "seven", "deletion"} {
				if bytes.Contains(r.body, []byte(value)) {
					t.Fatalf("the problem repeats the value sent: %s", r.body)
				}
			}
		}
		if _, after := get(t); !bytes.Equal(before, after) {
			t.Fatalf("a refused patch changed the settings:\n%s\n%s", before, after)
		}
	})
	step(t, "Audited", func(t *testing.T) {
		r := c.admin(t, "GET", "/v1/audit", "")
		var page listPage[struct {
			Actor  string            `json:"actor"`
			Action string            `json:"action"`
			Detail map[string]string `json:"detail"`
		}]
		r.must(t, http.StatusOK, &page)
		var changes []string
		for _, e := range page.Items {
			if e.Action == tenant.ActionSettingsChanged && e.Actor == "operator" {
				changes = append(changes, e.Detail["settings"])
			}
		}
		// Newest first; the refused patches left nothing.
		if want := []string{"inactive_days,notice_period_days,rate_limits", "dpo_email,notice_period_days,purposes,rate_limits"}; !slices.Equal(changes, want) {
			t.Fatalf("audited changes %q, want %q", changes, want)
		}
		if bytes.Contains(r.body, []byte("dpo.person")) {
			t.Fatalf("the audit trail holds the DPO's address: %s", r.body)
		}
		var v struct {
			OK      bool `json:"ok"`
			Entries int  `json:"entries"`
		}
		c.admin(t, "GET", "/v1/audit/verify", "").must(t, http.StatusOK, &v)
		if !v.OK || v.Entries != 2 {
			t.Fatalf("audit verify %+v", v)
		}
	})
	step(t, "OtherFunctionsWithinTheCacheTTL", func(t *testing.T) {
		// Still within tenant.CacheTTL of the consent function's read: the old list.
		c.site(t, "POST", "/v1/consents", newsletterConsent("u-news")).code(t, http.StatusUnprocessableEntity, "unknown_purpose")
		at, err := time.Parse(time.RFC3339, settingsT0)
		if err != nil {
			t.Fatal(err)
		}
		c.setClock(t, at.Add(tenant.CacheTTL+time.Second).Format(time.RFC3339))
		c.site(t, "POST", "/v1/consents", newsletterConsent("u-news")).must(t, http.StatusCreated, nil)
	})
	step(t, "OtherTenant", func(t *testing.T) {
		ctx := context.Background()
		store := tenant.Store{Table: s.Ports().Table, Clock: clock.System{}}
		_, keys, err := store.Create(ctx, "other")
		if err != nil {
			t.Fatal(err)
		}
		_, mine := get(t)
		patchSettings(t, c.url, keys.AdminKey, `{"notice_period_days":60}`).must(t, http.StatusOK, nil)
		if _, after := get(t); !bytes.Equal(mine, after) {
			t.Fatal("another tenant's patch changed this tenant's settings")
		}
		// Settings gone while a key remains: the tenant is not found.
		if err := s.Ports().Table.Delete(ctx, table.Key{PK: "T#other", SK: "TENANT"}, table.Cond{Kind: table.Always}); err != nil {
			t.Fatal(err)
		}
		call(t, "GET", c.url+"/v1/tenant", keys.AdminKey, nil).code(t, http.StatusNotFound, "tenant_not_found")
		patchSettings(t, c.url, keys.AdminKey, `{"notice_period_days":61}`).code(t, http.StatusNotFound, "tenant_not_found")
	})
}
