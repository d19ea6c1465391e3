// Package tablecount wraps a table port and counts the calls made through it, by operation, so
// that tests can pin the storage cost of every route and notice when one grows.
package tablecount

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/example/gdpr/internal/table"
)

// Counts are the calls made on a table, failed ones included: a failed conditional write costs
// as much as a successful one.
type Counts struct {
	Get      int64
	Put      int64
	Delete   int64
	Transact int64
	// TransactWrites adds up the writes of all Transact calls (DynamoDB bills each one twice).
	TransactWrites int64
	Query          int64
}

func (c Counts) String() string {
	return fmt.Sprintf("get=%d put=%d delete=%d transact=%d (writes=%d) query=%d",
		c.Get, c.Put, c.Delete, c.Transact, c.TransactWrites, c.Query)
}

// Table is a table port that counts the calls it passes on. It is safe for concurrent use.
type Table struct {
	next                             table.Table
	get, put, del, tx, txWrites, qry atomic.Int64
}

var _ table.Table = (*Table)(nil)

// New wraps next.
func New(next table.Table) *Table { return &Table{next: next} }

// Counts returns the calls counted since New or the last Reset.
func (t *Table) Counts() Counts {
	return Counts{
		Get: t.get.Load(), Put: t.put.Load(), Delete: t.del.Load(),
		Transact: t.tx.Load(), TransactWrites: t.txWrites.Load(), Query: t.qry.Load(),
	}
}

// Reset sets every count to zero.
func (t *Table) Reset() {
	for _, n := range []*atomic.Int64{&t.get, &t.put, &t.del, &t.tx, &t.txWrites, &t.qry} {
		n.Store(0)
	}
}

func (t *Table) Get(ctx context.Context, k table.Key) (table.Item, error) {
	t.get.Add(1)
	return t.next.Get(ctx, k)
}

func (t *Table) Put(ctx context.Context, it table.Item, c table.Cond) error {
	t.put.Add(1)
	return t.next.Put(ctx, it, c)
}

func (t *Table) Delete(ctx context.Context, k table.Key, c table.Cond) error {
	t.del.Add(1)
	return t.next.Delete(ctx, k, c)
}

func (t *Table) Transact(ctx context.Context, ws []table.Write) error {
	t.tx.Add(1)
	t.txWrites.Add(int64(len(ws)))
	return t.next.Transact(ctx, ws)
}

func (t *Table) Query(ctx context.Context, q table.Query) (table.Page, error) {
	t.qry.Add(1)
	return t.next.Query(ctx, q)
}
