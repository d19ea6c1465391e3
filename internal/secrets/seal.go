package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
)

// ErrUnsealed reports a sealed value that does not open: tampered with, sealed for another
// purpose, or bound to other additional data.
var ErrUnsealed = errors.New("secrets: sealed value does not open")

// Seal encrypts and authenticates plaintext with AES-256-GCM under the purpose's key, bound to
// aad (the key of the item that holds it, say, so that a sealed value copied to another item
// does not open there). The answer is unpadded base64url, random nonce first.
func (m Master) Seal(purpose string, plaintext, aad []byte) string {
	g := m.gcm(purpose)
	nonce := Random(g.NonceSize())
	return base64.RawURLEncoding.EncodeToString(g.Seal(nonce, nonce, plaintext, aad))
}

// Open reverses Seal. Errors: ErrUnsealed.
func (m Master) Open(purpose, sealed string, aad []byte) ([]byte, error) {
	g := m.gcm(purpose)
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < g.NonceSize() {
		return nil, ErrUnsealed
	}
	out, err := g.Open(nil, b[:g.NonceSize()], b[g.NonceSize():], aad)
	if err != nil {
		return nil, ErrUnsealed
	}
	return out, nil
}

func (m Master) gcm(purpose string) cipher.AEAD {
	block, err := aes.NewCipher(m.Key(purpose))
	if err != nil {
		panic("secrets: " + err.Error()) // keys are 32 bytes: never happens
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic("secrets: " + err.Error())
	}
	return g
}
