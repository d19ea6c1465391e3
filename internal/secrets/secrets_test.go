package secrets_test

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/example/gdpr/internal/secrets"
)

func TestMaster(t *testing.T) {
	if _, err := secrets.New(make([]byte, secrets.MinLength-1)); err == nil {
		t.Fatal("a master secret under 32 bytes was accepted")
	}
	m, err := secrets.New([]byte(secrets.Generate()))
	if err != nil {
		t.Fatal(err)
	}
	other, err := secrets.New([]byte(secrets.Generate()))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(m.Key(secrets.ForCursor), m.Key(secrets.ForLinks)) {
		t.Fatal("two purposes share a key")
	}
	if got, want := len(m.Key(secrets.ForReplay)), 32; got != want {
		t.Fatalf("key length %d, want %d", got, want)
	}
	h := m.Hash(secrets.ForPseudonym, "acme\x00u-42")
	if h != m.Hash(secrets.ForPseudonym, "acme\x00u-42") {
		t.Fatal("Hash is not stable")
	}
	if h == m.Hash(secrets.ForEmailLookup, "acme\x00u-42") || h == other.Hash(secrets.ForPseudonym, "acme\x00u-42") {
		t.Fatal("Hash does not depend on the purpose and the master secret")
	}
	if b, err := base64.RawURLEncoding.DecodeString(h); err != nil || len(b) != 32 {
		t.Fatalf("Hash %q is not 32 bytes of base64url", h)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("an unknown purpose did not panic")
		}
	}()
	m.Key("no-such-purpose")
}
