// Package table is the storage port of the service: items addressed by a partition and a sort
// key, conditional writes, small transactions, range queries and a change feed. DynamoDB and
// SQLite implement it; repositories are written once against it.
package table

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Reserved attribute names. Adapters own them; an item's Data must not contain them.
const (
	AttrPK      = "pk"
	AttrSK      = "sk"
	AttrVersion = "v"
	// AttrTTL holds the epoch second after which the item may be deleted by the engine.
	// DynamoDB deletes lazily (up to days late) and SQLite when swept, so readers that care
	// about expiry compare it with their clock themselves.
	AttrTTL = "ttl"
	// AttrWrite holds a random id of the write that stored the item (DynamoDB adapter only):
	// a write retried by the SDK after its answer was lost recognises itself by it. It is not
	// part of Item.Data.
	AttrWrite = "wid"
)

// MaxTransactItems is the most writes one Transact call accepts.
const MaxTransactItems = 25

// Key addresses one item.
type Key struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
}

// String names the key in errors and logs without the ids it holds (Redact): errors reach
// logs, and ids such as a subject's may be user names.
func (k Key) String() string { return Redact(k.PK) + "|" + Redact(k.SK) }

// Redact keeps of a key value its type markers (upper-case segments: T, S, CONSENT, ...) and
// the tenant (the segment after T), and replaces every other "#"-separated segment with "…".
func Redact(v string) string {
	parts := strings.Split(v, "#")
	for i, p := range parts {
		if isMarker(p) || (i > 0 && parts[i-1] == "T") {
			continue
		}
		parts[i] = "…"
	}
	return strings.Join(parts, "#")
}

func isMarker(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && r != '_' {
			return false
		}
	}
	return true
}

// Item is one stored record: its key, its version and its other attributes as a JSON object.
//
// Version is 0 for an item that has never been stored; every write stores Version+1, so a
// caller that read version n and writes with IfVersion(n) leaves version n+1 behind.
// Secondary index keys and the TTL (AttrTTL, epoch seconds) are ordinary attributes in Data;
// index key attributes must be non-empty strings.
type Item struct {
	Key
	Version int64
	Data    json.RawMessage
}

// NewItem builds an item from any value that marshals to a JSON object.
func NewItem(key Key, version int64, v any) (Item, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return Item{}, fmt.Errorf("table: marshal %T: %w", v, err)
	}
	if len(data) == 0 || data[0] != '{' {
		return Item{}, fmt.Errorf("table: %T does not marshal to a JSON object", v)
	}
	return Item{Key: key, Version: version, Data: data}, nil
}

// Decode unmarshals the item's attributes into v.
func (it Item) Decode(v any) error {
	if err := json.Unmarshal(it.Data, v); err != nil {
		return fmt.Errorf("table: decode %s: %w", it.Key, err)
	}
	return nil
}

// CondKind says what must hold for a write to happen.
type CondKind int

const (
	// Always writes whatever is stored.
	Always CondKind = iota
	// IfAbsent writes only when no item has the key.
	IfAbsent
	// IfExists writes only when an item has the key.
	IfExists
	// IfVersion writes only when the stored item has the condition's version.
	IfVersion
)

// Cond is the condition of one write.
type Cond struct {
	Kind    CondKind
	Version int64
}

// VersionIs is the condition of an optimistic update of an item read at version v.
// VersionIs(0) means the same as IfAbsent.
func VersionIs(v int64) Cond {
	if v == 0 {
		return Cond{Kind: IfAbsent}
	}
	return Cond{Kind: IfVersion, Version: v}
}

// Op is what one write does.
type Op int

const (
	OpPut Op = iota
	OpDelete
	// OpCheck writes nothing; it only makes the transaction depend on its condition.
	OpCheck
)

// Write is one write of a transaction. For OpDelete and OpCheck only Item.Key is used.
type Write struct {
	Op   Op
	Item Item
	Cond Cond
}

// Put, Delete and Check build writes.
func Put(it Item, c Cond) Write  { return Write{Op: OpPut, Item: it, Cond: c} }
func Delete(k Key, c Cond) Write { return Write{Op: OpDelete, Item: Item{Key: k}, Cond: c} }
func Check(k Key, c Cond) Write  { return Write{Op: OpCheck, Item: Item{Key: k}, Cond: c} }

// Query reads one partition of the table or of a secondary index, in sort-key order.
type Query struct {
	// Index is the name of a secondary index, or "" for the table itself.
	Index string
	// PK is the partition key value (of the index when Index is set).
	PK string
	// Prefix keeps sort keys that begin with it. It cannot be combined with From/To.
	Prefix string
	// From and To bound the sort key, both inclusive; "" leaves that end open.
	From, To string
	// Desc reads from the largest sort key down.
	Desc bool
	// Limit is the most items returned; 0 means DefaultLimit.
	Limit int
	// Cursor continues a previous query: Page.Next of the page before.
	Cursor string
}

// DefaultLimit is the page size of a query that sets no Limit.
const DefaultLimit = 100

// PageSize is the most items the query returns.
func (q Query) PageSize() int {
	if q.Limit == 0 {
		return DefaultLimit
	}
	return q.Limit
}

// Page is one page of a query.
//
// On a KEYS_ONLY index, items carry their Key and the index key attributes only, Version 0.
type Page struct {
	Items []Item
	// Next is the cursor for the next page, or "" when there is no more. It may be set on the
	// page holding the last item (DynamoDB does so); the next page is then empty. Cursors are
	// opaque to callers and valid only for the same query; the HTTP layer seals them before
	// handing them to clients.
	Next string
}

