package consent

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/example/gdpr/internal/subject"
)

// Entry is one consent ledger entry: one decision as recorded, the receipt that proves it
// (Art. 7(1): what was agreed, to which policy version, when, how, with what evidence).
// Entries are written once, under a put-if-absent, and never changed.
//
// Each entry holds the hash of the one before it in the subject's chain, so that removing,
// reordering or altering an entry shows. The hash covers the subject's pseudonym, not its id,
// and a salted digest of the evidence, not the evidence itself: erasure can delete the
// evidence and the clear subject id and the chain still verifies (see Hash).
type Entry struct {
	ReceiptID string `json:"receipt_id"`
	// Seq numbers the subject's entries from 1, in chain order.
	Seq    int64  `json:"seq"`
	Tenant string `json:"tenant"`
	// Subject is the subject's pseudonym (subject.Pseudonym), never the id in clear.
	Subject       string          `json:"subject"`
	RecordedAt    time.Time       `json:"recorded_at"`
	PolicyVersion string          `json:"policy_version"`
	Purposes      map[string]bool `json:"purposes"`
	Method        Method          `json:"method"`
	GPC           bool            `json:"gpc"`
	Evidence      *Evidence       `json:"evidence,omitempty"`
	// EvidenceSalt (base64url, 16 random bytes) and EvidenceDigest commit to Evidence. The
	// salt keeps the digest from being guessed back from the few possible addresses.
	EvidenceSalt   string `json:"evidence_salt,omitempty"`
	EvidenceDigest string `json:"evidence_digest,omitempty"`
	// RequestID names the data subject request that wrote the entry (objections).
	RequestID string `json:"request_id,omitempty"`
	PrevHash  string `json:"prev_hash"`
	Hash      string `json:"hash"`
}

// canonicalVersion starts every canonical form; a new form gets a new name.
const canonicalVersion = "gdpr-consent-ledger/1"

// Canonical is the exact byte string an entry's hash is computed over, so that an auditor can
// recompute it from the stored entry with nothing but SHA-256. It is one "name=value" line per
// field, each ending in "\n", in this order:
//
//	gdpr-consent-ledger/1
//	tenant=<tenant id>
//	subject=<pseudonym>
//	seq=<decimal, no leading zeros>
//	receipt_id=<receipt id>
//	recorded_at=<recorded_at exactly as stored: RFC 3339 in UTC, fraction without trailing zeros>
//	policy_version=<policy version>
//	method=<method>
//	gpc=<true|false>
//	purposes=<name>:<true|false> pairs joined by ",", sorted by name (byte order)
//	evidence_digest=<evidence_digest, or empty>
//	request_id=<request_id, or empty>
//	prev_hash=<prev_hash, or empty on the first entry>
//
// No value can hold a newline: ids, versions, purpose names and methods are validated against
// patterns without one, and hashes are hex.
func (e Entry) Canonical() []byte {
	var b strings.Builder
	line := func(name, value string) { b.WriteString(name + "=" + value + "\n") }
	b.WriteString(canonicalVersion + "\n")
	line("tenant", e.Tenant)
	line("subject", e.Subject)
	line("seq", strconv.FormatInt(e.Seq, 10))
	line("receipt_id", e.ReceiptID)
	line("recorded_at", e.RecordedAt.UTC().Format(time.RFC3339Nano))
	line("policy_version", e.PolicyVersion)
	line("method", string(e.Method))
	line("gpc", strconv.FormatBool(e.GPC))
	names := make([]string, 0, len(e.Purposes))
	for n := range e.Purposes {
		names = append(names, n)
	}
	slices.Sort(names)
	pairs := make([]string, len(names))
	for i, n := range names {
		pairs[i] = n + ":" + strconv.FormatBool(e.Purposes[n])
	}
	line("purposes", strings.Join(pairs, ","))
	line("evidence_digest", e.EvidenceDigest)
	line("request_id", e.RequestID)
	line("prev_hash", e.PrevHash)
	return []byte(b.String())
}

// ComputeHash is the lowercase hex SHA-256 of Canonical.
func (e Entry) ComputeHash() string {
	h := sha256.Sum256(e.Canonical())
	return hex.EncodeToString(h[:])
}

// EvidenceDigest is the lowercase hex SHA-256 of the salt's bytes followed by
// "ip=<ip>\nuser_agent=<user agent>\nlocale=<locale>\n" (values cannot hold control characters).
func EvidenceDigest(salt []byte, ev Evidence) string {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte("ip=" + ev.IP + "\nuser_agent=" + ev.UserAgent + "\nlocale=" + ev.Locale + "\n"))
	return hex.EncodeToString(h.Sum(nil))
}

// ErrChainBroken is returned by Verify.
var ErrChainBroken = errors.New("consent: ledger chain broken")

// Verify checks a subject's ledger, oldest entry first: numbering, links and hashes, and the
// evidence digest of entries that still hold their evidence. The error names the first bad seq.
func Verify(entries []Entry) error {
	prev := ""
	for i, e := range entries {
		switch {
		case e.Seq != int64(i+1):
			return fmt.Errorf("%w: entry %d has seq %d", ErrChainBroken, i+1, e.Seq)
		case e.PrevHash != prev:
			return fmt.Errorf("%w: seq %d does not link to the entry before", ErrChainBroken, e.Seq)
		case e.ComputeHash() != e.Hash:
			return fmt.Errorf("%w: seq %d does not match its hash", ErrChainBroken, e.Seq)
		case i > 0 && e.RecordedAt.Before(entries[i-1].RecordedAt):
			return fmt.Errorf("%w: seq %d is recorded before the entry before", ErrChainBroken, e.Seq)
		}
		if e.Evidence != nil {
			salt, err := base64.RawURLEncoding.DecodeString(e.EvidenceSalt)
			if err != nil || EvidenceDigest(salt, *e.Evidence) != e.EvidenceDigest {
				return fmt.Errorf("%w: seq %d does not match its evidence digest", ErrChainBroken, e.Seq)
			}
		}
		prev = e.Hash
	}
	return nil
}

// ledgerTime is the fixed-width form of a time in ledger sort keys: byte order is time order.
const ledgerTime = "2006-01-02T15:04:05.000000000Z"

// ledgerSK is CONSENT#{time}#{seq}: the seq (zero-padded) is the entry's id within the
// subject's partition. Times never go back along a chain (see record), so the sort key order is
// the chain order even when clocks of two writers disagree.
func ledgerSK(at time.Time, seq int64) string {
	return fmt.Sprintf("%s%s#%010d", subject.SKLedgerPrefix, at.UTC().Format(ledgerTime), seq)
}
