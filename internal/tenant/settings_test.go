package tenant_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// defaults are a new tenant's settings.
func defaults() tenant.Settings { return tenant.Defaults("acme", time.Time{}).Settings }

// patched applies patches in order, each to the result of the one before.
func patched(t *testing.T, patches ...string) (tenant.Settings, []string) {
	t.Helper()
	s, changed := defaults(), []string(nil)
	for _, p := range patches {
		var err error
		if s, changed, err = s.Patch([]byte(p)); err != nil {
			t.Fatalf("Patch(%s): %v", p, err)
		}
	}
	return s, changed
}

func TestPatchApplies(t *testing.T) {
	for _, c := range []struct {
		name    string
		patches []string
		check   func(s tenant.Settings) bool
		changed string
	}{
		{"SetsANumber", []string{`{"notice_period_days":14}`},
			func(s tenant.Settings) bool { return s.NoticePeriodDays == 14 }, "notice_period_days"},
		{"NullPutsTheDefaultBack", []string{`{"notice_period_days":14,"inactive_days":400}`, `{"notice_period_days":null,"inactive_days":null}`},
			func(s tenant.Settings) bool { return s.NoticePeriodDays == 30 && s.InactiveDays == 0 }, "inactive_days,notice_period_days"},
		{"NullOfAListPutsItsDefaultBack", []string{`{"reminder_days":[3]}`, `{"reminder_days":null}`},
			func(s tenant.Settings) bool { return slices.Equal(s.ReminderDays, []int{7, 2}) }, "reminder_days"},
		{"NestedMerge", []string{`{"rate_limits":{"per_email_per_hour":3}}`},
			func(s tenant.Settings) bool {
				return s.RateLimits == tenant.RateLimits{PerEmailPerHour: 3, PerSourcePerHour: 100}
			}, "rate_limits"},
		{"NestedNullPutsTheDefaultBack", []string{`{"rate_limits":{"per_email_per_hour":3,"per_source_per_hour":7}}`, `{"rate_limits":{"per_email_per_hour":null}}`},
			func(s tenant.Settings) bool {
				return s.RateLimits == tenant.RateLimits{PerEmailPerHour: 10, PerSourcePerHour: 7}
			}, "rate_limits"},
		{"ArraysReplace", []string{`{"holidays":["2026-12-25","2026-12-26"]}`, `{"holidays":["2027-01-01"]}`},
			func(s tenant.Settings) bool { return slices.Equal(s.Holidays, []string{"2027-01-01"}) }, "holidays"},
		{"EmptyReminderListMeansNone", []string{`{"reminder_days":[]}`},
			func(s tenant.Settings) bool { return s.ReminderDays != nil && len(s.ReminderDays) == 0 }, "reminder_days"},
		{"PurposeAddedAndDescribed", []string{`{"purposes":[
				{"name":"terms","description":"Terms.","required":true},
				{"name":"newsletter","description":"The monthly newsletter."}]}`},
			func(s tenant.Settings) bool {
				p, ok := tenant.Tenant{Settings: s}.Purpose("newsletter")
				_, rba := tenant.Tenant{Settings: s}.Purpose("rba")
				// The new purpose takes none of the members of the default it replaces.
				return ok && !p.Required && p.Description == "The monthly newsletter." && !rba && len(s.Purposes) == 2
			}, "purposes"},
		{"DPOEmail", []string{`{"dpo_email":"dpo@example.org"}`},
			func(s tenant.Settings) bool { return s.DPOEmail == "dpo@example.org" }, "dpo_email"},
		{"DPOEmailRemoved", []string{`{"dpo_email":"dpo@example.org"}`, `{"dpo_email":null}`},
			func(s tenant.Settings) bool { return s.DPOEmail == "" }, "dpo_email"},
		{"Retained", []string{`{"retained":[{"category":"billing records","reason":"Tax law keeps invoices for 10 years."}]}`},
			func(s tenant.Settings) bool {
				return len(s.Retained) == 1 && s.Retained[0].Category == "billing records"
			}, "retained"},
		{"ApprovalRequired", []string{`{"approval_required":["erasure","access"]}`},
			func(s tenant.Settings) bool {
				return s.NeedsApproval("erasure") && s.NeedsApproval("access") && !s.NeedsApproval("objection")
			}, "approval_required"},
		{"InactiveDays", []string{`{"inactive_days":730}`},
			func(s tenant.Settings) bool { return s.InactiveDays == 730 }, "inactive_days"},
		{"SameValueChangesNothing", []string{`{"notice_period_days":30,"holidays":[]}`},
			func(s tenant.Settings) bool { return s.NoticePeriodDays == 30 }, ""},
		{"EmptyPatchChangesNothing", []string{`{}`},
			func(s tenant.Settings) bool { return s.NoticePeriodDays == 30 }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, changed := patched(t, c.patches...)
			if !c.check(s) {
				t.Fatalf("settings after the patches: %+v", s)
			}
			if got := strings.Join(changed, ","); got != c.changed {
				t.Fatalf("changed = %q, want %q", got, c.changed)
			}
			if err := s.Validate(); err != nil {
				t.Fatalf("result does not validate: %v", err)
			}
		})
	}
}

