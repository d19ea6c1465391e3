package table

import (
	"context"
	"time"
)

// Event names of the change feed, as DynamoDB Streams names them.
const (
	EventInsert = "INSERT"
	EventModify = "MODIFY"
	EventRemove = "REMOVE"
)

// Change is one write as the change feed reports it. Old is nil for an insert and New is nil
// for a removal.
type Change struct {
	// Seq orders changes; it is also the position to continue reading after.
	Seq   string
	Event string
	Key   Key
	Old   *Item
	New   *Item
	At    time.Time
}

// Feed reads the change feed of a table, oldest first. DynamoDB Streams feeds Lambda in AWS;
// gdprd reads a Feed to drive the same stream handlers locally.
type Feed interface {
	// Read returns up to limit changes after position after ("" reads from the oldest kept
	// change) and the position to continue from. Each change is delivered at least once.
	// A malformed position returns ErrBadCursor; limit is 1 to 1000.
	Read(ctx context.Context, after string, limit int) ([]Change, string, error)
}
