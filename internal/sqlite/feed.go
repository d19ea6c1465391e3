package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/example/gdpr/internal/table"
)

// Read returns up to limit (1 to 1000, as GetRecords) changes after position after, oldest
// first, and the position to continue from. Positions are seqs of the changes table; writers
// are serialised, so a change is visible only once every change before it is.
func (d *DB) Read(ctx context.Context, after string, limit int) ([]table.Change, string, error) {
	from, err := parseSeq(after)
	if err != nil {
		return nil, "", err
	}
	if limit < 1 || limit > 1000 {
		return nil, "", fmt.Errorf("sqlite: feed read limit %d outside 1..1000", limit)
	}
	rows, err := d.r.QueryContext(ctx, `SELECT seq, at, event, pk, sk, old_v, old_data, new_v, new_data
		FROM changes WHERE seq > ? ORDER BY seq LIMIT ?`, from, limit)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: feed read: %w", err)
	}
	defer rows.Close()
	var cs []table.Change
	for rows.Next() {
		var (
			c                table.Change
			seq, at          int64
			oldV, newV       sql.NullInt64
			oldData, newData []byte
		)
		if err := rows.Scan(&seq, &at, &c.Event, &c.Key.PK, &c.Key.SK, &oldV, &oldData, &newV, &newData); err != nil {
			return nil, "", fmt.Errorf("sqlite: feed read: %w", err)
		}
		c.Seq = strconv.FormatInt(seq, 10)
		c.At = time.UnixMilli(at).UTC()
		if oldV.Valid {
			c.Old = &table.Item{Key: c.Key, Version: oldV.Int64, Data: oldData}
		}
		if newV.Valid {
			c.New = &table.Item{Key: c.Key, Version: newV.Int64, Data: newData}
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("sqlite: feed read: %w", err)
	}
	if len(cs) == 0 {
		return nil, after, nil
	}
	return cs, cs[len(cs)-1].Seq, nil
}

// TrimFeed deletes the changes up to and including position through, which every reader has
// consumed, and returns how many it deleted. DynamoDB Streams drops records after 24 hours
// whether read or not; the local server trims what its stream handlers are done with instead.
func (d *DB) TrimFeed(ctx context.Context, through string) (int, error) {
	seq, err := parseSeq(through)
	if err != nil {
		return 0, err
	}
	res, err := d.w.ExecContext(ctx, `DELETE FROM changes WHERE seq <= ?`, seq)
	if err != nil {
		return 0, fmt.Errorf("sqlite: trim feed: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// parseSeq reads a feed position: "" (before the first change) or a seq as Read returns it.
func parseSeq(pos string) (int64, error) {
	if pos == "" {
		return 0, nil
	}
	seq, err := strconv.ParseInt(pos, 10, 64)
	if err != nil || seq < 0 || strconv.FormatInt(seq, 10) != pos {
		return 0, fmt.Errorf("sqlite: feed position: %w", table.ErrBadCursor)
	}
	return seq, nil
}

// sweepBatch bounds the items one Sweep transaction deletes, so that a large backlog does
// not hold the write lock for long.
const sweepBatch = 500

// Sweep deletes the items whose TTL attribute is a number of epoch seconds at or before now,
// each recorded in the feed as a REMOVE, as DynamoDB's TTL does, and returns how many it
// deleted. gdprd runs it on a timer; DynamoDB runs its own, up to days late, which is why
// readers compare the TTL with their clock themselves.
func (d *DB) Sweep(ctx context.Context, now time.Time) (int, error) {
	if d.ttlCol == "" {
		return 0, errors.New("sqlite: sweep: the table has no TTL attribute")
	}
	q := `DELETE FROM items WHERE (pk, sk) IN (SELECT pk, sk FROM items WHERE ` + d.ttlCol + ` <= ? LIMIT ?)`
	total := 0
	for {
		res, err := d.w.ExecContext(ctx, q, now.Unix(), sweepBatch)
		if err != nil {
			return total, fmt.Errorf("sqlite: sweep: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sqlite: sweep: %w", err)
		}
		total += int(n)
		if n < sweepBatch {
			return total, nil
		}
	}
}