func TestPatchRefuses(t *testing.T) {
	const secret = "s3cr3t-value"
	for _, c := range []struct {
		name, patch string
		status      int
		fields      []string
	}{
		{"NotJSON", `{"notice_period_days":`, 400, nil},
		{"Empty", ` `, 400, nil},
		{"NotAnObject", `[{"notice_period_days":1}]`, 400, nil},
		{"TwoValues", `{} {}`, 400, nil},
		{"UnknownSetting", `{"colour":"` + secret + `"}`, 422, []string{""}},
		{"KeysAreNoSetting", `{"id":"` + secret + `","external_systems":[],"created_at":"2026-01-01T00:00:00Z"}`, 422, []string{""}},
		{"UnknownSettingName", `{"` + secret + `@example.org":1}`, 422, []string{""}},
		{"UnknownMemberName", `{"rate_limits":{"` + secret + `":1}}`, 422, []string{"rate_limits"}},
		{"UnknownNestedMember", `{"rate_limits":{"per_day":1}}`, 422, []string{"rate_limits"}},
		{"UnknownPurposeMember", `{"purposes":[{"name":"terms","description":"T.","required":true,"colour":1}]}`, 422, []string{"purposes[0]"}},
		{"StringForNumber", `{"notice_period_days":"` + secret + `"}`, 422, []string{"notice_period_days"}},
		{"Fraction", `{"notice_period_days":1.5}`, 422, []string{"notice_period_days"}},
		{"HugeNumber", `{"notice_period_days":1e400}`, 422, []string{"notice_period_days"}},
		{"NumberForObject", `{"rate_limits":5}`, 422, []string{"rate_limits"}},
		{"StringForArray", `{"holidays":"` + secret + `"}`, 422, []string{"holidays"}},
		{"NullInArray", `{"holidays":[null]}`, 422, []string{"holidays[0]"}},
		{"WrongElementType", `{"reminder_days":["` + secret + `"]}`, 422, []string{"reminder_days[0]"}},
		{"TermsRemoved", `{"purposes":[{"name":"rba","description":"Devices."}]}`, 422, []string{"purposes"}},
		{"TermsNotRequired", `{"purposes":[{"name":"terms","description":"Terms."}]}`, 422, []string{"purposes[0].required"}},
		{"NoPurposes", `{"purposes":[]}`, 422, []string{"purposes"}},
		{"BadPurposeName", `{"purposes":[{"name":"terms","description":"T.","required":true},{"name":"News Letter","description":"N."}]}`, 422, []string{"purposes[1].name"}},
		{"LongPurposeName", `{"purposes":[{"name":"terms","description":"T.","required":true},{"name":"` + strings.Repeat("a", 65) + `","description":"N."}]}`, 422, []string{"purposes[1].name"}},
		{"DuplicatePurpose", `{"purposes":[{"name":"terms","description":"T.","required":true},{"name":"terms","description":"N.","required":true}]}`, 422, []string{"purposes[1].name"}},
		{"PurposeUndescribed", `{"purposes":[{"name":"terms","description":" ","required":true}]}`, 422, []string{"purposes[0].description"}},
		{"ZeroNotice", `{"notice_period_days":0}`, 422, []string{"notice_period_days"}},
		{"NegativeRetention", `{"device_retention_days":-1}`, 422, []string{"device_retention_days"}},
		{"LongExportLink", `{"export_link_days":31}`, 422, []string{"export_link_days"}},
		{"DPOEmailNotAnAddress", `{"dpo_email":"` + secret + `"}`, 422, []string{"dpo_email"}},
		{"DPOEmailWithName", `{"dpo_email":"Ann <` + secret + `@example.org>"}`, 422, []string{"dpo_email"}},
		{"RetainedWithoutReason", `{"retained":[{"category":"billing"}]}`, 422, []string{"retained[0].reason"}},
		{"BadHoliday", `{"holidays":["2026-02-30"]}`, 422, []string{"holidays[0]"}},
		{"ZeroRateLimit", `{"rate_limits":{"per_source_per_hour":0}}`, 422, []string{"rate_limits.per_source_per_hour"}},
		{"ReminderZero", `{"reminder_days":[7,0]}`, 422, []string{"reminder_days[1]"}},
		{"ReminderTwice", `{"reminder_days":[7,7]}`, 422, []string{"reminder_days[1]"}},
		{"InactiveTooShort", `{"inactive_days":10}`, 422, []string{"inactive_days"}},
		{"UnknownRequestType", `{"approval_required":["` + secret + `"]}`, 422, []string{"approval_required[0]"}},
		{"EveryBrokenRule", `{"notice_period_days":0,"export_link_days":0,"inactive_days":1}`, 422, []string{"export_link_days", "inactive_days", "notice_period_days"}},
		// Rules are checked on settings of the right shape only.
		{"ShapeBeforeRules", `{"notice_period_days":0,"colour":1}`, 422, []string{""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := defaults()
			_, _, err := before.Patch([]byte(c.patch))
			e, ok := apperr.From(err)
			if !ok {
				t.Fatalf("Patch = %v, want an application error", err)
			}
			wantKind, wantCode := apperr.Unprocessable, "invalid_settings"
			if c.status == 400 {
				wantKind, wantCode = apperr.Invalid, apperr.CodeInvalidJSON
			}
			if e.Kind != wantKind || e.Code != wantCode {
				t.Fatalf("error %v, want code %s", err, wantCode)
			}
			var fields []string
			for _, f := range e.Fields {
				fields = append(fields, f.Field)
				if f.Message == "" {
					t.Errorf("field %s has no message", f.Field)
				}
			}
			slices.Sort(fields)
			if !slices.Equal(fields, c.fields) {
				t.Fatalf("fields %q, want %q", fields, c.fields)
			}
			if b, _ := json.Marshal(e); strings.Contains(fmt.Sprint(e, string(b)), secret) {
				t.Fatalf("the error repeats the value sent: %v %+v", e, e.Fields)
			}
			if !equalJSON(t, before, defaults()) {
				t.Fatal("Patch changed the settings it was called on")
			}
		})
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

func TestSettingsJSON(t *testing.T) {
	b, err := json.Marshal(defaults())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"notice_period_days": 30.0, "device_retention_days": 90.0, "export_link_days": 7.0, "dpo_email": "",
		"retained": []any{}, "holidays": []any{}, "rate_limits": map[string]any{"per_email_per_hour": 10.0, "per_source_per_hour": 100.0},
		"reminder_days": []any{7.0, 2.0}, "inactive_days": 0.0, "approval_required": []any{},
	}
	if len(got["purposes"].([]any)) != 3 {
		t.Fatalf("purposes = %v", got["purposes"])
	}
	delete(got, "purposes")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("default settings as JSON\n got %v\nwant %v", got, want)
	}
}

