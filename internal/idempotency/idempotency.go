// Package idempotency remembers the first answer to each Idempotency-Key of a tenant: the
// idempotency record item (its key, its sealed answer, its place on the expiry index), read
// and written here only. The HTTP layer reserves a key before it runs a POST's handler and
// keeps the answer after.
package idempotency

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
)

// Kind names idempotency records on the expiry index.
const Kind = "idempotency_records"

// TTL is how long a tenant's Idempotency-Key is remembered.
const TTL = 24 * time.Hour

// MaxKey bounds the key, in bytes, so a key cannot bloat the table.
const MaxKey = 255

var (
	// ErrReused refuses a key used before with another request.
	ErrReused = apperr.New(apperr.Unprocessable, apperr.CodeIdempotencyReuse, "This Idempotency-Key was used with another request.")
	// ErrBusy refuses a key whose first call has not answered yet.
	ErrBusy = busy()
)

func busy() *apperr.Error {
	e := apperr.New(apperr.Conflict, apperr.CodeIdempotencyBusy, "A request with this Idempotency-Key is still being processed.")
	e.RetryAfter = time.Second
	return e
}

// Store keeps idempotency records in the table.
type Store struct {
	table   table.Table
	clock   clock.Clock
	secrets secrets.Master
}

// New returns a store on these ports.
func New(t table.Table, c clock.Clock, m secrets.Master) *Store {
	return &Store{table: t, clock: c, secrets: m}
}

// Answer is what is kept of a call's answer, and replayed.
type Answer struct {
	Status  int
	Headers map[string]string
	Body    string
}

type record struct {
	// Fingerprint is a keyed hash of the request: the same key with another request is
	// refused.
	Fingerprint string `json:"fingerprint"`
	// Owner is a random token of the call that reserved the key. A write that succeeds but
	// whose answer is lost is retried by the SDK and then fails its condition; the owner token
	// lets the caller recognise its own reservation instead of taking it for someone else's.
	Owner  string `json:"owner"`
	Done   bool   `json:"done"`
	Status int    `json:"status,omitempty"`
	// Body is the answer sealed with the key's own replay key (see replayKey).
	Body    string            `json:"body,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	expiry.Attrs
}

// itemKey holds the Idempotency-Key only as a hash: the key opens the stored answer.
func itemKey(tenant, key string) table.Key {
	h := sha256.Sum256([]byte(key))
	return table.Key{PK: "T#" + tenant + "#IDEM#" + base64.RawURLEncoding.EncodeToString(h[:]), SK: "IDEM"}
}

// replayKey protects what a stored answer holds — an access token, a receipt with personal
// data — with a key derived from the master secret and the client's Idempotency-Key, which the
// table keeps only as a hash: the stored answer can be opened only by a call that presents the
// key again. The request's fingerprint is keyed with it too.
func (s *Store) replayKey(tenant, key string) []byte {
	mac := hmac.New(sha256.New, s.secrets.Key(secrets.ForReplay))
	mac.Write([]byte(tenant + "\x00" + key))
	return mac.Sum(nil)
}

func fingerprint(replayKey []byte, request [][]byte) string {
	mac := hmac.New(sha256.New, replayKey)
	for _, part := range request {
		mac.Write(part)
	}
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Reservation is a call's hold on a key: the call runs its handler, then keeps its answer
// (Keep) or lets the key go (Release).
type Reservation struct {
	store   *Store
	key     table.Key
	version int64 // of the reservation as stored
	rec     record
	seal    secrets.Sealer
}

// Reserve holds key for one call of the request (the bytes that identify it, e.g. route,
// path and body, in order), or returns the answer kept for an earlier call of the same
// request with the same key; exactly one of the two is non-nil when err is nil. The key is
// put if absent, so of concurrent calls one runs and the others are told to retry; an expired
// record not yet deleted is taken over.
//
// Errors: validation_failed (a key over MaxKey bytes), ErrReused, ErrBusy.
func (s *Store) Reserve(ctx context.Context, tenant, key string, request ...[]byte) (*Reservation, *Answer, error) {
	if len(key) > MaxKey {
		return nil, nil, apperr.Validation(apperr.FieldError{Field: "Idempotency-Key", Message: "must be at most 255 characters"})
	}
	rk := s.replayKey(tenant, key)
	res := &Reservation{store: s, key: itemKey(tenant, key), seal: secrets.NewSealer(rk)}
	fp := fingerprint(rk, request)
	owner := secrets.NewID("", secrets.IDBytes)
	now := s.clock.Now()
	var held *record
	err := table.Retry(ctx, func() error {
		cur, err := s.table.Get(ctx, res.key)
		var stale int64
		switch {
		case err == nil:
			var rec record
			if err := cur.Decode(&rec); err != nil {
				return err
			}
			if rec.Owner == owner {
				res.rec, res.version = rec, cur.Version // our own write, whose answer was lost
				return nil
			}
			if !rec.Expired(now) {
				held = &rec
				return nil
			}
			stale = cur.Version // expired but not yet deleted by TTL: take it over
		case !errors.Is(err, table.ErrNotFound):
			return err
		}
		rec := record{Fingerprint: fp, Owner: owner, Attrs: expiry.At(tenant, Kind, res.key, now.Add(TTL))}
		it, err := table.NewItem(res.key, stale, rec)
		if err != nil {
			return err
		}
		err = s.table.Put(ctx, it, table.VersionIs(stale))
		if errors.Is(err, table.ErrConflict) {
			return table.ErrRetry // someone reserved it between our read and write: read again
		}
		if err != nil {
			return err
		}
		res.rec, res.version = rec, stale+1
		return nil
	})
	switch {
	case errors.Is(err, table.ErrContention):
		return nil, nil, ErrBusy
	case err != nil:
		return nil, nil, err
	case held == nil:
		return res, nil, nil
	case held.Fingerprint != fp:
		return nil, nil, ErrReused
	case !held.Done:
		return nil, nil, ErrBusy
	}
	body, err := res.seal.Open(held.Body, nil)
	if err != nil {
		return nil, nil, errors.New("idempotency: the stored answer does not open")
	}
	return nil, &Answer{Status: held.Status, Headers: held.Headers, Body: string(body)}, nil
}

// Keep stores the call's answer in place of its reservation, sealed, for replay.
func (r *Reservation) Keep(ctx context.Context, a Answer) error {
	rec := r.rec
	rec.Done, rec.Status, rec.Body, rec.Headers = true, a.Status, r.seal.Seal([]byte(a.Body), nil), a.Headers
	it, err := table.NewItem(r.key, r.version, rec)
	if err != nil {
		return err
	}
	return r.store.table.Put(ctx, it, table.VersionIs(r.version))
}

// Release drops the reservation, so that the client's retry runs the call again.
func (r *Reservation) Release(ctx context.Context) error {
	return r.store.table.Delete(ctx, r.key, table.VersionIs(r.version))
}
