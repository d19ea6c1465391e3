// Package sqlite is the embedded engine of the table port: DynamoDB's items, secondary indexes,
// conditional writes, TTL and stream, kept in one SQLite file for the local server and self-hosting.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/example/gdpr/internal/samtemplate"
	"github.com/example/gdpr/internal/table"
)

// pragmas are set on every connection.
//
// WAL lets readers run beside the writer. synchronous(FULL) makes SQLite fsync the WAL at
// every commit, so an acknowledged write survives not only the process dying (SIGINT, SIGKILL,
// a crash: NORMAL already covers those, the WAL being written before COMMIT returns) but also
// the machine losing power, which NORMAL does not. This store holds consent records and audit
// trails that are evidence; one fsync per commit is the price (a 4 KiB synchronous write takes
// about 0.12 ms on the development machines).
//
// secure_delete(ON) overwrites deleted content with zeros, so an erased subject's rows do not
// linger in the file's free pages (Art. 17). In WAL mode the zeroed pages reach the database
// file at the next checkpoint (automatic every 1000 pages, and when the last connection
// closes); until then the file, and WAL frames of earlier writes, still hold the old bytes.
const pragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_pragma=secure_delete(ON)"

// readers bounds the read connections, each of which keeps its own page cache. In WAL mode
// reads never wait for the writer.
const readers = 4

// DB is a table and its change feed in one SQLite database.
//
// All writes go through one connection, and transactions start with BEGIN IMMEDIATE: writers
// of this process queue in database/sql instead of sleeping in SQLite's busy handler, and a
// second process (gdprctl beside gdprd) waits up to busy_timeout for the write lock. Measured
// with 20 goroutines racing read-modify-write on one item: 19-32 ms a round with one writer
// connection, 77-112 ms with four; parallel puts gained nothing from four either.
type DB struct {
	w, r *sql.DB

	sources  map[string]source // by index name; "" is the table
	keyAttrs []string          // index key attributes: DynamoDB refuses them unless non-empty strings
	ttlCol   string            // column of the TTL attribute, "" when the table has none

	get                                               *sql.Stmt
	putAlways, putIfAbsent, putIfExists, putIfVersion *sql.Stmt
	deleteAlways, deleteIfVersion, version            *sql.Stmt
}

var (
	_ table.Table = (*DB)(nil)
	_ table.Feed  = (*DB)(nil)
)

// source is what a query reads: the table or one of its indexes.
type source struct {
	index    string // index name, "" for the table
	hash     string // column of the partition key
	rng      string // column of the sort key
	rngAttr  string
	hashAttr string
	keysOnly bool // the index projects keys only (KEYS_ONLY)
}

