package tenant

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
)

// Settings are what a tenant's operator may read and change (GET and PATCH /v1/tenant,
// gdprctl tenant get and set). Keys, external systems and their secrets are not settings.
// A stored tenant that lacks a setting (one saved before the setting existed) reads as the
// setting's default: see Defaults.
type Settings struct {
	Purposes            []Purpose `json:"purposes"`
	NoticePeriodDays    int       `json:"notice_period_days"`
	DeviceRetentionDays int       `json:"device_retention_days"`
	ExportLinkDays      int       `json:"export_link_days"`
	// DPOEmail is the data protection officer's address; "" when none is named.
	DPOEmail string `json:"dpo_email"`
	// Retained lists personal data kept under a legal obligation, named in erasure receipts.
	Retained []RetainedCategory `json:"retained"`
	// Holidays are public holidays (YYYY-MM-DD) that deadlines roll over, like weekends.
	Holidays   []string   `json:"holidays"`
	RateLimits RateLimits `json:"rate_limits"`
	// ReminderDays are how many days before a request's due date the operator is reminded,
	// once for each entry; empty: no reminders.
	ReminderDays []int `json:"reminder_days"`
	// InactiveDays is after how many days without activity a subject's account counts as
	// inactive (for the retention job); 0: never.
	InactiveDays int `json:"inactive_days"`
	// ApprovalRequired lists the request types that, once verified, wait for an operator's
	// approval before they are carried out.
	ApprovalRequired []string `json:"approval_required"`
}

// RequestTypes are the types of data subject requests, as dsr names them (a test keeps the
// two lists equal: dsr imports this package, so it cannot be the other way round).
var RequestTypes = []string{"access", "portability", "erasure", "rectification", "restriction", "objection"}

// NeedsApproval tells whether verified requests of type typ wait for an operator.
func (s Settings) NeedsApproval(typ string) bool { return slices.Contains(s.ApprovalRequired, typ) }

// Bounds of settings, checked by Validate.
const (
	MaxPurposes            = 32
	MaxPurposeDescription  = 500
	MaxNoticePeriodDays    = 365
	MaxDeviceRetentionDays = 3650
	MaxExportLinkDays      = 30
	MaxRetained            = 20
	MaxRetainedCategory    = 100
	MaxRetainedReason      = 500
	MaxHolidays            = 200
	MaxPerEmailPerHour     = 1000
	MaxPerSourcePerHour    = 100000
	MaxReminders           = 10
	// MaxReminderDays is the longest a request can run: two months and an extension of two more.
	MaxReminderDays = 124
	// MinInactiveDays keeps a slip of the keyboard (1 for 100) from making every subject
	// inactive by tomorrow.
	MinInactiveDays = 30
	MaxInactiveDays = 3650
)

// validPurposeName is the rule for purpose names everywhere: snake_case, 1 to 64 characters.
var validPurposeName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// ValidPurposeName tells whether name can name a purpose.
func ValidPurposeName(name string) bool { return validPurposeName.MatchString(name) }

// maxFieldErrors bounds the errors one answer lists.
const maxFieldErrors = 20

type fieldErrors []apperr.FieldError

