// Package tenant holds the customer sites the service works for: their settings (purposes,
// notice and retention periods, limits; see Settings), their external systems, and their API
// keys, stored only as hashes.
package tenant

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
)

// Purpose is one purpose a subject may consent to.
type Purpose struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Required purposes must be granted for a subject to log in.
	Required bool `json:"required"`
	// LegalBasis is the Art. 6(1) basis of the processing for the purpose (one of
	// LegalBases); empty means DefaultLegalBasis.
	LegalBasis string `json:"legal_basis,omitempty"`
}

// Legal bases of Art. 6(1)(a) to (f) GDPR, as LegalBasis names them.
var LegalBases = []string{"consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests"}

// Basis is the purpose's legal basis: LegalBasis, or by default "contract" for terms (the
// account the subject signs up for needs it) and "consent" for every other purpose, since
// the service records each as a consent decision.
func (p Purpose) Basis() string {
	switch {
	case p.LegalBasis != "":
		return p.LegalBasis
	case p.Name == "terms":
		return "contract"
	default:
		return "consent"
	}
}

// ExternalSystem is a marketplace site database (WordPress, Drupal, Joomla, ...) where the
// tenant's plugin also stores user data, and that must be told to erase it.
type ExternalSystem struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Endpoint string `json:"endpoint"`
}

// RetainedCategory is personal data kept under a legal obligation, listed in erasure receipts.
type RetainedCategory struct {
	Category string `json:"category"`
	Reason   string `json:"reason"`
}

// RateLimits bound public request submissions per hour.
type RateLimits struct {
	PerEmailPerHour  int `json:"per_email_per_hour"`
	PerSourcePerHour int `json:"per_source_per_hour"`
}

// Tenant is one customer site: its settings, and what only the service changes.
type Tenant struct {
	ID string `json:"id"`
	Settings
	ExternalSystems []ExternalSystem `json:"external_systems,omitempty"`
	CreatedAt       time.Time        `json:"created_at"`
}

// Default settings of a tenant: a new tenant gets them, a setting a stored tenant lacks or
// a merge patch removes reads as them, and a setting left at zero means them.
const (
	DefaultNoticePeriodDays    = 30
	DefaultDeviceRetentionDays = 90
	DefaultExportLinkDays      = 7
	DefaultPerEmailPerHour     = 10
	DefaultPerSourcePerHour    = 100
	// DefaultInactiveDays 0: accounts are never deleted for inactivity unless the tenant says so.
	DefaultInactiveDays = 0
)

// DefaultReminderDays are the days before the due date the operator is reminded of an open
// request: a week ahead, and two days ahead.
func DefaultReminderDays() []int { return []int{7, 2} }

// DeviceRetention is how long device observations are kept.
func (t Tenant) DeviceRetention() time.Duration {
	return time.Duration(orDefault(t.DeviceRetentionDays, DefaultDeviceRetentionDays)) * 24 * time.Hour
}

// ExportLife is how long an export and its emailed link live.
func (t Tenant) ExportLife() time.Duration {
	return time.Duration(orDefault(t.ExportLinkDays, DefaultExportLinkDays)) * 24 * time.Hour
}