// names are the attribute and index names this package puts in SQL, quoted: DynamoDB's own
// alphabet for index names, which template.yaml also uses for attributes.
var names = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,255}$`)

// attrCol is the virtual column that holds an index key attribute.
func attrCol(attr string) string { return `"a_` + attr + `"` }

// jsonPath is the SQL literal of the path to a top-level attribute.
func jsonPath(attr string) string { return `'$."` + attr + `"'` }

// Open opens (creating if needed) the database at path and shapes it after def: one items
// table keyed by the table's keys, a virtual column and a partial index for each secondary
// index (sparse, like DynamoDB's), and the change feed. Reopening with more indexes adds them.
func Open(path string, def samtemplate.TableDef) (*DB, error) {
	d := &DB{sources: map[string]source{"": {hash: "pk", rng: "sk", hashAttr: table.AttrPK, rngAttr: table.AttrSK}}}
	sc, err := d.shape(def)
	if err != nil {
		return nil, err
	}
	if d.w, err = sql.Open("sqlite", writerDSN(path)); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	d.w.SetMaxOpenConns(1)
	// query_only makes a read connection unable to write, so a write can never take a path
	// around the single writer.
	if d.r, err = sql.Open("sqlite", readerDSN(path)); err != nil {
		d.w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	d.r.SetMaxOpenConns(readers)
	d.r.SetMaxIdleConns(readers)
	if err := d.migrate(sc); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.prepare(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// writerDSN and readerDSN name the database at path for the driver. A file: URI with the
// path escaped lets the path hold '?' and '#'. Transactions of the writer begin IMMEDIATE.
func writerDSN(path string) string { return dsn(path) + "&_txlock=immediate" }
func readerDSN(path string) string { return dsn(path) + "&_pragma=query_only(1)" }

func dsn(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + pragmas
}

// Close closes the database. Writes acknowledged before are on disk.
func (d *DB) Close() error {
	return errors.Join(d.r.Close(), d.w.Close())
}

// schema is what a database must hold to serve a table definition.
type schema struct {
	tables  []string // tables and triggers, created when missing
	columns []column // virtual columns, added when missing
	indexes []string // indexes over those columns, created when missing
}

type column struct{ name, expr string }

// shape reads def into d and returns the schema that serves it.
func (d *DB) shape(def samtemplate.TableDef) (schema, error) {
	var sc schema
	if def.HashKey != table.AttrPK || def.RangeKey != table.AttrSK {
		return sc, fmt.Errorf("sqlite: table keys are %s/%s; the port needs %s/%s", def.HashKey, def.RangeKey, table.AttrPK, table.AttrSK)
	}
	// Triggers write the change feed in the statement that changes the item, so no write,
	// whatever its path (Sweep, an operator's sqlite3 shell), can miss the feed or reach it
	// without being committed. The time is SQLite's wall clock, as DynamoDB's is AWS's.
	const at = `CAST(unixepoch('subsec') * 1000 AS INTEGER)`
	sc.tables = []string{
		`CREATE TABLE IF NOT EXISTS items (
			pk   TEXT NOT NULL,
			sk   TEXT NOT NULL,
			v    INTEGER NOT NULL,
			data TEXT NOT NULL,
			PRIMARY KEY (pk, sk)
		) STRICT, WITHOUT ROWID`,
		// AUTOINCREMENT: a seq is never reused, even after TrimFeed empties the table, so a
		// reader's position stays meaningful.
		`CREATE TABLE IF NOT EXISTS changes (
			seq      INTEGER PRIMARY KEY AUTOINCREMENT,
			at       INTEGER NOT NULL,
			event    TEXT NOT NULL,
			pk       TEXT NOT NULL,
			sk       TEXT NOT NULL,
			old_v    INTEGER,
			old_data TEXT,
			new_v    INTEGER,
			new_data TEXT
		) STRICT`,
		`CREATE TRIGGER IF NOT EXISTS items_insert AFTER INSERT ON items BEGIN
			INSERT INTO changes (at, event, pk, sk, new_v, new_data)
			VALUES (` + at + `, 'INSERT', NEW.pk, NEW.sk, NEW.v, NEW.data);
		END`,
		`CREATE TRIGGER IF NOT EXISTS items_update AFTER UPDATE ON items BEGIN
			INSERT INTO changes (at, event, pk, sk, old_v, old_data, new_v, new_data)
			VALUES (` + at + `, 'MODIFY', NEW.pk, NEW.sk, OLD.v, OLD.data, NEW.v, NEW.data);
		END`,
		`CREATE TRIGGER IF NOT EXISTS items_delete AFTER DELETE ON items BEGIN
			INSERT INTO changes (at, event, pk, sk, old_v, old_data)
			VALUES (` + at + `, 'REMOVE', OLD.pk, OLD.sk, OLD.v, OLD.data);
		END`,
	}

	// Index key attributes live in data, as in DynamoDB. Virtual columns expose them to
	// indexes without storing them twice and, unlike bare expression indexes, can be named in
	// queries, so no query can miss its index by spelling the expression differently; they
	// can also be added to an existing table. Partial indexes leave out the items lacking
	// either key, as a GSI does.
	for _, ix := range def.Indexes {
		if !names.MatchString(ix.Name) || !names.MatchString(ix.HashKey) || !names.MatchString(ix.RangeKey) {
			return sc, fmt.Errorf("sqlite: index %q: names must match %s and both keys be set", ix.Name, names)
		}
		for _, attr := range []string{ix.HashKey, ix.RangeKey} {
			if attr == table.AttrPK || attr == table.AttrSK || attr == table.AttrVersion {
				return sc, fmt.Errorf("sqlite: index %s is keyed by reserved attribute %s", ix.Name, attr)
			}
			if def.AttributeTypes[attr] != "S" {
				return sc, fmt.Errorf("sqlite: index %s: key %s is of type %q; only S is supported", ix.Name, attr, def.AttributeTypes[attr])
			}
			if !slices.Contains(d.keyAttrs, attr) {
				d.keyAttrs = append(d.keyAttrs, attr)
				sc.columns = append(sc.columns, column{attrCol(attr), `json_extract(data, ` + jsonPath(attr) + `)`})
			}
		}
		src := source{index: ix.Name, hash: attrCol(ix.HashKey), rng: attrCol(ix.RangeKey), hashAttr: ix.HashKey, rngAttr: ix.RangeKey}
		switch ix.Projection {
		case "ALL":
		case "KEYS_ONLY":
			src.keysOnly = true
		default:
			return sc, fmt.Errorf("sqlite: index %s: projection %q is not supported", ix.Name, ix.Projection)
		}
		d.sources[ix.Name] = src
		sc.indexes = append(sc.indexes, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS "items_%s" ON items (%s, %s) WHERE %[2]s IS NOT NULL AND %[3]s IS NOT NULL`,
			ix.Name, src.hash, src.rng))
	}
	if attr := def.TTLAttribute; attr != "" {
		if !names.MatchString(attr) {
			return sc, fmt.Errorf("sqlite: TTL attribute %q must match %s", attr, names)
		}
		// DynamoDB expires only the items whose TTL attribute is a number.
		d.ttlCol = `"ttl_` + attr + `"`
		sc.columns = append(sc.columns, column{d.ttlCol,
			`CASE WHEN json_type(data, ` + jsonPath(attr) + `) IN ('integer', 'real') THEN json_extract(data, ` + jsonPath(attr) + `) END`})
		sc.indexes = append(sc.indexes, `CREATE INDEX IF NOT EXISTS items_ttl ON items (`+d.ttlCol+`) WHERE `+d.ttlCol+` IS NOT NULL`)
	}
	return sc, nil
}

