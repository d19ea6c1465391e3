package httpapi

import (
	"github.com/example/gdpr/internal/secrets"
)

// cursorSealer seals list cursors (secrets.Sealer, under the key derived for cursors). The
// tenant and the list's scope are the additional data, so a cursor replayed on another tenant
// or list fails.
type cursorSealer struct{ s secrets.Sealer }

func newCursorSealer(key []byte) cursorSealer { return cursorSealer{s: secrets.NewSealer(key)} }

func (c cursorSealer) seal(tenant, scope, raw string) string {
	return c.s.Seal([]byte(raw), []byte(tenant+"\x00"+scope))
}

func (c cursorSealer) open(tenant, scope, sealed string) (string, bool) {
	raw, err := c.s.Open(sealed, []byte(tenant+"\x00"+scope))
	return string(raw), err == nil
}
