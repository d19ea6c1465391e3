package httpapi

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
)

// KindIdempotency names idempotency records on the expiry index.
const KindIdempotency = "idempotency_records"

// IdempotencyTTL is how long a tenant's Idempotency-Key is remembered.
const IdempotencyTTL = 24 * time.Hour

// maxIdempotencyKey bounds the header so a key cannot bloat the table.
const maxIdempotencyKey = 255

// idempotency remembers the first answer to each Idempotency-Key of a tenant.
//
// A key is first reserved (put if absent), then the handler runs, then its answer replaces
// the reservation. A concurrent second call sees the reservation and is told to retry, so
// the handler runs once per key. An answer with a 5xx status is not kept: the reservation is
// dropped so the client's retry runs again.
type idempotency struct {
	table table.Table
	clock clock.Clock
}

type idemRecord struct {
	// Fingerprint is a keyed hash of the route, path and body: the same key with another
	// request is refused.
	Fingerprint string `json:"fingerprint"`
	// Owner is a random token of the call that reserved the key. A write that succeeds but
	// whose answer is lost is retried by the SDK and then fails its condition; the owner token
	// lets the caller recognise its own reservation instead of taking it for someone else's.
	Owner  string `json:"owner"`
	Done   bool   `json:"done"`
	Status int    `json:"status,omitempty"`
	// Body is the answer sealed with the key's own replay key (see replaySeal).
	Body    string            `json:"body,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	expiry.Attrs
}

func idemKey(tenant, key string) table.Key {
	h := sha256.Sum256([]byte(key))
	return table.Key{PK: "T#" + tenant + "#IDEM#" + base64.RawURLEncoding.EncodeToString(h[:]), SK: "IDEM"}
}

// replaySeal protects what a stored answer holds — an access token, a receipt with personal
// data — with a key derived from the master secret and the client's Idempotency-Key, which the
// table keeps only as a hash: the stored answer can be opened only by a call that presents the
// key again.
type replaySeal struct {
	key []byte
}

func newReplaySeal(m secrets.Master, tenant, idempotencyKey string) replaySeal {
	mac := hmac.New(sha256.New, m.Key(secrets.ForReplay))
	mac.Write([]byte(tenant + "\x00" + idempotencyKey))
	return replaySeal{key: mac.Sum(nil)}
}

func (s replaySeal) aead() cipher.AEAD {
	block, err := aes.NewCipher(s.key)
	if err != nil {
		panic("httpapi: replay key: " + err.Error()) // always 32 bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("httpapi: replay cipher: " + err.Error())
	}
	return aead
}

// fingerprint is a keyed hash of the route, path and body.
func (s replaySeal) fingerprint(r *Request) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(r.Event.RouteKey + "\x00" + r.Event.RawPath + "\x00"))
	mac.Write(r.raw)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (s replaySeal) seal(body string) string {
	aead := s.aead()
	nonce := secrets.Random(aead.NonceSize())
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(body), nil))
}

func (s replaySeal) open(sealed string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	aead := s.aead()
	if err != nil || len(b) < aead.NonceSize() {
		return "", errors.New("httpapi: stored answer is not sealed")
	}
	body, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], nil)
	if err != nil {
		return "", errors.New("httpapi: stored answer does not open")
	}
	return string(body), nil
}

func (a *API) idempotent(ctx context.Context, r *Request, route Route) events.APIGatewayV2HTTPResponse {
	key := r.Header("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		return a.problem(r, apperr.Validation(apperr.FieldError{Field: "Idempotency-Key", Message: "must be at most 255 characters"}))
	}
	k := idemKey(r.Tenant, key)
	seal := newReplaySeal(a.cfg.Secrets, r.Tenant, key)
	fp := seal.fingerprint(r)
	now := a.idem.clock.Now()

	reserved, err := a.idem.reserve(ctx, k, fp, r.Tenant, now)
	if err != nil {
		return a.problem(r, err)
	}
	if !reserved.isNew {
		rec := reserved.rec
		switch {
		case rec.Fingerprint != fp:
			return a.problem(r, apperr.New(apperr.Unprocessable, apperr.CodeIdempotencyReuse, "This Idempotency-Key was used with another request."))
		case !rec.Done:
			e := apperr.New(apperr.Conflict, apperr.CodeIdempotencyBusy, "A request with this Idempotency-Key is still being processed.")
			e.RetryAfter = time.Second
			return a.problem(r, e)
		}
		body, err := seal.open(rec.Body)
		if err != nil {
			return a.problem(r, err)
		}
		h := map[string]string{"Idempotent-Replayed": "true"}
		for name, v := range rec.Headers {
			h[name] = v
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: rec.Status, Headers: h, Body: body}
	}

	resp := a.run(ctx, r, route)
	if resp.StatusCode >= 500 {
		// Let the client's retry run the handler again.
		if err := a.idem.table.Delete(ctx, k, table.VersionIs(reserved.version)); err != nil {
			a.cfg.Log.Error("idempotency release failed", "request_id", r.RequestID, "error", err.Error())
		}
		return resp
	}
	rec := reserved.rec
	rec.Done, rec.Status, rec.Body, rec.Headers = true, resp.StatusCode, seal.seal(resp.Body), resp.Headers
	it, err := table.NewItem(k, reserved.version, rec)
	if err == nil {
		err = a.idem.table.Put(ctx, it, table.VersionIs(reserved.version))
	}
	if err != nil {
		// The work is done; failing to remember the answer only loses replay, so answer anyway.
		a.cfg.Log.Error("idempotency record failed", "request_id", r.RequestID, "error", err.Error())
	}
	return resp
}

type reservation struct {
	isNew   bool
	rec     idemRecord
	version int64 // the version of the reservation now stored
}

// reserve stores a pending record for the key, or returns the live record already there.
func (s idempotency) reserve(ctx context.Context, k table.Key, fp, tenant string, now time.Time) (reservation, error) {
	owner := base64.RawURLEncoding.EncodeToString(secrets.Random(16))
	for attempt := 0; attempt < 3; attempt++ {
		cur, err := s.table.Get(ctx, k)
		var stale int64
		switch {
		case err == nil:
			var rec idemRecord
			if err := cur.Decode(&rec); err != nil {
				return reservation{}, err
			}
			if rec.Owner == owner {
				return reservation{isNew: true, rec: rec, version: cur.Version}, nil
			}
			if !rec.Expired(now) {
				return reservation{rec: rec, version: cur.Version}, nil
			}
			stale = cur.Version // expired but not yet deleted by TTL: take it over
		case !errors.Is(err, table.ErrNotFound):
			return reservation{}, err
		}
		rec := idemRecord{Fingerprint: fp, Owner: owner, Attrs: expiry.At(tenant, KindIdempotency, k, now.Add(IdempotencyTTL))}
		it, err := table.NewItem(k, stale, rec)
		if err != nil {
			return reservation{}, err
		}
		err = s.table.Put(ctx, it, table.VersionIs(stale))
		if err == nil {
			return reservation{isNew: true, rec: rec, version: stale + 1}, nil
		}
		if !errors.Is(err, table.ErrConflict) {
			return reservation{}, err
		}
		// Someone reserved it between our read and write: read again.
	}
	return reservation{}, apperr.New(apperr.Conflict, apperr.CodeIdempotencyBusy, "A request with this Idempotency-Key is still being processed.")
}
