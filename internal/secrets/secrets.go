// Package secrets turns the service's one master secret into independent keys, one per use
// (email lookup, pseudonyms, cursors, links, stored answers), so that no use can forge
// another's values; it seals values with those keys (Sealer) and generates the service's
// random ids and tokens (NewID).
package secrets

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
)

// MinLength is the shortest master secret accepted, in bytes.
const MinLength = 32

// Purposes of derived keys. A purpose's name is part of the derivation: never rename one.
const (
	ForEmailLookup = "email-lookup"
	ForPseudonym   = "pseudonym"
	ForCursor      = "cursor"
	ForLinks       = "links"
	ForReplay      = "idempotency-replay"
	// ForExportLinks signs the emailed download links of exports (internal/export).
	ForExportLinks = "export-links"
	// ForSites seals what the marketplace-site deliveries keep: each site's signing secret
	// and the bodies of deliveries not yet confirmed.
	ForSites = "sites"
	// ForContacts seals the subject's address on a data subject request (internal/dsr), which
	// the request keeps until it has sent its last email.
	ForContacts = "contacts"
)

var purposes = []string{ForEmailLookup, ForPseudonym, ForCursor, ForLinks, ForReplay, ForExportLinks, ForSites, ForContacts}

// Master is the master secret, with the key of every purpose derived once.
type Master struct{ keys map[string][]byte }

// New checks a master secret and derives its keys.
func New(key []byte) (Master, error) {
	if len(key) < MinLength {
		return Master{}, errors.New("secrets: master secret shorter than 32 bytes")
	}
	m := Master{keys: make(map[string][]byte, len(purposes))}
	for _, p := range purposes {
		k, err := hkdf.Key(sha256.New, key, nil, p, 32)
		if err != nil {
			return Master{}, err
		}
		m.keys[p] = k
	}
	return m, nil
}

// Generate returns a new random master secret, base64-encoded for storage in a file or
// environment variable.
func Generate() string {
	return NewID("", 48)
}

// Sizes of random values, in bytes.
const (
	// IDBytes (128 bits) makes ids and verification codes unique and unguessable.
	IDBytes = 16
	// TokenBytes (256 bits) is the size of bearer secrets: access tokens and API keys.
	TokenBytes = 32
)

// NewID returns prefix followed by n random bytes in unpadded base64url: the one generator of
// the service's random ids, codes and tokens ("req_…", "rcpt_…", access tokens, API keys).
// Base64url keeps them safe in paths, links and headers.
func NewID(prefix string, n int) string {
	return prefix + base64.RawURLEncoding.EncodeToString(Random(n))
}

// Random returns n bytes from crypto/rand.
func Random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("secrets: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return b
}

// Ready tells whether m holds a secret: the zero Master, a function's when it declares none,
// does not.
func (m Master) Ready() bool { return m.keys != nil }

// Key returns the 32-byte key for one purpose. An unknown purpose is a programming error.
func (m Master) Key(purpose string) []byte {
	k, ok := m.keys[purpose]
	if !ok {
		panic("secrets: unknown purpose " + purpose)
	}
	return k
}

// Hash returns the MAC of s as unpadded base64url: a stable, non-reversible identifier for
// lookups and pseudonyms.
func (m Master) Hash(purpose, s string) string {
	return base64.RawURLEncoding.EncodeToString(m.mac(purpose, []byte(s)))
}

// mac returns HMAC-SHA256 of msg under the purpose's key.
func (m Master) mac(purpose string, msg []byte) []byte {
	h := hmac.New(sha256.New, m.Key(purpose))
	h.Write(msg)
	return h.Sum(nil)
}
