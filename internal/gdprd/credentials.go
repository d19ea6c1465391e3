package gdprd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/example/gdpr/internal/atomicfile"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/tenant"
)

// DemoTenant is the tenant the local server creates on first start.
const DemoTenant = "demo"

// CredentialsFile, in the data folder, holds the keys of the demo tenant.
const CredentialsFile = "credentials.json"

// Placeholders of the demo tenant's keys in the sample events (events/): keys are made per
// data folder, so the samples cannot hold real ones. WithDemoKeys puts the real ones in.
const (
	SampleSiteKey  = "demo-site-key-not-a-real-secret"
	SampleAdminKey = "demo-admin-key-not-a-real-secret"
)

// WithDemoKeys is event with the sample keys replaced by the demo tenant's keys of the data
// folder dir, so that a sample event runs as a call with that key would.
func WithDemoKeys(event []byte, dir string) ([]byte, error) {
	k, err := ReadCredentials(dir)
	if err != nil {
		return nil, err
	}
	event = bytes.ReplaceAll(event, []byte(SampleSiteKey), []byte(k.SiteKey))
	return bytes.ReplaceAll(event, []byte(SampleAdminKey), []byte(k.AdminKey)), nil
}

// EnsureDemo creates the demo tenant when it does not exist and writes its keys to the
// credentials file, so that the sample events (tenant demo) work on a fresh data folder. It
// reports whether it created the tenant.
func EnsureDemo(ctx context.Context, p *ports.Ports, dir string) (bool, error) {
	store := tenant.Store{Table: p.Table, Clock: p.Clock}
	_, err := store.Get(ctx, DemoTenant)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, tenant.ErrNotFound) {
		return false, err
	}
	_, keys, err := store.Create(ctx, DemoTenant)
	if errors.Is(err, tenant.ErrExists) {
		return false, nil // another process made it first
	}
	if err != nil {
		return false, err
	}
	return true, WriteCredentials(dir, keys)
}

// WriteCredentials replaces the credentials file in dir with keys, readable by its owner only.
func WriteCredentials(dir string, keys tenant.Keys) error {
	b, err := json.MarshalIndent(keys, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, CredentialsFile), append(b, '\n')); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return nil
}

// ReadCredentials reads the credentials file in dir.
func ReadCredentials(dir string) (tenant.Keys, error) {
	var k tenant.Keys
	b, err := os.ReadFile(filepath.Join(dir, CredentialsFile))
	if err != nil {
		return k, fmt.Errorf("credentials: %w", err)
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return k, fmt.Errorf("credentials: %s is not JSON", CredentialsFile)
	}
	return k, nil
}