func (fs *fieldErrors) add(field, format string, args ...any) {
	if len(*fs) < maxFieldErrors {
		*fs = append(*fs, apperr.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
}

func (fs fieldErrors) err() error {
	if len(fs) == 0 {
		return nil
	}
	e := apperr.New(apperr.Unprocessable, "invalid_settings", "The settings would not be valid; nothing was changed.")
	e.Fields = fs
	return e
}

// Validate checks settings as a whole. Messages name the rule, never the value.
// Errors: invalid_settings.
func (s Settings) Validate() error {
	var fs fieldErrors
	s.validatePurposes(&fs)
	between(&fs, "notice_period_days", s.NoticePeriodDays, 1, MaxNoticePeriodDays)
	between(&fs, "device_retention_days", s.DeviceRetentionDays, 1, MaxDeviceRetentionDays)
	between(&fs, "export_link_days", s.ExportLinkDays, 1, MaxExportLinkDays)
	if s.DPOEmail != "" {
		if e, err := subject.NormalizeEmail(s.DPOEmail); err != nil || e != s.DPOEmail {
			fs.add("dpo_email", "must be a plain, lower-case email address, or empty")
		}
	}
	if len(s.Retained) > MaxRetained {
		fs.add("retained", "must have at most %d entries", MaxRetained)
	}
	seen := map[string]bool{}
	for i, r := range s.Retained {
		at := fmt.Sprintf("retained[%d]", i)
		text(&fs, at+".category", r.Category, MaxRetainedCategory)
		text(&fs, at+".reason", r.Reason, MaxRetainedReason)
		if seen[r.Category] {
			fs.add(at+".category", "is listed twice")
		}
		seen[r.Category] = true
	}
	if len(s.Holidays) > MaxHolidays {
		fs.add("holidays", "must have at most %d entries", MaxHolidays)
	}
	seen = map[string]bool{}
	for i, h := range s.Holidays {
		if d, err := time.Parse(time.DateOnly, h); err != nil || d.Format(time.DateOnly) != h {
			fs.add(fmt.Sprintf("holidays[%d]", i), "must be a date, YYYY-MM-DD")
		} else if seen[h] {
			fs.add(fmt.Sprintf("holidays[%d]", i), "is listed twice")
		}
		seen[h] = true
	}
	between(&fs, "rate_limits.per_email_per_hour", s.RateLimits.PerEmailPerHour, 1, MaxPerEmailPerHour)
	between(&fs, "rate_limits.per_source_per_hour", s.RateLimits.PerSourcePerHour, 1, MaxPerSourcePerHour)
	if len(s.ReminderDays) > MaxReminders {
		fs.add("reminder_days", "must have at most %d entries", MaxReminders)
	}
	for i, d := range s.ReminderDays {
		at := fmt.Sprintf("reminder_days[%d]", i)
		between(&fs, at, d, 1, MaxReminderDays)
		if slices.Index(s.ReminderDays, d) < i {
			fs.add(at, "is listed twice")
		}
	}
	if s.InactiveDays != 0 {
		between(&fs, "inactive_days", s.InactiveDays, MinInactiveDays, MaxInactiveDays)
	}
	for i, typ := range s.ApprovalRequired {
		at := fmt.Sprintf("approval_required[%d]", i)
		if !slices.Contains(RequestTypes, typ) {
			fs.add(at, "must be one of %s", strings.Join(RequestTypes, ", "))
		} else if slices.Index(s.ApprovalRequired, typ) < i {
			fs.add(at, "is listed twice")
		}
	}
	return fs.err()
}

func (s Settings) validatePurposes(fs *fieldErrors) {
	if len(s.Purposes) > MaxPurposes {
		fs.add("purposes", "must have at most %d entries", MaxPurposes)
	}
	seen := map[string]bool{}
	for i, p := range s.Purposes {
		at := fmt.Sprintf("purposes[%d]", i)
		if !ValidPurposeName(p.Name) {
			fs.add(at+".name", "must be 1-64 lower-case letters, digits or _, starting with a letter")
		} else if seen[p.Name] {
			fs.add(at+".name", "is listed twice")
		}
		seen[p.Name] = true
		text(fs, at+".description", p.Description, MaxPurposeDescription)
		if p.Name == "terms" && !p.Required {
			fs.add(at+".required", "terms is always a required purpose")
		}
	}
	if !seen["terms"] {
		fs.add("purposes", "must hold the required purpose terms")
	}
}

func between(fs *fieldErrors, field string, v, lo, hi int) {
	if v < lo || v > hi {
		fs.add(field, "must be an integer from %d to %d", lo, hi)
	}
}

func text(fs *fieldErrors, field, v string, max int) {
	if n := utf8.RuneCountInString(strings.TrimSpace(v)); n == 0 || utf8.RuneCountInString(v) > max {
		fs.add(field, "must be 1 to %d characters", max)
	}
}

// Patch applies an RFC 7396 JSON merge patch to s: members of the patch replace those of the
// settings, objects merge member by member, arrays are replaced whole, and null removes a
// member, which puts the setting back to its default. The result is validated as a whole.
// It returns the new settings and the names of the top-level settings that changed, sorted.
// Errors: invalid_json (not a JSON object), invalid_settings (an unknown setting, a wrong
// type or a broken rule; the error names each field, never its value).
func (s Settings) Patch(patch []byte) (Settings, []string, error) {
	p, err := decodeGeneric(patch)
	if err != nil {
		return Settings{}, nil, apperr.New(apperr.Invalid, apperr.CodeInvalidJSON, "The merge patch is not valid JSON.")
	}
	if _, ok := p.(map[string]any); !ok {
		return Settings{}, nil, apperr.New(apperr.Invalid, apperr.CodeInvalidJSON, "The merge patch must be a JSON object.")
	}
	current, err := json.Marshal(s)
	if err != nil {
		return Settings{}, nil, err
	}
	target, err := decodeGeneric(current)
	if err != nil {
		return Settings{}, nil, err
	}
	merged := mergePatch(target, p)
	var fs fieldErrors
	checkShape(merged, reflect.TypeFor[Settings](), "", &fs)
	if err := fs.err(); err != nil {
		return Settings{}, nil, err
	}
	b, err := json.Marshal(merged)
	if err != nil {
		return Settings{}, nil, err
	}
	var next Settings
	if err := decodeOnDefaults(b, &next); err != nil {
		return Settings{}, nil, fmt.Errorf("tenant: decode merged settings: %w", err)
	}
	if err := next.Validate(); err != nil {
		return Settings{}, nil, err
	}
	changed, err := s.changed(next)
	return next, changed, err
}

func decodeGeneric(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // integers keep their digits for the shape check
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

// mergePatch is RFC 7396 section 2's MergePatch(target, patch). It may change target.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = mergePatch(t[k], v)
		}
	}
	return t
}