// TestRequestTypes keeps the request types a tenant may require approval for in step with
// the types dsr knows.
func TestRequestTypes(t *testing.T) {
	var types []string
	for _, typ := range dsr.Types {
		types = append(types, string(typ))
	}
	if !slices.Equal(types, tenant.RequestTypes) {
		t.Fatalf("tenant.RequestTypes %v, dsr.Types %v", tenant.RequestTypes, types)
	}
}

func TestPatchSettingsStore(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t)
	if _, _, err := s.Create(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	settingsItem := func(t *testing.T) table.Item {
		t.Helper()
		it, err := s.Table.Get(ctx, table.Key{PK: "T#acme", SK: "TENANT"})
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	auditItems := func(t *testing.T) []table.Item {
		t.Helper()
		page, err := s.Table.Query(ctx, table.Query{PK: "T#acme#AUDIT"})
		if err != nil {
			t.Fatal(err)
		}
		return page.Items
	}

	t.Run("Applied", func(t *testing.T) {
		got, err := s.PatchSettings(ctx, "acme", audit.ActorOperator, []byte(`{"dpo_email":"dpo@example.org","notice_period_days":14}`))
		if err != nil {
			t.Fatal(err)
		}
		back, err := s.Get(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if got.DPOEmail != "dpo@example.org" || got.NoticePeriodDays != 14 || !equalJSON(t, got, back.Settings) {
			t.Fatalf("answer %+v, read back %+v", got, back.Settings)
		}
		if back.CreatedAt.IsZero() || back.ID != "acme" {
			t.Fatalf("the patch lost what is not a setting: %+v", back)
		}
	})
	t.Run("AuditedWithoutValues", func(t *testing.T) {
		entries, _, err := audit.Log{Table: s.Table}.List(ctx, "acme", audit.Filter{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Action != tenant.ActionSettingsChanged || entries[0].Actor != audit.ActorOperator ||
			entries[0].Detail["settings"] != "dpo_email,notice_period_days" {
			t.Fatalf("audit entries %+v", entries)
		}
		for _, it := range auditItems(t) {
			if strings.Contains(string(it.Data), "dpo@") {
				t.Fatalf("the audit holds the DPO's address: %s", it.Data)
			}
		}
	})
	t.Run("BadPatchChangesNothing", func(t *testing.T) {
		before, trail := settingsItem(t), len(auditItems(t))
		for _, p := range []string{`{"notice_period_days":7,"purposes":[]}`, `{"export_link_days":3,"colour":1}`, `{"export_link_days":`} {
			if _, err := s.PatchSettings(ctx, "acme", audit.ActorOperator, []byte(p)); err == nil {
				t.Fatalf("PatchSettings(%s) accepted", p)
			}
		}
		after := settingsItem(t)
		if after.Version != before.Version || !bytes.Equal(after.Data, before.Data) || len(auditItems(t)) != trail {
			t.Fatalf("a refused patch changed the tenant: version %d → %d", before.Version, after.Version)
		}
	})
	t.Run("NoChangeWritesNothing", func(t *testing.T) {
		before, trail := settingsItem(t), len(auditItems(t))
		if _, err := s.PatchSettings(ctx, "acme", audit.ActorOperator, []byte(`{"notice_period_days":14}`)); err != nil {
			t.Fatal(err)
		}
		if settingsItem(t).Version != before.Version || len(auditItems(t)) != trail {
			t.Fatal("a patch that changes nothing was written")
		}
	})
	t.Run("UnknownTenant", func(t *testing.T) {
		for _, id := range []string{"ghost", "Not A Name"} {
			if _, err := s.PatchSettings(ctx, id, audit.ActorOperator, []byte(`{}`)); !errors.Is(err, tenant.ErrNotFound) {
				t.Fatalf("PatchSettings(%q) = %v, want ErrNotFound", id, err)
			}
		}
	})
	t.Run("ConcurrentPatchesLoseNothing", func(t *testing.T) {
		patches := []string{
			`{"notice_period_days":20}`, `{"device_retention_days":60}`, `{"export_link_days":3}`,
			`{"inactive_days":365}`, `{"rate_limits":{"per_email_per_hour":5}}`, `{"rate_limits":{"per_source_per_hour":50}}`,
			`{"reminder_days":[5]}`, `{"approval_required":["erasure"]}`,
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(patches))
		for _, p := range patches {
			wg.Go(func() {
				_, err := s.PatchSettings(ctx, "acme", audit.ActorOperator, []byte(p))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Get(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := patched(t, append([]string{`{"dpo_email":"dpo@example.org","notice_period_days":14}`}, patches...)...)
		if !equalJSON(t, got.Settings, want) {
			t.Fatalf("after concurrent patches\n got %+v\nwant %+v", got.Settings, want)
		}
		v, err := audit.Log{Table: s.Table}.Verify(ctx, "acme")
		if err != nil || !v.OK || v.Entries != int64(1+len(patches)) {
			t.Fatalf("audit chain %+v, %v; want %d entries", v, err, 1+len(patches))
		}
	})
}

// TestStoredBeforeSettingsExisted reads a tenant saved before reminder_days, inactive_days,
// approval_required and retained existed: they read as their defaults, and a patch keeps
// the rest.
func TestStoredBeforeSettingsExisted(t *testing.T) {
	ctx := context.Background()
	s := mustStore(t)
	old := `{"id":"old","purposes":[{"name":"terms","description":"T.","required":true}],"notice_period_days":14,` +
		`"device_retention_days":90,"export_link_days":7,"rate_limits":{"per_email_per_hour":10,"per_source_per_hour":100},` +
		`"created_at":"2026-01-01T00:00:00Z"}`
	it := table.Item{Key: table.Key{PK: "T#old", SK: "TENANT"}, Data: json.RawMessage(old)}
	if err := s.Table.Put(ctx, it, table.Cond{Kind: table.IfAbsent}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.ReminderDays, []int{7, 2}) || got.InactiveDays != 0 || got.ApprovalRequired == nil || got.Retained == nil ||
		got.Holidays == nil || got.NoticePeriodDays != 14 || len(got.Purposes) != 1 {
		t.Fatalf("old tenant reads as %+v", got)
	}
	next, err := s.PatchSettings(ctx, "old", audit.ActorOperator, []byte(`{"inactive_days":90}`))
	if err != nil {
		t.Fatal(err)
	}
	if next.InactiveDays != 90 || next.NoticePeriodDays != 14 || len(next.Purposes) != 1 {
		t.Fatalf("after the patch: %+v", next)
	}
}

// FuzzPatch: whatever the body, Patch answers valid settings or a client error (never an
// internal one), and the settings it answers, sent back whole, change nothing.
func FuzzPatch(f *testing.F) {
	for _, seed := range []string{`{}`, `{"notice_period_days":null}`, `{"rate_limits":{"per_email_per_hour":3}}`,
		`{"purposes":[{"name":"terms","description":"T.","required":true}]}`, `{"holidays":["2026-12-25"]}`,
		`{"colour":1}`, `[]`, `null`, `{"reminder_days":[1e3]}`, `{"approval_required":["erasure"]}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, patch []byte) {
		next, _, err := defaults().Patch(patch)
		if err != nil {
			if k := apperr.KindOf(err); k != apperr.Invalid && k != apperr.Unprocessable {
				t.Fatalf("Patch(%q) = %v, want a client error", patch, err)
			}
			return
		}
		if err := next.Validate(); err != nil {
			t.Fatalf("Patch(%q) answered settings that do not validate: %v", patch, err)
		}
		whole, err := json.Marshal(next)
		if err != nil {
			t.Fatal(err)
		}
		again, changed, err := next.Patch(whole)
		if err != nil || len(changed) != 0 || !equalJSON(t, again, next) {
			t.Fatalf("sending back the settings changed %v (%v)", changed, err)
		}
	})
}
