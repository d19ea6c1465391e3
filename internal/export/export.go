// Package export fulfils access and portability requests (Art. 15 and 20 GDPR): it streams the
// subject's data from the table into a ZIP in the objects port, records the export, and signs
// the expiring download link that is emailed and that the download route checks.
package export

import (
	"context"
	"crypto/hmac"
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/table"
)

// Error codes of the download route (openapi.yaml lists them).
const (
	CodeInvalidSignature = "invalid_signature"
	CodeExportExpired    = "export_expired"
)

var (
	// ErrInvalidSignature refuses a download link that this service did not sign as it is.
	ErrInvalidSignature = apperr.New(apperr.Forbidden, CodeInvalidSignature, "The download link is not valid.")
	// ErrExpired refuses a link past its expiry, or whose export has been deleted.
	ErrExpired = apperr.New(apperr.Gone, CodeExportExpired, "The export has expired or been deleted; submit a new request.")
)

// KindExports names export records on the expiry index: the retention job hands them to
// Expire, which deletes the object and the record when the link expires.
const KindExports = "exports"

// skExport is the export record's sort key in the request's partition.
const skExport = "EXPORT"

// ObjectKey is where a request's package is stored.
func ObjectKey(tenantID, requestID string) string {
	return "exports/" + tenantID + "/" + requestID + "/export.zip"
}

// RecordKey is the table key of a request's export record.
func RecordKey(tenantID, requestID string) table.Key {
	return table.Key{PK: dsr.PK(tenantID, requestID), SK: skExport}
}

// Record is the EXPORT item: the package of one request and until when its link works. It
// holds no personal data. This package owns it.
type Record struct {
	RequestID string    `json:"request_id"`
	Type      dsr.Type  `json:"type"`
	ObjectKey string    `json:"object_key"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	expiry.Attrs
}

// Records reads and writes export records.
type Records struct {
	Table table.Table
	Clock clock.Clock
}

// Put stores the record of tenant's request, replacing an earlier one (a step replayed after
// a crash writes the same record again).
func (s Records) Put(ctx context.Context, tenantID string, r Record) error {
	k := RecordKey(tenantID, r.RequestID)
	// A deadline, not a TTL: the record is how the retention job finds the object, so only
	// its owner deletes it, object first (Expire). A TTL deletion (DynamoDB's, or the local
	// server's minute timer) would orphan the object.
	r.Attrs = expiry.Deadline(tenantID, KindExports, k, r.ExpiresAt)
	it, err := table.NewItem(k, 0, r)
	if err != nil {
		return err
	}
	return s.Table.Put(ctx, it, table.Cond{Kind: table.Always})
}

// Get returns the record of a request, expired or not. Errors: ErrExpired when there is none.
func (s Records) Get(ctx context.Context, tenantID, requestID string) (Record, error) {
	if dsr.ValidateID(requestID) != nil {
		return Record{}, ErrExpired
	}
	it, err := s.Table.Get(ctx, RecordKey(tenantID, requestID))
	if errors.Is(err, table.ErrNotFound) {
		return Record{}, ErrExpired
	}
	if err != nil {
		return Record{}, err
	}
	var r Record
	return r, it.Decode(&r)
}

// Live returns the record of a request whose export has not expired. Errors: ErrExpired for
// none, or one past its expiry that the engine has not deleted yet.
func (s Records) Live(ctx context.Context, tenantID, requestID string) (Record, error) {
	r, err := s.Get(ctx, tenantID, requestID)
	if err != nil {
		return Record{}, err
	}
	if !s.Clock.Now().Before(r.ExpiresAt) {
		return Record{}, ErrExpired
	}
	return r, nil
}

// Links signs and checks download links. A link names the tenant, the request and its expiry
// in clear and carries an HMAC of the three under a key derived from the master secret for
// this use alone, so it needs no stored token and cannot be altered or made to last longer.
type Links struct {
	Secrets secrets.Master
	// Base is the API's public base URL, e.g. https://api.example.org.
	Base string
}

// linkVersion starts every signed message; a new form of link gets a new name.
const linkVersion = "gdpr-export-link/1"

func (l Links) mac(tenantID, requestID string, expires int64) string {
	return l.Secrets.Hash(secrets.ForExportLinks, linkVersion+"\n"+tenantID+"\n"+requestID+"\n"+strconv.FormatInt(expires, 10))
}

// URL is the download link of tenant's request, working until expires (to the second).
func (l Links) URL(tenantID, requestID string, expires time.Time) string {
	e := expires.Unix()
	q := url.Values{"expires": {strconv.FormatInt(e, 10)}, "signature": {l.mac(tenantID, requestID, e)}}
	return l.Base + DownloadPath(tenantID, requestID) + "?" + q.Encode()
}

// DownloadPath is the path of the download route of a request.
func DownloadPath(tenantID, requestID string) string {
	return "/v1/public/" + tenantID + "/requests/" + requestID + "/export"
}

// Check verifies a link's expiry and signature as the route received them, in constant time,
// and then that the link has not expired at now. Errors: ErrInvalidSignature, ErrExpired.
func (l Links) Check(tenantID, requestID, expires, signature string, now time.Time) error {
	e, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || e <= 0 {
		return ErrInvalidSignature
	}
	if !hmac.Equal([]byte(signature), []byte(l.mac(tenantID, requestID, e))) {
		return ErrInvalidSignature
	}
	if !now.Before(time.Unix(e, 0)) {
		return ErrExpired
	}
	return nil
}
