package policy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// PK is the partition of a tenant's policy versions (and of their notification runs, which
// internal/notify keeps there).
func PK(tenantID string) string { return "T#" + tenantID + "#P" }

// SKPrefix starts the sort key of every version: V#{version}.
const SKPrefix = "V#"

// Key is the item of one version.
func Key(tenantID, version string) table.Key {
	return table.Key{PK: PK(tenantID), SK: SKPrefix + version}
}

// ParseKey reads tenant and version from a version item's key (a stream record's keys).
func ParseKey(pk, sk string) (tenantID, version string, ok bool) {
	rest, ok1 := cutPrefixSuffix(pk, "T#", "#P")
	v, ok2 := cutPrefix(sk, SKPrefix)
	if !ok1 || !ok2 || rest == "" || !ValidVersion.MatchString(v) {
		return "", "", false
	}
	return rest, v, true
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) < len(p) || s[:len(p)] != p {
		return "", false
	}
	return s[len(p):], true
}

func cutPrefixSuffix(s, p, suf string) (string, bool) {
	rest, ok := cutPrefix(s, p)
	if !ok || len(rest) < len(suf) || rest[len(rest)-len(suf):] != suf {
		return "", false
	}
	return rest[:len(rest)-len(suf)], true
}

// ItemType is the item_type attribute of a version item: the notification function's stream
// filter matches new items by it.
const ItemType = "policy"

// stored is a version as the table keeps it.
type stored struct {
	Policy
	ItemType string `json:"item_type"`
}

// Tenants gives a tenant's settings (tenant.Store, tenant.Cache).
type Tenants interface {
	Get(ctx context.Context, id string) (tenant.Tenant, error)
}

// Store reads and publishes a tenant's versions.
//
// Table operations: Publish 1 Get (audit head) + 1 Transact (version, audit entry and head,
// the caller's extra writes), plus the tenant read of Tenants; Get 1 Get; List 1 Query;
// Timeline 1 Query per 1,000 versions.
type Store struct {
	Table   table.Table
	Clock   clock.Clock
	Tenants Tenants
	Audit   audit.Log
}

// Publish publishes a version: effective_at at least the tenant's notice period ahead, a
// version the tenant has not published before. The version, its audit entry and extra (the
// writes that start its notification run, built by the caller from the new Policy) commit in
// one transaction. Errors: invalid_policy, notice_period_too_short, ErrVersionExists,
// tenant.ErrNotFound.
func (s Store) Publish(ctx context.Context, tenantID string, in Input, extra func(Policy) ([]table.Write, error)) (Policy, error) {
	if err := in.Validate(); err != nil {
		return Policy{}, err
	}
	t, err := s.Tenants.Get(ctx, tenantID)
	if err != nil {
		return Policy{}, err
	}
	now := s.Clock.Now().UTC()
	days := t.NoticePeriodDays
	if days <= 0 {
		days = tenant.DefaultNoticePeriodDays
	}
	if in.EffectiveAt.Before(now.Add(time.Duration(days) * 24 * time.Hour)) {
		return Policy{}, noticePeriodTooShort(days)
	}
	p := Policy{Version: in.Version, URL: in.URL, Summary: in.Summary, EffectiveAt: in.EffectiveAt, Material: in.Material, PublishedAt: now}
	it, err := table.NewItem(Key(tenantID, p.Version), 0, stored{Policy: p, ItemType: ItemType})
	if err != nil {
		return Policy{}, err
	}
	var more []table.Write
	if extra != nil {
		if more, err = extra(p); err != nil {
			return Policy{}, err
		}
	}
	for attempt := 0; ; attempt++ {
		ws := append([]table.Write{table.Put(it, table.Cond{Kind: table.IfAbsent})}, more...)
		aw, err := s.Audit.Append(ctx, tenantID, now, audit.Event{
			Actor:  audit.ActorOperator,
			Action: "policy.published",
			Detail: map[string]string{
				"version":      p.Version,
				"effective_at": p.EffectiveAt.Format(time.RFC3339),
				"material":     strconv.FormatBool(p.Material),
			},
		})
		if err != nil {
			return Policy{}, err
		}
		err = s.Table.Transact(ctx, append(ws, aw...))
		var ce *table.ConflictError
		switch {
		case err == nil:
			return p, nil
		case !errors.As(err, &ce):
			return Policy{}, err
		case ce.Index == 0:
			return Policy{}, ErrVersionExists
		case ce.Index >= len(ws) && attempt < 10:
			continue // another audited change of the tenant went first: read the head again
		default:
			return Policy{}, fmt.Errorf("policy: publish: %w", err)
		}
	}
}

// Get returns one version. Errors: ErrNotFound.
func (s Store) Get(ctx context.Context, tenantID, version string) (Policy, error) {
	if !ValidVersion.MatchString(version) {
		return Policy{}, ErrNotFound
	}
	it, err := s.Table.Get(ctx, Key(tenantID, version))
	if errors.Is(err, table.ErrNotFound) {
		return Policy{}, ErrNotFound
	}
	if err != nil {
		return Policy{}, err
	}
	var p stored
	return p.Policy, it.Decode(&p)
}

// List returns one page of versions in version order. Errors: table.ErrBadCursor.
func (s Store) List(ctx context.Context, tenantID string, limit int, cursor string) ([]Policy, string, error) {
	page, err := s.Table.Query(ctx, table.Query{PK: PK(tenantID), Prefix: SKPrefix, Limit: limit, Cursor: cursor})
	if err != nil {
		return nil, "", err
	}
	out := make([]Policy, len(page.Items))
	for i, it := range page.Items {
		var p stored
		if err := it.Decode(&p); err != nil {
			return nil, "", err
		}
		out[i] = p.Policy
	}
	return out, page.Next, nil
}

// maxVersions bounds what a Timeline reads: a tenant publishes a few versions a year.
const maxVersions = 10000

// Timeline reads every version of the tenant.
func (s Store) Timeline(ctx context.Context, tenantID string) (Timeline, error) {
	var all []Policy
	cursor := ""
	for {
		page, next, err := s.List(ctx, tenantID, 1000, cursor)
		if err != nil {
			return Timeline{}, err
		}
		all = append(all, page...)
		if next == "" || len(page) == 0 || len(all) >= maxVersions {
			return NewTimeline(all), nil
		}
		cursor = next
	}
}
