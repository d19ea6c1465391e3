// Package expiry marks items for deletion or for a deadline: the TTL attribute DynamoDB acts
// on, and the expiry index the retention job reads so that its cost grows with what expires,
// not with the table.
package expiry

import (
	"fmt"
	"time"

	"github.com/example/gdpr/internal/table"
)

// IndexName is the table's expiry index (template.yaml).
const IndexName = "Expiry"

// Attrs are embedded in any stored entity that expires or has a deadline.
type Attrs struct {
	// TTL is the epoch second after which the item is deleted (table.AttrTTL). Zero for a
	// deadline: the item is kept and its owner decides what happens.
	TTL int64 `json:"ttl,omitempty"`
	// XPK groups a tenant's expiring items by UTC day; XSK orders them by time within it.
	XPK string `json:"xpk,omitempty"`
	XSK string `json:"xsk,omitempty"`
	// Kind names what expires ("devices", "requests", ...): the retention report counts by it
	// and deadlines are handed to the owner of their kind.
	Kind string `json:"xkind,omitempty"`
}

// At returns the attributes of an item of tenant that is deleted at t. t must not be before
// the day the item is written: the sweep does not go back to days it has finished.
func At(tenant, kind string, key table.Key, t time.Time) Attrs {
	a := Deadline(tenant, kind, key, t)
	a.TTL = t.UTC().Unix()
	return a
}

// Deadline returns the attributes of an item of tenant that its owner must act on at t. The
// engine never deletes it.
func Deadline(tenant, kind string, key table.Key, t time.Time) Attrs {
	t = t.UTC()
	return Attrs{
		XPK:  DayPK(tenant, t),
		XSK:  fmt.Sprintf("%010d#%s#%s", t.Unix(), key.PK, key.SK),
		Kind: kind,
	}
}

// DayPK is the expiry index partition of tenant's items expiring on t's UTC day.
func DayPK(tenant string, t time.Time) string {
	return "T#" + tenant + "#X#" + t.UTC().Format(time.DateOnly)
}

// Until is the expiry index sort key bound that selects items expired at t.
func Until(t time.Time) string {
	return fmt.Sprintf("%010d#~", t.Unix())
}

// Expired tells whether an item with a TTL has expired at now. Engines delete expired items
// late (DynamoDB within days), so readers check for themselves.
func (a Attrs) Expired(now time.Time) bool {
	return a.TTL != 0 && now.Unix() >= a.TTL
}