// checkShape checks a decoded JSON value against the Go type it must decode into: objects
// have only the members the type names, and every value has the JSON type of its field.
// Unlike json.Unmarshal's errors, it names nested fields with their path.
func checkShape(v any, t reflect.Type, path string, fs *fieldErrors) {
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			fs.add(path, "must be an object")
			return
		}
		fields := map[string]reflect.Type{}
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			fields[name] = f.Type
		}
		unknown := false
		for _, k := range slices.Sorted(maps.Keys(m)) {
			at := k
			if path != "" {
				at = path + "." + k
			}
			if ft, ok := fields[k]; ok {
				checkShape(m[k], ft, at, fs)
			} else {
				unknown = true
			}
		}
		// A member the type does not name is the client's own word, which may be personal
		// data: the error names the object that holds it ("" for the patch itself), not it.
		switch {
		case unknown && path == "":
			fs.add(path, "has a member that is not a setting")
		case unknown:
			fs.add(path, "has a member that is not one of its fields")
		}
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			fs.add(path, "must be an array")
			return
		}
		for i, e := range a {
			checkShape(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), fs)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			fs.add(path, "must be a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			fs.add(path, "must be true or false")
		}
	case reflect.Int:
		n, ok := v.(json.Number)
		if _, err := n.Int64(); !ok || err != nil {
			fs.add(path, "must be an integer")
		}
	default:
		panic("tenant: settings field of kind " + t.Kind().String())
	}
}

// decodeOnDefaults decodes a stored tenant or merged settings into v (a *Tenant or a
// *Settings), a setting the JSON lacks or holds as null taking its default. The defaults are
// merged in as JSON (an RFC 7396 merge of doc onto them) rather than decoded over: decoding
// into a filled slice would keep members of its old elements that doc's elements lack.
func decodeOnDefaults(doc []byte, v any) error {
	defaults, err := json.Marshal(Defaults("", time.Time{}))
	if err != nil {
		return err
	}
	base, err := decodeGeneric(defaults)
	if err != nil {
		return err
	}
	d, err := decodeGeneric(doc)
	if err != nil {
		return err
	}
	b, err := json.Marshal(mergePatch(base, d))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// changed names the top-level settings whose values differ between s and next.
func (s Settings) changed(next Settings) ([]string, error) {
	var a, b map[string]json.RawMessage
	for _, x := range []struct {
		v   Settings
		out *map[string]json.RawMessage
	}{{s, &a}, {next, &b}} {
		raw, err := json.Marshal(x.v)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, x.out); err != nil {
			return nil, err
		}
	}
	var names []string
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if !bytes.Equal(a[k], b[k]) {
			names = append(names, k)
		}
	}
	return names, nil
}

// ActionSettingsChanged is the audit action of a change of settings. Its detail "settings"
// lists the names of the settings changed, comma separated: never their values, since some
// (dpo_email) are personal data.
const ActionSettingsChanged = "tenant.settings_changed"

// PatchSettings applies a merge patch (see Settings.Patch) to a tenant's settings. The write
// is conditional on the version read, and an audit entry naming the settings changed is
// committed with it, by actor; when another write came first, the patch is applied again to
// what that write left (table.Retry), so concurrent patches lose nothing. A patch that
// changes nothing writes nothing. Other processes see the change within CacheTTL.
// Errors: ErrNotFound, invalid_json, invalid_settings.
func (s Store) PatchSettings(ctx context.Context, id, actor string, patch []byte) (Settings, error) {
	if ValidateID(id) != nil {
		return Settings{}, ErrNotFound
	}
	var out Settings
	err := table.Retry(ctx, func() error {
		it, t, err := s.read(ctx, id)
		if err != nil {
			return err
		}
		next, changed, err := t.Settings.Patch(patch)
		if err != nil || len(changed) == 0 {
			out = next
			return err
		}
		t.Settings = next
		item, err := table.NewItem(it.Key, it.Version, t)
		if err != nil {
			return err
		}
		ws, err := audit.Log{Table: s.Table}.Append(ctx, id, s.Clock.Now(), audit.Event{
			Actor:  actor,
			Action: ActionSettingsChanged,
			Detail: map[string]string{"settings": strings.Join(changed, ",")},
		})
		if err != nil {
			return err
		}
		err = s.Table.Transact(ctx, append([]table.Write{table.Put(item, table.VersionIs(it.Version))}, ws...))
		if errors.Is(err, table.ErrConflict) {
			return fmt.Errorf("tenant: settings of %s: %w", id, table.ErrRetry)
		}
		out = next
		return err
	})
	if err != nil {
		return Settings{}, err
	}
	return out, nil
}
