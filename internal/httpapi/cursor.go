package httpapi

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"

	"github.com/example/gdpr/internal/secrets"
)

// cursorSealer encrypts and authenticates list cursors with AES-GCM. The tenant and the
// list's scope are the additional data, so a cursor replayed on another tenant or list fails.
type cursorSealer struct{ aead cipher.AEAD }

func newCursorSealer(key []byte) cursorSealer {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("httpapi: cursor key: " + err.Error()) // keys are always 32 bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("httpapi: cursor cipher: " + err.Error())
	}
	return cursorSealer{aead: aead}
}

func (s cursorSealer) seal(tenant, scope, raw string) string {
	nonce := secrets.Random(s.aead.NonceSize())
	out := s.aead.Seal(nonce, nonce, []byte(raw), []byte(tenant+"\x00"+scope))
	return base64.RawURLEncoding.EncodeToString(out)
}

func (s cursorSealer) open(tenant, scope, sealed string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.aead.NonceSize()+s.aead.Overhead() {
		return "", false
	}
	n := s.aead.NonceSize()
	raw, err := s.aead.Open(nil, b[:n], b[n:], []byte(tenant+"\x00"+scope))
	if err != nil {
		return "", false
	}
	return string(raw), true
}