// migrate brings the database to sc in one transaction, so that two processes opening the
// same new file do not both build it.
func (d *DB) migrate(sc schema) error {
	ctx := context.Background()
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	for _, s := range sc.tables {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
	}
	have := map[string]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_xinfo('items')`)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		have[`"`+name+`"`] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	for _, c := range sc.columns {
		if have[c.name] {
			continue
		}
		if _, err := tx.ExecContext(ctx, `ALTER TABLE items ADD COLUMN `+c.name+` ANY GENERATED ALWAYS AS (`+c.expr+`) VIRTUAL`); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
	}
	for _, s := range sc.indexes {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// Statements of the write path, prepared once on the writer. ?3 is the version to store.
const (
	sqlPutAlways = `INSERT INTO items (pk, sk, v, data) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (pk, sk) DO UPDATE SET v = excluded.v, data = excluded.data`
	sqlPutIfAbsent     = `INSERT INTO items (pk, sk, v, data) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (pk, sk) DO NOTHING`
	sqlPutIfExists     = `UPDATE items SET v = ?3, data = ?4 WHERE pk = ?1 AND sk = ?2`
	sqlPutIfVersion    = `UPDATE items SET v = ?3, data = ?4 WHERE pk = ?1 AND sk = ?2 AND v = ?5`
	sqlDeleteAlways    = `DELETE FROM items WHERE pk = ?1 AND sk = ?2`
	sqlDeleteIfVersion = `DELETE FROM items WHERE pk = ?1 AND sk = ?2 AND v = ?3`
	sqlVersion         = `SELECT v FROM items WHERE pk = ?1 AND sk = ?2`
	sqlGet             = `SELECT v, data FROM items WHERE pk = ?1 AND sk = ?2`
)

func (d *DB) prepare() error {
	for _, p := range []struct {
		db   *sql.DB
		dst  **sql.Stmt
		text string
	}{
		{d.r, &d.get, sqlGet},
		{d.w, &d.putAlways, sqlPutAlways},
		{d.w, &d.putIfAbsent, sqlPutIfAbsent},
		{d.w, &d.putIfExists, sqlPutIfExists},
		{d.w, &d.putIfVersion, sqlPutIfVersion},
		{d.w, &d.deleteAlways, sqlDeleteAlways},
		{d.w, &d.deleteIfVersion, sqlDeleteIfVersion},
		{d.w, &d.version, sqlVersion},
	} {
		st, err := p.db.Prepare(p.text)
		if err != nil {
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
		*p.dst = st
	}
	return nil
}
