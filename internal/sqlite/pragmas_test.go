package sqlite

import (
	"database/sql"
	"maps"
	"path/filepath"
	"testing"

	"github.com/example/gdpr/internal/table/tabletest"
)

// TestPragmas pins the settings durability and concurrency rest on, read back from the opened
// database on the writer and on every reader connection: the kill test cannot tell
// synchronous=FULL from OFF (the process dies, the machine does not), so this one does.
func TestPragmas(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "gdpr.db"), tabletest.Def(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	want := map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL: the WAL is synced at every commit
		"busy_timeout": "5000",
		"foreign_keys": "1",
	}
	check := func(t *testing.T, conn *sql.Conn, want map[string]string) {
		t.Helper()
		for name, value := range want {
			var got string
			if err := conn.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s: %v", name, err)
			}
			if got != value {
				t.Errorf("PRAGMA %s = %s, want %s", name, got, value)
			}
		}
	}
	t.Run("Writer", func(t *testing.T) {
		conn, err := d.w.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		check(t, conn, with(want, "query_only", "0"))
	})
	t.Run("Readers", func(t *testing.T) {
		// Hold every reader connection at once, so each is opened and checked.
		var conns []*sql.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range readers {
			conn, err := d.r.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, conn)
			check(t, conn, with(want, "query_only", "1"))
		}
	})
}

// with is settings plus one more.
func with(settings map[string]string, name, value string) map[string]string {
	m := maps.Clone(settings)
	m[name] = value
	return m
}
