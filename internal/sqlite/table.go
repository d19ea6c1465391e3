package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/example/gdpr/internal/table"
)

// Get returns the item with key k, or ErrNotFound.
func (d *DB) Get(ctx context.Context, k table.Key) (table.Item, error) {
	if err := table.ValidateKey(k); err != nil {
		return table.Item{}, err
	}
	it := table.Item{Key: k}
	var data []byte
	err := d.get.QueryRowContext(ctx, k.PK, k.SK).Scan(&it.Version, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return table.Item{}, fmt.Errorf("sqlite: get %s: %w", k, table.ErrNotFound)
	}
	if err != nil {
		return table.Item{}, fmt.Errorf("sqlite: get %s: %w", k, err)
	}
	it.Data = data
	return it, nil
}

// Put stores it with version it.Version+1 when c holds, and returns a *table.ConflictError
// when it does not.
func (d *DB) Put(ctx context.Context, it table.Item, c table.Cond) error {
	return d.single(ctx, table.Put(it, c))
}

// Delete removes the item with key k when c holds, and returns a *table.ConflictError when
// it does not.
func (d *DB) Delete(ctx context.Context, k table.Key, c table.Cond) error {
	return d.single(ctx, table.Delete(k, c))
}

// single applies one write in a statement of its own: the condition is part of the
// statement, which SQLite runs atomically, so no transaction is needed.
func (d *DB) single(ctx context.Context, w table.Write) error {
	if err := table.Validate([]table.Write{w}); err != nil {
		return err
	}
	ok, err := d.write(ctx, func(s *sql.Stmt) *sql.Stmt { return s }, w)
	if err != nil {
		return fmt.Errorf("sqlite: write %s: %w", w.Item.Key, err)
	}
	if !ok {
		return &table.ConflictError{Index: 0, Key: w.Item.Key}
	}
	return nil
}

// Transact applies ws in one transaction, all or none. When a condition fails, it rolls back
// and returns a *table.ConflictError naming the first write whose condition failed.
func (d *DB) Transact(ctx context.Context, ws []table.Write) error {
	if err := table.Validate(ws); err != nil {
		return err
	}
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: transact: %w", err)
	}
	defer tx.Rollback()
	in := func(s *sql.Stmt) *sql.Stmt { return tx.StmtContext(ctx, s) }
	for i, w := range ws {
		ok, err := d.write(ctx, in, w)
		if err != nil {
			return fmt.Errorf("sqlite: transact write %d (%s): %w", i, w.Item.Key, err)
		}
		if !ok {
			return &table.ConflictError{Index: i, Key: w.Item.Key}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: transact: %w", err)
	}
	return nil
}

// write applies w with the statements that in gives (the writer's, or a transaction's) and
// reports whether its condition held. Each condition is a clause of the write's own statement
// and a failed one changes no row, so the number of rows changed tells.
func (d *DB) write(ctx context.Context, in func(*sql.Stmt) *sql.Stmt, w table.Write) (bool, error) {
	k, c := w.Item.Key, w.Cond
	switch w.Op {
	case table.OpPut:
		data, err := d.encode(w.Item.Data)
		if err != nil {
			return false, err
		}
		v := w.Item.Version + 1
		switch c.Kind {
		case table.Always:
			return changed(in(d.putAlways).ExecContext(ctx, k.PK, k.SK, v, data))
		case table.IfAbsent:
			return changed(in(d.putIfAbsent).ExecContext(ctx, k.PK, k.SK, v, data))
		case table.IfExists:
			return changed(in(d.putIfExists).ExecContext(ctx, k.PK, k.SK, v, data))
		case table.IfVersion:
			return changed(in(d.putIfVersion).ExecContext(ctx, k.PK, k.SK, v, data, c.Version))
		}
	case table.OpDelete:
		switch c.Kind {
		case table.Always:
			_, err := in(d.deleteAlways).ExecContext(ctx, k.PK, k.SK)
			return err == nil, err
		case table.IfExists:
			return changed(in(d.deleteAlways).ExecContext(ctx, k.PK, k.SK))
		case table.IfVersion:
			return changed(in(d.deleteIfVersion).ExecContext(ctx, k.PK, k.SK, c.Version))
		case table.IfAbsent:
			// Nothing to delete when the condition holds.
			return d.check(ctx, in, k, c)
		}
	case table.OpCheck:
		return d.check(ctx, in, k, c)
	default:
		return false, fmt.Errorf("unknown op %d", w.Op)
	}
	return false, fmt.Errorf("unknown condition %d", c.Kind)
}

