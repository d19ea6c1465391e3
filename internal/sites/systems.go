package sites

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
)

// System is a registered site as operators see it: never its secret.
type System struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	URL       string     `json:"url"`
	Events    []string   `json:"events"`
	CreatedAt time.Time  `json:"created_at"`
	RotatedAt *time.Time `json:"rotated_at,omitempty"`
}

// Takes tells whether the system is told of event.
func (s System) Takes(event string) bool { return slices.Contains(s.Events, event) }

// stored is a system as the table keeps it: the signing secret sealed, bound to the item's key.
type stored struct {
	System
	Secret string `json:"secret_sealed"`
}

// Registration is what an operator registers.
type Registration struct {
	Name   string   `json:"name"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// MaxName bounds a system's name, in characters.
const MaxName = 200

// Validate checks a registration; local is the local server's URL rule (ValidateURL).
// Errors: validation_failed; invalid_url.
func (r Registration) Validate(local bool) error {
	var fe []apperr.FieldError
	if n := utf8.RuneCountInString(strings.TrimSpace(r.Name)); n == 0 || utf8.RuneCountInString(r.Name) > MaxName {
		fe = append(fe, apperr.FieldError{Field: "name", Message: "must be 1 to 200 characters"})
	}
	if len(r.Events) == 0 {
		fe = append(fe, apperr.FieldError{Field: "events", Message: "must name at least one of erasure, rectification, restriction"})
	}
	for i, e := range r.Events {
		if !slices.Contains(Events, e) || slices.Index(r.Events, e) != i {
			fe = append(fe, apperr.FieldError{Field: "events", Message: "must be distinct values of erasure, rectification, restriction"})
			break
		}
	}
	if len(fe) > 0 {
		return apperr.Validation(fe...)
	}
	_, err := ValidateURL(r.URL, local)
	return err
}

func systemKey(tenant, id string) table.Key { return table.Key{PK: "T#" + tenant, SK: "SYS#" + id} }

const systemPrefix = "SYS#"

var validSystemID = regexp.MustCompile(`^sys_[A-Za-z0-9_-]{1,60}$`)

// ValidateSystemID checks a system id as a path names it. Errors: validation_failed.
func ValidateSystemID(id string) error {
	if !validSystemID.MatchString(id) {
		return apperr.Validation(apperr.FieldError{Field: "id", Message: "must be a system id (sys_ and letters, digits, _ or -)"})
	}
	return nil
}

func (s *Service) sealSecret(k table.Key, secret string) string {
	return s.Secrets.Seal(secrets.ForSites, []byte(secret), []byte(k.PK+"|"+k.SK))
}

func (s *Service) openSecret(k table.Key, sealed string) (string, error) {
	b, err := s.Secrets.Open(secrets.ForSites, sealed, []byte(k.PK+"|"+k.SK))
	return string(b), err
}

// Register stores a new system and returns it with its signing secret, which is shown this
// once. Errors: validation_failed; invalid_url; too_many_systems.
func (s *Service) Register(ctx context.Context, tenant string, in Registration, actor string) (System, string, error) {
	if err := in.Validate(s.Local); err != nil {
		return System{}, "", err
	}
	all, err := s.Systems(ctx, tenant)
	if err != nil {
		return System{}, "", err
	}
	if len(all) >= MaxSystems {
		return System{}, "", ErrTooManySystems
	}
	now := s.now()
	sys := System{
		ID:        "sys_" + base64.RawURLEncoding.EncodeToString(secrets.Random(12)),
		Name:      strings.TrimSpace(in.Name),
		URL:       in.URL,
		Events:    in.Events,
		CreatedAt: now,
	}
	secret := NewSecret()
	k := systemKey(tenant, sys.ID)
	it, err := table.NewItem(k, 0, stored{System: sys, Secret: s.sealSecret(k, secret)})
	if err != nil {
		return System{}, "", err
	}
	err = s.audited(ctx, tenant, now, table.Put(it, table.Cond{Kind: table.IfAbsent}), s.systemEvent("system.registered", sys, actor))
	if err != nil {
		return System{}, "", err
	}
	return sys, secret, nil
}

// systemEvent is the audit event of a change of sys: ids, name and events, never the secret.
func (s *Service) systemEvent(action string, sys System, actor string) audit.Event {
	return audit.Event{Actor: actor, Action: action, Detail: map[string]string{
		"system_id": sys.ID, "name": sys.Name, "events": strings.Join(sys.Events, ","),
	}}
}

// Systems lists the tenant's systems, oldest first, without secrets. MaxSystems bounds them,
// so one page holds them all.
func (s *Service) Systems(ctx context.Context, tenant string) ([]System, error) {
	page, err := s.Table.Query(ctx, table.Query{PK: "T#" + tenant, Prefix: systemPrefix, Limit: 2 * MaxSystems})
	if err != nil {
		return nil, err
	}
	out := make([]System, 0, len(page.Items))
	for _, it := range page.Items {
		var st stored
		if err := it.Decode(&st); err != nil {
			return nil, err
		}
		out = append(out, st.System)
	}
	slices.SortFunc(out, func(a, b System) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// load reads a system with its secret. Errors: system_not_found.
func (s *Service) load(ctx context.Context, tenant, id string) (stored, int64, error) {
	if ValidateSystemID(id) != nil {
		return stored{}, 0, ErrSystemNotFound
	}
	it, err := s.Table.Get(ctx, systemKey(tenant, id))
	if errors.Is(err, table.ErrNotFound) {
		return stored{}, 0, ErrSystemNotFound
	}
	if err != nil {
		return stored{}, 0, err
	}
	var st stored
	return st, it.Version, it.Decode(&st)
}

// Remove deletes a system. Deliveries already made to it stay as they are; those still
// pending fail at their next attempt ("system removed"). Errors: system_not_found.
func (s *Service) Remove(ctx context.Context, tenant, id, actor string) error {
	st, version, err := s.load(ctx, tenant, id)
	if err != nil {
		return err
	}
	return s.audited(ctx, tenant, s.now(), table.Delete(systemKey(tenant, id), table.VersionIs(version)), s.systemEvent("system.removed", st.System, actor))
}

// RotateSecret gives a system a new signing secret, shown this once; deliveries are signed
// with it from now on, retries of earlier deliveries included. Errors: system_not_found.
func (s *Service) RotateSecret(ctx context.Context, tenant, id, actor string) (System, string, error) {
	st, version, err := s.load(ctx, tenant, id)
	if err != nil {
		return System{}, "", err
	}
	now := s.now()
	secret := NewSecret()
	k := systemKey(tenant, id)
	st.RotatedAt, st.Secret = &now, s.sealSecret(k, secret)
	it, err := table.NewItem(k, version, st)
	if err != nil {
		return System{}, "", err
	}
	if err := s.audited(ctx, tenant, now, table.Put(it, table.VersionIs(version)), s.systemEvent("system.secret_rotated", st.System, actor)); err != nil {
		return System{}, "", err
	}
	return st.System, secret, nil
}

// audited commits w with the audit entry of ev, in one transaction. A lost race on the audit
// chain is tried again; one on w itself (the item changed since it was read) is a conflict
// the caller sees.
func (s *Service) audited(ctx context.Context, tenant string, at time.Time, w table.Write, ev audit.Event) error {
	log := audit.Log{Table: s.Table}
	for i := 1; ; i++ {
		aw, err := log.Append(ctx, tenant, at, ev)
		if err != nil {
			return err
		}
		err = s.Table.Transact(ctx, append([]table.Write{w}, aw...))
		var ce *table.ConflictError
		if !errors.As(err, &ce) || ce.Index == 0 || i == maxCommits {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// maxCommits bounds how often a write is tried again after losing the audit chain to
// another writer.
const maxCommits = 10
