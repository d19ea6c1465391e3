// Package sqlitetest opens the embedded table for tests, shaped by template.yaml and closed
// when the test ends: a fresh file in the test's temporary folder, or a given one.
package sqlitetest

import (
	"path/filepath"
	"testing"

	"github.com/example/gdpr/internal/sqlite"
	"github.com/example/gdpr/internal/table/tabletest"
)

// MustOpen opens a new, empty table for tb.
func MustOpen(tb testing.TB) *sqlite.DB {
	tb.Helper()
	return MustOpenFile(tb, filepath.Join(tb.TempDir(), "gdpr.db"))
}

// MustOpenFile opens the table in the SQLite file at path (e.g. a data folder a server has
// just shut down), creating it when there is none.
func MustOpenFile(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(path, tabletest.Def(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return db
}
