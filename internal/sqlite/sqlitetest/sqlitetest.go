// Package sqlitetest opens the embedded table for tests: a fresh SQLite file in the test's
// temporary folder, shaped by template.yaml, closed when the test ends.
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
	db, err := sqlite.Open(filepath.Join(tb.TempDir(), "gdpr.db"), tabletest.Def(tb))
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
