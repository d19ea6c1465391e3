package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
)

// ErrNotSealed is returned by Sealer.Open for a value that is not one this sealer sealed with
// the same additional data: malformed, forged, altered, or sealed for another context.
var ErrNotSealed = errors.New("secrets: value is not sealed with this key and context")

// Sealer encrypts and authenticates short values with AES-256-GCM and a random nonce: what a
// client or the table holds for us (a list cursor, a stored answer) can be neither read nor
// forged. The additional data binds a sealed value to its context (a tenant and a list, say):
// it opens only in the same context.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a sealer under a 32-byte key (Master.Key, or a key derived from one).
func NewSealer(key []byte) Sealer {
	if len(key) != 32 {
		panic("secrets: a sealing key is 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("secrets: sealing key: " + err.Error()) // cannot happen with 32 bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("secrets: sealing cipher: " + err.Error())
	}
	return Sealer{aead: aead}
}

// Seal returns plain sealed with additional data ad, as unpadded base64url of nonce and
// ciphertext.
func (s Sealer) Seal(plain, ad []byte) string {
	nonce := Random(s.aead.NonceSize())
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, ad))
}

// Open returns what Seal sealed with the same additional data. Errors: ErrNotSealed.
func (s Sealer) Open(sealed string, ad []byte) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	n := s.aead.NonceSize()
	if err != nil || len(b) < n+s.aead.Overhead() {
		return nil, ErrNotSealed
	}
	plain, err := s.aead.Open(nil, b[:n], b[n:], ad)
	if err != nil {
		return nil, ErrNotSealed
	}
	return plain, nil
}

// Seal seals plaintext (see Sealer) under the key the master derives for purpose, bound to
// aad (the key of the item that holds it, say, so that a sealed value copied to another item
// does not open there).
func (m Master) Seal(purpose string, plaintext, aad []byte) string {
	return NewSealer(m.Key(purpose)).Seal(plaintext, aad)
}

// Open reverses Seal. Errors: ErrNotSealed.
func (m Master) Open(purpose, sealed string, aad []byte) ([]byte, error) {
	return NewSealer(m.Key(purpose)).Open(sealed, aad)
}
