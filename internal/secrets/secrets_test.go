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

func TestSealer(t *testing.T) {
	m, err := secrets.New([]byte(secrets.Generate()))
	if err != nil {
		t.Fatal(err)
	}
	s := secrets.NewSealer(m.Key(secrets.ForCursor))
	sealed := s.Seal([]byte("page 2"), []byte("acme\x00requests"))
	if sealed == s.Seal([]byte("page 2"), []byte("acme\x00requests")) {
		t.Fatal("two seals of one value are equal: no random nonce")
	}
	got, err := s.Open(sealed, []byte("acme\x00requests"))
	if err != nil || string(got) != "page 2" {
		t.Fatalf("Open = %q, %v; want page 2", got, err)
	}
	b, _ := base64.RawURLEncoding.DecodeString(sealed)
	b[len(b)-1] ^= 1
	for name, tc := range map[string]struct {
		sealer secrets.Sealer
		sealed string
		ad     string
	}{
		"OtherContext": {s, sealed, "beta\x00requests"},
		"OtherKey":     {secrets.NewSealer(m.Key(secrets.ForLinks)), sealed, "acme\x00requests"},
		"Altered":      {s, base64.RawURLEncoding.EncodeToString(b), "acme\x00requests"},
		"Short":        {s, sealed[:20], "acme\x00requests"},
		"NotBase64":    {s, "not base64!", "acme\x00requests"},
	} {
		if _, err := tc.sealer.Open(tc.sealed, []byte(tc.ad)); err != secrets.ErrNotSealed {
			t.Errorf("%s: Open = %v; want ErrNotSealed", name, err)
		}
	}
}

func TestNewID(t *testing.T) {
	a, b := secrets.NewID("req_", secrets.IDBytes), secrets.NewID("req_", secrets.IDBytes)
	if a == b || a[:4] != "req_" {
		t.Fatalf("NewID = %q, %q: want two different ids starting req_", a, b)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(a[4:]); err != nil || len(raw) != secrets.IDBytes {
		t.Fatalf("NewID %q does not carry %d bytes of base64url", a, secrets.IDBytes)
	}
}