// SubmissionLimits are the hourly limits of public request submissions per email and per
// source address.
func (t Tenant) SubmissionLimits() (perEmail, perSource int) {
	return orDefault(t.RateLimits.PerEmailPerHour, DefaultPerEmailPerHour), orDefault(t.RateLimits.PerSourcePerHour, DefaultPerSourcePerHour)
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Defaults returns a new tenant: the one place default settings live.
func Defaults(id string, now time.Time) Tenant {
	return Tenant{
		ID: id,
		Settings: Settings{
			Purposes: []Purpose{
				{Name: "terms", Description: "Accept the terms and the privacy policy version.", Required: true},
				{Name: "rba", Description: "Device information is collected for risk-based authentication."},
				{Name: "marketing", Description: "Email about offers and new features."},
			},
			NoticePeriodDays:    DefaultNoticePeriodDays,
			DeviceRetentionDays: DefaultDeviceRetentionDays,
			ExportLinkDays:      DefaultExportLinkDays,
			Retained:            []RetainedCategory{},
			Holidays:            []string{},
			RateLimits:          RateLimits{PerEmailPerHour: DefaultPerEmailPerHour, PerSourcePerHour: DefaultPerSourcePerHour},
			ReminderDays:        DefaultReminderDays(),
			InactiveDays:        DefaultInactiveDays,
			ApprovalRequired:    []string{},
		},
		CreatedAt: now.UTC(),
	}
}

// Purpose returns the named purpose.
func (t Tenant) Purpose(name string) (Purpose, bool) {
	for _, p := range t.Purposes {
		if p.Name == name {
			return p, true
		}
	}
	return Purpose{}, false
}

var validID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// ValidateID checks a tenant name: lower-case letters, digits and dashes, at most 40.
// Names never hold '_', which separates the parts of a key.
func ValidateID(id string) error {
	if !validID.MatchString(id) {
		return apperr.Validation(apperr.FieldError{Field: "tenant", Message: "must be 1-40 lower-case letters, digits or dashes, starting with a letter or digit"})
	}
	return nil
}

// Roles of keys: the second part of a key (gk_{role}_...) and what the HTTP layer checks a
// route's access against. The one definition of their names.
const (
	RoleSite  = "site"
	RoleAdmin = "admin"
)

// Keys are a tenant's API keys in clear: returned once, when created, and never stored.
type Keys struct {
	Tenant   string `json:"tenant"`
	SiteKey  string `json:"site_key"`
	AdminKey string `json:"admin_key"`
}

// ErrExists is returned by Create for a tenant that already exists.
var ErrExists = apperr.New(apperr.Conflict, "tenant_exists", "A tenant with this name exists.")

// ErrNotFound is returned for an unknown tenant.
var ErrNotFound = apperr.New(apperr.NotFound, "tenant_not_found", "No such tenant.")

// Store keeps tenants and their keys.
type Store struct {
	Table table.Table
	Clock clock.Clock
}

func settingsKey(id string) table.Key { return table.Key{PK: "T#" + id, SK: "TENANT"} }

// registryKey lists every tenant in one partition, so jobs can visit them without a Scan.
// It names tenants only, never subjects.
func registryKey(id string) table.Key { return table.Key{PK: "TENANTS", SK: id} }

func keyItemKey(id, hash string) table.Key { return table.Key{PK: "T#" + id, SK: "KEY#" + hash} }

type keyRecord struct {
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// Create stores a new tenant with default settings and returns its first keys.
// Errors: ErrExists, validation_failed.
func (s Store) Create(ctx context.Context, id string) (Tenant, Keys, error) {
	if err := ValidateID(id); err != nil {
		return Tenant{}, Keys{}, err
	}
	now := s.Clock.Now()
	t := Defaults(id, now)
	settings, err := table.NewItem(settingsKey(id), 0, t)
	if err != nil {
		return Tenant{}, Keys{}, err
	}
	reg, err := table.NewItem(registryKey(id), 0, map[string]any{"created_at": now})
	if err != nil {
		return Tenant{}, Keys{}, err
	}
	keys, keyWrites, err := newKeys(id, now)
	if err != nil {
		return Tenant{}, Keys{}, err
	}
	ws := append([]table.Write{
		table.Put(settings, table.Cond{Kind: table.IfAbsent}),
		table.Put(reg, table.Cond{Kind: table.IfAbsent}),
	}, keyWrites...)
	if err := s.Table.Transact(ctx, ws); err != nil {
		if errors.Is(err, table.ErrConflict) {
			return Tenant{}, Keys{}, ErrExists
		}
		return Tenant{}, Keys{}, err
	}
	return t, keys, nil
}

func newKeys(id string, now time.Time) (Keys, []table.Write, error) {
	keys := Keys{Tenant: id, SiteKey: newKey(RoleSite, id), AdminKey: newKey(RoleAdmin, id)}
	var ws []table.Write
	for _, k := range []struct{ role, key string }{{RoleSite, keys.SiteKey}, {RoleAdmin, keys.AdminKey}} {
		it, err := table.NewItem(keyItemKey(id, hashKey(k.key)), 0, keyRecord{Role: k.role, CreatedAt: now})
		if err != nil {
			return Keys{}, nil, err
		}
		ws = append(ws, table.Put(it, table.Cond{Kind: table.IfAbsent}))
	}
	return keys, ws, nil
}

// newKey returns "gk_<role>_<tenant>_<256 random bits>". The prefix lets secret scanners
// spot leaked keys and lets the service find the tenant without a global index.
func newKey(role, id string) string {
	return secrets.NewID("gk_"+role+"_"+id+"_", secrets.TokenBytes)
}

// hashKey is SHA-256: keys carry 256 random bits, so a fast hash is safe and a lookup by
// hash needs no comparison of secrets in Go code (no timing to leak).
func hashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// Get returns a tenant's settings. Errors: ErrNotFound.
func (s Store) Get(ctx context.Context, id string) (Tenant, error) {
	_, t, err := s.read(ctx, id)
	return t, err
}

// read returns a tenant's item and the tenant it holds. Settings the item lacks (it was
// stored before they existed) read as their defaults. Errors: ErrNotFound.
func (s Store) read(ctx context.Context, id string) (table.Item, Tenant, error) {
	if ValidateID(id) != nil {
		return table.Item{}, Tenant{}, ErrNotFound
	}
	it, err := s.Table.Get(ctx, settingsKey(id))
	if errors.Is(err, table.ErrNotFound) {
		return table.Item{}, Tenant{}, ErrNotFound
	}
	if err != nil {
		return table.Item{}, Tenant{}, err
	}
	var t Tenant
	if err := decodeOnDefaults(it.Data, &t); err != nil {
		return table.Item{}, Tenant{}, fmt.Errorf("tenant: decode %s: %w", it.Key, err)
	}
	return it, t, nil
}

// Exists tells whether a tenant exists.
func (s Store) Exists(ctx context.Context, id string) (bool, error) {
	return exists(s.Get(ctx, id))
}

// List returns every tenant id, in name order.
func (s Store) List(ctx context.Context) ([]string, error) {
	var ids []string
	q := table.Query{PK: "TENANTS", Limit: 1000}
	for {
		page, err := s.Table.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			ids = append(ids, it.SK)
		}
		if page.Next == "" {
			return ids, nil
		}
		q.Cursor = page.Next
	}
}

// Resolve returns the tenant and role of an API key. Errors: ErrUnknownKey for a key that
// is malformed, unknown or revoked.
func (s Store) Resolve(ctx context.Context, key string) (tenantID, role string, err error) {
	parts := strings.SplitN(key, "_", 4)
	if len(parts) != 4 || parts[0] != "gk" || ValidateID(parts[2]) != nil || len(parts[3]) != 43 {
		return "", "", ErrUnknownKey
	}
	it, err := s.Table.Get(ctx, keyItemKey(parts[2], hashKey(key)))
	if errors.Is(err, table.ErrNotFound) {
		return "", "", ErrUnknownKey
	}
	if err != nil {
		return "", "", err
	}
	var rec keyRecord
	if err := it.Decode(&rec); err != nil {
		return "", "", err
	}
	if rec.Role != parts[1] {
		return "", "", ErrUnknownKey
	}
	return parts[2], rec.Role, nil
}

// ErrUnknownKey is returned by Resolve.
var ErrUnknownKey = apperr.New(apperr.Unauthenticated, apperr.CodeUnauthenticated, "A valid API key is required.")

// RotateKeys replaces all of a tenant's keys with new ones, at once: the old keys stop
// working when the new ones start. Errors: ErrNotFound.
func (s Store) RotateKeys(ctx context.Context, id string) (Keys, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return Keys{}, err
	}
	page, err := s.Table.Query(ctx, table.Query{PK: "T#" + id, Prefix: "KEY#", Limit: table.MaxTransactItems - 2})
	if err != nil {
		return Keys{}, err
	}
	if page.Next != "" {
		return Keys{}, fmt.Errorf("tenant: %s has more keys than one rotation can replace", id)
	}
	keys, ws, err := newKeys(id, s.Clock.Now())
	if err != nil {
		return Keys{}, err
	}
	for _, old := range page.Items {
		ws = append(ws, table.Delete(old.Key, table.VersionIs(old.Version)))
	}
	if err := s.Table.Transact(ctx, ws); err != nil {
		return Keys{}, err
	}
	return keys, nil
}