func changed(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// check evaluates c against the stored item without writing.
func (d *DB) check(ctx context.Context, in func(*sql.Stmt) *sql.Stmt, k table.Key, c table.Cond) (bool, error) {
	var v int64
	err := in(d.version).QueryRowContext(ctx, k.PK, k.SK).Scan(&v)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	switch c.Kind {
	case table.Always:
		return true, nil
	case table.IfAbsent:
		return !exists, nil
	case table.IfExists:
		return exists, nil
	case table.IfVersion:
		return exists && v == c.Version, nil
	}
	return false, fmt.Errorf("unknown condition %d", c.Kind)
}

// encode returns the attributes as the JSON text to store, after the port's index-key rule
// (table.ValidateIndexKeys). The text is re-marshalled, so that duplicate names resolve as Go
// (and the DynamoDB adapter) resolve them, before the index columns read it.
func (d *DB) encode(data json.RawMessage) (string, error) {
	if err := table.ValidateIndexKeys(data, d.keyAttrs); err != nil {
		return "", err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return "", err
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// Query reads one partition of the table or of an index.
func (d *DB) Query(ctx context.Context, q table.Query) (table.Page, error) {
	if err := table.ValidateQuery(q); err != nil {
		return table.Page{}, err
	}
	src, ok := d.sources[q.Index]
	if !ok {
		return table.Page{}, fmt.Errorf("sqlite: no index %q", q.Index)
	}
	limit := q.PageSize()

	var b strings.Builder
	args := []any{q.PK}
	b.WriteString("SELECT pk, sk, " + src.rng)
	if !src.keysOnly {
		b.WriteString(", v, data")
	}
	b.WriteString(" FROM items WHERE " + src.hash + " = ?")
	if src.index != "" {
		// Names the partial index's condition, without which SQLite would not use it.
		b.WriteString(" AND " + src.rng + " IS NOT NULL")
	}
	cond := func(op, value string) {
		b.WriteString(" AND " + src.rng + " " + op + " ?")
		args = append(args, value)
	}
	// The range's bounds: SQLite starts an index range at one lower bound and ends it at one
	// upper bound, checking any other row by row. So a table query's cursor replaces the bound
	// it passes, or every page would scan again from the prefix: pages of a million-item
	// partition were quadratic.
	lo, loOp, hi, hiOp := "", ">=", "", "<="
	if q.Prefix != "" {
		lo = q.Prefix
		if end, ok := prefixEnd(q.Prefix); ok {
			hi, hiOp = end, "<"
		}
	}
	if q.From != "" {
		lo = q.From
	}
	if q.To != "" {
		hi = q.To
	}
	var c cursor
	if q.Cursor != "" {
		var err error
		if c, err = decodeCursor(q); err != nil {
			return table.Page{}, err
		}
		if src.index == "" {
			if !q.Desc && c.SK >= lo {
				lo, loOp = c.SK, ">"
			}
			if q.Desc && (hi == "" || c.SK <= hi) {
				hi, hiOp = c.SK, "<"
			}
		}
	}
	if lo != "" {
		cond(loOp, lo)
	}
	if hi != "" {
		cond(hiOp, hi)
	}
	op, dir := ">", ""
	if q.Desc {
		op, dir = "<", " DESC"
	}
	if q.Cursor != "" {
		if src.index == "" {
			cond(op, c.SK) // the bound above unless the cursor lies outside the range
		} else {
			// Index sort keys may repeat; the table key breaks ties, as in the ORDER BY.
			b.WriteString(" AND (" + src.rng + ", pk, sk) " + op + " (?, ?, ?)")
			args = append(args, c.Range, c.PK, c.SK)
		}
	}
	b.WriteString(" ORDER BY " + src.rng + dir)
	if src.index != "" {
		b.WriteString(", pk" + dir + ", sk" + dir)
	}
	// One row more than asked tells whether there is a next page.
	b.WriteString(" LIMIT ?")
	args = append(args, limit+1)

	rows, err := d.r.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return table.Page{}, fmt.Errorf("sqlite: query: %w", err)
	}
	defer rows.Close()
	var (
		page   table.Page
		ranges []string
	)
	for rows.Next() {
		var (
			it   table.Item
			rng  string
			data []byte
		)
		dst := []any{&it.PK, &it.SK, &rng}
		if !src.keysOnly {
			dst = append(dst, &it.Version, &data)
		}
		if err := rows.Scan(dst...); err != nil {
			return table.Page{}, fmt.Errorf("sqlite: query: %w", err)
		}
		it.Data = data
		if src.keysOnly {
			// What a KEYS_ONLY index projects: the table key and the index key, no version.
			if it.Data, err = json.Marshal(map[string]string{src.hashAttr: q.PK, src.rngAttr: rng}); err != nil {
				return table.Page{}, fmt.Errorf("sqlite: query: %w", err)
			}
		}
		page.Items = append(page.Items, it)
		ranges = append(ranges, rng)
	}
	if err := rows.Err(); err != nil {
		return table.Page{}, fmt.Errorf("sqlite: query: %w", err)
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		last := page.Items[limit-1]
		page.Next = cursor{Index: q.Index, Hash: q.PK, Range: ranges[limit-1], PK: last.PK, SK: last.SK}.encode()
	}
	return page, nil
}

// prefixEnd returns the smallest string above every string that begins with p, when there is
// one: SQLite compares text bytewise, so a prefix is a range and the primary key serves it.
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// cursor is the position after the last item of a page: the query's source and partition, the
// item's sort key there and its table key.
type cursor struct {
	Index string `json:"i,omitempty"`
	Hash  string `json:"h"`
	Range string `json:"r"`
	PK    string `json:"p"`
	SK    string `json:"s"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c) // strings only: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor accepts only a cursor this package made for a query of the same source and
// partition: any other string, even one decoding to the same fields, is ErrBadCursor.
func decodeCursor(q table.Query) (cursor, error) {
	bad := fmt.Errorf("sqlite: %w", table.ErrBadCursor)
	b, err := base64.RawURLEncoding.Strict().DecodeString(q.Cursor)
	if err != nil {
		return cursor{}, bad
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.encode() != q.Cursor {
		return cursor{}, bad
	}
	if c.Index != q.Index || c.Hash != q.PK || c.Range == "" || c.PK == "" || c.SK == "" {
		return cursor{}, bad
	}
	if c.Index == "" && (c.PK != c.Hash || c.SK != c.Range) {
		return cursor{}, bad
	}
	return c, nil
}
