// Package home opens the home a long-running process (gdprd, gdprctl) works in: the embedded
// one under a data folder — SQLite, files, an outbox — or AWS when the environment names a
// table. Lambda functions never import it, so their binaries carry no SQLite.
package home

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/example/gdpr/internal/awsports"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/files"
	"github.com/example/gdpr/internal/outbox"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sqlite"
)

// Where the local adapters keep their data, under the data folder.
const (
	DatabaseFile = "gdpr.db"
	ExportsDir   = "exports"
	OutboxDir    = "outbox"
	SecretFile   = "secret.key"
)

// DefaultSender is the From address of local mail when SENDER_EMAIL is not set.
const DefaultSender = "no-reply@localhost"

// Local builds the embedded adapters under dir: SQLite in dir/gdpr.db, exports under
// dir/exports (links served under baseURL by gdprd), mail in dir/outbox. The master secret is
// dir/secret.key, made on first use. Mail is sent from SENDER_EMAIL, or DefaultSender.
func Local(dir string, clk clock.Clock, baseURL string, log *slog.Logger) (*ports.Ports, error) {
	return local(dir, clk, baseURL, log, os.Getenv(awsports.EnvSender))
}

func local(dir string, clk clock.Clock, baseURL string, log *slog.Logger, sender string) (*ports.Ports, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("home: data folder: %w", err)
	}
	secret, err := LocalSecret(dir)
	if err != nil {
		return nil, err
	}
	master, err := secrets.New([]byte(secret))
	if err != nil {
		return nil, fmt.Errorf("home: %s: %w", filepath.Join(dir, SecretFile), err)
	}
	exports, err := files.New(filepath.Join(dir, ExportsDir), baseURL, master.Key(secrets.ForLinks), clk)
	if err != nil {
		return nil, fmt.Errorf("home: %w", err)
	}
	if sender == "" {
		sender = DefaultSender
	}
	out, err := outbox.New(filepath.Join(dir, OutboxDir), sender, clk)
	if err != nil {
		return nil, fmt.Errorf("home: %w", err)
	}
	db, err := sqlite.Open(filepath.Join(dir, DatabaseFile), ports.TableDef())
	if err != nil {
		return nil, fmt.Errorf("home: %w", err)
	}
	return &ports.Ports{
		Table:     db,
		Feed:      db,
		Objects:   exports,
		Mail:      out,
		Clock:     clk,
		Secrets:   master,
		Log:       log,
		PublicURL: baseURL,
		Close:     db.Close,
	}, nil
}

// LocalSecret returns the master secret kept in dir/secret.key, creating the file (readable
// by its owner only) with a new random secret when there is none.
func LocalSecret(dir string) (string, error) {
	path := filepath.Join(dir, SecretFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b, err = createSecret(path)
	}
	if err != nil {
		return "", fmt.Errorf("home: master secret: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}

func createSecret(path string) ([]byte, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	b := []byte(secrets.Generate() + "\n")
	f, err := os.CreateTemp(dir, "~"+SecretFile+"-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// A link, unlike a rename, fails when the name exists: of two processes starting at once,
	// one secret wins and both use it, and no reader ever sees a half-written file.
	if err := os.Link(f.Name(), path); errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	} else if err != nil {
		return nil, err
	}
	return b, nil
}