// Table is the storage port.
//
// Errors: Get returns ErrNotFound when no item has the key. A write whose condition fails
// returns a *ConflictError (errors.Is(err, ErrConflict)). A malformed cursor returns
// ErrBadCursor. Anything else is an engine failure.
type Table interface {
	Get(ctx context.Context, k Key) (Item, error)
	// Put stores the item with Version+1 when the condition holds.
	Put(ctx context.Context, it Item, c Cond) error
	// Delete removes the item when the condition holds; deleting an absent item under
	// Always is not an error.
	Delete(ctx context.Context, k Key, c Cond) error
	// Transact applies up to MaxTransactItems writes, all or none, each to a different key.
	// When a condition fails, nothing is written and the *ConflictError names that write.
	Transact(ctx context.Context, ws []Write) error
	Query(ctx context.Context, q Query) (Page, error)
}

var (
	ErrNotFound  = errors.New("table: item not found")
	ErrConflict  = errors.New("table: condition failed")
	ErrBadCursor = errors.New("table: malformed cursor")
)

// ConflictError reports the write whose condition failed.
type ConflictError struct {
	// Index is the position of the failed write in the transaction (0 for single writes).
	Index int
	Key   Key
}

func (e *ConflictError) Error() string {
	// Keys name tenants and ids only, never personal data in clear.
	return fmt.Sprintf("table: condition failed on write %d (%s)", e.Index, e.Key)
}

func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// Validate checks a transaction before it reaches an engine, so both engines refuse the same
// inputs the same way.
func Validate(ws []Write) error {
	if len(ws) == 0 || len(ws) > MaxTransactItems {
		return fmt.Errorf("table: a transaction holds 1 to %d writes, not %d", MaxTransactItems, len(ws))
	}
	seen := make(map[Key]bool, len(ws))
	for i, w := range ws {
		if err := ValidateKey(w.Item.Key); err != nil {
			return fmt.Errorf("table: write %d: %w", i, err)
		}
		if w.Op < OpPut || w.Op > OpCheck {
			return fmt.Errorf("table: write %d: unknown op %d", i, w.Op)
		}
		if w.Cond.Kind < Always || w.Cond.Kind > IfVersion {
			return fmt.Errorf("table: write %d: unknown condition %d", i, w.Cond.Kind)
		}
		if seen[w.Item.Key] {
			return fmt.Errorf("table: write %d: key %s appears twice", i, w.Item.Key)
		}
		seen[w.Item.Key] = true
		if w.Op == OpPut {
			if err := ValidateData(w.Item.Data); err != nil {
				return fmt.Errorf("table: write %d: %w", i, err)
			}
		}
	}
	return nil
}

// ValidateKey refuses keys DynamoDB refuses (empty, too long) or would rewrite (not UTF-8).
func ValidateKey(k Key) error {
	if k.PK == "" || k.SK == "" {
		return errors.New("table: empty partition or sort key")
	}
	if len(k.PK) > 2048 || len(k.SK) > 1024 {
		return errors.New("table: key longer than DynamoDB allows")
	}
	if !utf8.ValidString(k.PK) || !utf8.ValidString(k.SK) {
		return errors.New("table: key is not UTF-8")
	}
	if strings.ContainsRune(k.PK, 0) || strings.ContainsRune(k.SK, 0) {
		return errors.New("table: key contains NUL")
	}
	return nil
}

// MaxItemData bounds an item's attributes below DynamoDB's 400 KB item limit, so that an item
// SQLite accepts is one DynamoDB accepts too.
const MaxItemData = 350 << 10

// ValidateData refuses attributes that are not a JSON object, too large, or that use reserved names.
func ValidateData(data json.RawMessage) error {
	if len(data) > MaxItemData {
		return errors.New("table: item data larger than MaxItemData")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return errors.New("table: item data is not a JSON object")
	}
	if _, ok := m[""]; ok {
		return errors.New("table: item data has an attribute with an empty name")
	}
	for _, name := range []string{AttrPK, AttrSK, AttrVersion, AttrWrite} {
		if _, ok := m[name]; ok {
			return fmt.Errorf("table: item data uses reserved attribute %q", name)
		}
	}
	return nil
}

// ValidateIndexKeys refuses data whose index key attributes (names), when present, are not
// non-empty strings. DynamoDB refuses them; emulators and SQLite would store them, so both
// adapters check here, the same way. Index keys are strings throughout this service.
func ValidateIndexKeys(data json.RawMessage, names []string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return errors.New("table: item data is not a JSON object")
	}
	for _, name := range names {
		raw, ok := m[name]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil || s == "" {
			return fmt.Errorf("table: attribute %q is an index key: it must be a non-empty string", name)
		}
	}
	return nil
}

// ValidateQuery refuses queries that no engine can answer the same way.
func ValidateQuery(q Query) error {
	if q.PK == "" {
		return errors.New("table: query without partition key")
	}
	if q.Prefix != "" && (q.From != "" || q.To != "") {
		return errors.New("table: query with both a prefix and a range")
	}
	if q.From != "" && q.To != "" && q.From > q.To {
		return errors.New("table: query range ends before it starts")
	}
	if q.Limit < 0 || q.Limit > 1000 {
		return errors.New("table: query limit outside 0..1000")
	}
	return nil
}
