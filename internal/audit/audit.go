// Package audit is each tenant's tamper-evident trail: every operator action and every change
// of a data subject request, hash chained, written in the same transaction as the change.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/example/gdpr/internal/table"
)

// Actors: who did what an entry records. Never a person's name.
const (
	ActorSubject  = "subject"
	ActorSite     = "site"
	ActorOperator = "operator"
	ActorSystem   = "system"
)

// Event is what a caller records: the entry before the chain gives it a place.
type Event struct {
	Actor  string
	Action string
	// Subject is the subject's pseudonym (subject.Pseudonym), never an email, name or id.
	Subject   string
	RequestID string
	// Detail holds ids, codes and dates only: never personal data.
	Detail map[string]string
}

// Entry is one link of a tenant's chain.
type Entry struct {
	Seq       int64             `json:"seq"`
	At        time.Time         `json:"at"`
	Actor     string            `json:"actor"`
	Action    string            `json:"action"`
	Subject   string            `json:"subject,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
	Detail    map[string]string `json:"detail"`
	Hash      string            `json:"hash"`
	PrevHash  string            `json:"prev_hash"`
}

// stored is an entry as the table keeps it. The two indexes serve the trail of one subject
// (GSI1) and of one request (GSI2) without reading the whole chain.
type stored struct {
	Entry
	GSI1PK string `json:"gsi1pk,omitempty"`
	GSI1SK string `json:"gsi1sk,omitempty"`
	GSI2PK string `json:"gsi2pk,omitempty"`
	GSI2SK string `json:"gsi2sk,omitempty"`
}

// head is the chain's last position. Every append rewrites it under its version, so two
// appends that raced cannot both commit: one transaction fails and its writer retries.
type head struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// Index names of template.yaml's table.
const (
	indexSubject = "GSI1"
	indexRequest = "GSI2"
)

// Log is the audit trail of every tenant.
type Log struct {
	Table table.Table
}

func logPK(tenant string) string { return "T#" + tenant + "#AUDIT" }

// headSK sorts after every seqKey, so queries of entries bound the sort key by lastSeqKey.
const headSK = "HEAD"

var lastSeqKey = seqKey(1<<63 - 1)

func seqKey(seq int64) string { return fmt.Sprintf("%020d", seq) }

func headKey(tenant string) table.Key { return table.Key{PK: logPK(tenant), SK: headSK} }

func subjectPK(tenant, pseudonym string) string { return "T#" + tenant + "#AUDS#" + pseudonym }

func requestPK(tenant, id string) string { return "T#" + tenant + "#AUDR#" + id }

// Append returns the writes that add events to the tenant's chain, at time at, for the caller
// to commit in the same transaction as the change they record. When another append commits
// first, that transaction fails with a *table.ConflictError on the chain (the next entry or
// the head); the caller reads everything again and retries. It costs one read.
func (l Log) Append(ctx context.Context, tenant string, at time.Time, events ...Event) ([]table.Write, error) {
	hk := headKey(tenant)
	var h head
	it, err := l.Table.Get(ctx, hk)
	switch {
	case err == nil:
		if err := it.Decode(&h); err != nil {
			return nil, err
		}
	case errors.Is(err, table.ErrNotFound):
	default:
		return nil, fmt.Errorf("audit: read head: %w", err)
	}
	ws := make([]table.Write, 0, len(events)+1)
	for _, ev := range events {
		e := Entry{
			Seq:       h.Seq + 1,
			At:        at.UTC(),
			Actor:     ev.Actor,
			Action:    ev.Action,
			Subject:   ev.Subject,
			RequestID: ev.RequestID,
			Detail:    ev.Detail,
			PrevHash:  h.Hash,
		}
		if e.Detail == nil {
			e.Detail = map[string]string{}
		}
		e.Hash = e.digest()
		s := stored{Entry: e}
		if e.Subject != "" {
			s.GSI1PK, s.GSI1SK = subjectPK(tenant, e.Subject), seqKey(e.Seq)
		}
		if e.RequestID != "" {
			s.GSI2PK, s.GSI2SK = requestPK(tenant, e.RequestID), seqKey(e.Seq)
		}
		entry, err := table.NewItem(table.Key{PK: logPK(tenant), SK: seqKey(e.Seq)}, 0, s)
		if err != nil {
			return nil, err
		}
		ws = append(ws, table.Put(entry, table.Cond{Kind: table.IfAbsent}))
		h = head{Seq: e.Seq, Hash: e.Hash}
	}
	hi, err := table.NewItem(hk, it.Version, h)
	if err != nil {
		return nil, err
	}
	return append(ws, table.Put(hi, table.VersionIs(it.Version))), nil
}

// digest is the hex SHA-256 of the entry's content and the hash before it. The content is
// encoded as a JSON array with the detail as sorted pairs, so that the digest depends on the
// values alone and not on how an engine stores or orders them.
func (e Entry) digest() string {
	pairs := make([][2]string, 0, len(e.Detail))
	for _, k := range slices.Sorted(maps.Keys(e.Detail)) {
		pairs = append(pairs, [2]string{k, e.Detail[k]})
	}
	b, err := json.Marshal([]any{e.Seq, e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.Action, e.Subject, e.RequestID, pairs, e.PrevHash})
	if err != nil {
		panic("audit: encode entry: " + err.Error()) // strings and integers always encode
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Filter selects entries of a tenant's trail, newest first.
type Filter struct {
	// Subject is a pseudonym; RequestID a request's id. Either, both or neither.
	Subject   string
	RequestID string
	Limit     int
	// Cursor continues the page before (the table's cursor: the HTTP layer seals it).
	Cursor string
}

// maxScanned bounds the entries one page reads when both filters are set and only one is
// served by an index: the page may then hold fewer than Limit entries and a cursor.
const maxScanned = 1000

// List returns one page of entries, newest first, and the cursor of the next page ("" on the
// last). With one filter it reads one index partition; with both, it reads the request's
// entries and keeps the subject's. Errors: table.ErrBadCursor.
func (l Log) List(ctx context.Context, tenant string, f Filter) ([]Entry, string, error) {
	if f.Limit < 1 || f.Limit > maxScanned {
		return nil, "", fmt.Errorf("audit: list of %d entries", f.Limit)
	}
	q := table.Query{PK: logPK(tenant), To: lastSeqKey, Desc: true, Cursor: f.Cursor}
	switch {
	case f.RequestID != "":
		q = table.Query{Index: indexRequest, PK: requestPK(tenant, f.RequestID), Desc: true, Cursor: f.Cursor}
	case f.Subject != "":
		q = table.Query{Index: indexSubject, PK: subjectPK(tenant, f.Subject), Desc: true, Cursor: f.Cursor}
	}
	entries := []Entry{}
	for scanned := 0; ; {
		q.Limit = f.Limit - len(entries)
		page, err := l.Table.Query(ctx, q)
		if err != nil {
			return nil, "", fmt.Errorf("audit: list: %w", err)
		}
		scanned += len(page.Items)
		for _, it := range page.Items {
			var s stored
			if err := it.Decode(&s); err != nil {
				return nil, "", err
			}
			if f.Subject == "" || s.Subject == f.Subject {
				entries = append(entries, s.Entry)
			}
		}
		if page.Next == "" || len(entries) == f.Limit || scanned >= maxScanned {
			return entries, page.Next, nil
		}
		q.Cursor = page.Next
	}
}

// Verification is the result of checking a chain.
type Verification struct {
	OK bool `json:"ok"`
	// Entries is how many entries were read.
	Entries int64 `json:"entries"`
	// BrokenSeq is the first position whose entry is missing, altered, or does not follow
	// the one before; 0 when OK.
	BrokenSeq int64 `json:"broken_seq,omitempty"`
}

// verifyPage is how many entries Verify reads per query.
const verifyPage = 1000

// Verify reads the tenant's whole chain, oldest first, and checks each entry's hash, its link
// to the entry before, that no position is missing, and that the head names the last entry
// (so that removing the newest entries shows too). Its cost grows with the chain: one query
// per 1,000 entries and one read.
func (l Log) Verify(ctx context.Context, tenant string) (Verification, error) {
	var v Verification
	prev := ""
	q := table.Query{PK: logPK(tenant), To: lastSeqKey, Limit: verifyPage}
	for {
		page, err := l.Table.Query(ctx, q)
		if err != nil {
			return Verification{}, fmt.Errorf("audit: verify: %w", err)
		}
		for _, it := range page.Items {
			v.Entries++
			var e Entry
			if err := it.Decode(&e); err != nil || it.SK != seqKey(e.Seq) {
				return broken(v, v.Entries), nil
			}
			switch {
			case e.Seq != v.Entries:
				// An entry before this one was removed.
				return broken(v, v.Entries), nil
			case e.PrevHash != prev, e.digest() != e.Hash:
				return broken(v, e.Seq), nil
			}
			prev = e.Hash
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	var h head
	it, err := l.Table.Get(ctx, headKey(tenant))
	switch {
	case errors.Is(err, table.ErrNotFound):
	case err != nil:
		return Verification{}, fmt.Errorf("audit: verify: %w", err)
	default:
		if err := it.Decode(&h); err != nil {
			return broken(v, v.Entries+1), nil
		}
	}
	if h.Seq != v.Entries || h.Hash != prev {
		// The newest entries were removed (or the head was altered).
		return broken(v, v.Entries+1), nil
	}
	v.OK = true
	return v, nil
}

func broken(v Verification, seq int64) Verification {
	v.OK, v.BrokenSeq = false, seq
	return v
}
