package consent

import (
	"context"
	"errors"
	"time"

	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
)

// Erasure (Art. 17) of what this package owns in a subject's partition: the consent state,
// the device observations and the consent ledger. Each method is one resumable, idempotent
// step: run again after a crash, it finishes what is left and does nothing twice. The
// fulfilment of an erasure request (internal/rights) calls them in order.
//
// The ledger is proof of past consent (Art. 7(1)) and is kept: its entries move out of the
// subject's partition, whose key names the subject, into the pseudonym's (ErasedPK), without
// their evidence (address, user agent, locale). Each entry's hash covers the pseudonym and a
// salted digest of the evidence, never the evidence itself nor the subject id, so the moved
// chain still verifies (Verify); the chain's last position moves with it (ErasedHead), so
// that removing its newest entries shows too.

// eraseBatch is how many items one erasing transaction writes: table.MaxTransactItems.
const eraseBatch = table.MaxTransactItems

// erasePage is how many items one query of an erasing step reads.
const erasePage = 100

// ErasedPK is the partition that keeps an erased subject's consent ledger under its pseudonym:
// entries under their original sort keys (CONSENT#{time}#{seq}), and one ErasedHead per
// erasure. A subject who consents again after an erasure starts a new chain at seq 1 in its own
// partition; a later erasure moves that one here too, after the first (times never go back).
func ErasedPK(tenantID, pseudonym string) string { return "T#" + tenantID + "#P#" + pseudonym }

// skErasedHeadPrefix starts the sort keys of ErasedHead items: HEAD#{request id}.
const skErasedHeadPrefix = "HEAD#"

// ErasedHead is the last position of a chain at its erasure: the seq and hash the deleted
// consent state named, and the request that erased it.
type ErasedHead struct {
	Subject   string    `json:"subject"`
	Seq       int64     `json:"seq"`
	Hash      string    `json:"hash"`
	RequestID string    `json:"request_id"`
	ErasedAt  time.Time `json:"erased_at"`
}

// CloseGate marks the subject's consent state erased, the first step of an erasure: from now
// on the login gate and History answer ErrNotFound and no new profile or device data is taken
// in, while the rest is erased. A decision recorded meanwhile (Record) starts the subject
// afresh; the steps after this one erase it too. It reports whether there was a state;
// marking an erased subject again writes nothing.
func (s *Service) CloseGate(ctx context.Context, tenantID, subjectID string) (bool, error) {
	found := false
	err := table.Retry(ctx, func() error {
		st, version, err := s.state(ctx, tenantID, subjectID)
		if errors.Is(err, ErrNotFound) {
			found = false
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		if st.Erased {
			return nil
		}
		st.Erased, st.UpdatedAt = true, s.clock.Now()
		it, err := table.NewItem(subject.Key(tenantID, subjectID, subject.SKConsent), version, st)
		if err != nil {
			return err
		}
		return s.put(ctx, it, version)
	})
	return found, err
}

// EraseDevices deletes the subject's device observations, a page at a time, in transactions
// of up to table.MaxTransactItems deletes, and returns how many it deleted. Its memory does
// not grow with the number of observations; its time grows linearly with it. A run stopped
// part-way leaves only observations not yet deleted, which the next run deletes.
func (s *Service) EraseDevices(ctx context.Context, tenantID, subjectID string) (int, error) {
	return s.erasePrefix(ctx, tenantID, subjectID, subject.SKDevicePrefix, func(it table.Item) ([]table.Write, error) {
		return []table.Write{table.Delete(it.Key, table.Cond{})}, nil
	})
}

// MoveLedger moves the subject's consent ledger to its pseudonym's partition (ErasedPK),
// without the evidence, and returns how many entries it moved. Each entry is put under its
// original sort key and deleted from the subject's partition in one transaction, so a run
// stopped part-way leaves every entry in exactly one of the two places.
func (s *Service) MoveLedger(ctx context.Context, tenantID, subjectID string) (int, error) {
	pk := ErasedPK(tenantID, subject.Pseudonym(s.secrets, tenantID, subjectID))
	return s.erasePrefix(ctx, tenantID, subjectID, subject.SKLedgerPrefix, func(it table.Item) ([]table.Write, error) {
		var e Entry
		if err := it.Decode(&e); err != nil {
			return nil, err
		}
		e.Evidence = nil // the salt and digest stay: the hash covers them
		moved, err := table.NewItem(table.Key{PK: pk, SK: it.Key.SK}, 0, e)
		if err != nil {
			return nil, err
		}
		// Always: a replay after a crash between this transaction and the step's record
		// finds the entry gone from the subject's partition; an earlier copy is identical.
		return []table.Write{table.Put(moved, table.Cond{}), table.Delete(it.Key, table.Cond{})}, nil
	})
}

// erasePrefix pages through the subject's items under prefix and commits the writes each
// item needs, filling transactions up to eraseBatch writes. It follows the query's cursor
// within a run, so each item is read once; a new run starts again from what is left.
func (s *Service) erasePrefix(ctx context.Context, tenantID, subjectID, prefix string, writes func(table.Item) ([]table.Write, error)) (int, error) {
	q := table.Query{PK: subject.PK(tenantID, subjectID), Prefix: prefix, Limit: erasePage}
	n := 0
	var batch []table.Write
	items := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.table.Transact(ctx, batch); err != nil {
			return err
		}
		n += items
		batch, items = batch[:0], 0
		return nil
	}
	for {
		page, err := s.table.Query(ctx, q)
		if err != nil {
			return n, err
		}
		for _, it := range page.Items {
			ws, err := writes(it)
			if err != nil {
				return n, err
			}
			if len(batch)+len(ws) > eraseBatch {
				if err := flush(); err != nil {
					return n, err
				}
			}
			batch = append(batch, ws...)
			items++
		}
		if page.Next == "" {
			return n, flush()
		}
		q.Cursor = page.Next
	}
}

// EraseState deletes the subject's consent state once its ledger has moved (MoveLedger), and
// keeps the chain's last position beside the moved entries (ErasedHead, under the request's
// id), in one transaction conditional on the state read: a decision recorded since the move
// (its entry would still be in the subject's partition) makes the step move it too first. It
// reports whether there was a state.
func (s *Service) EraseState(ctx context.Context, tenantID, subjectID, requestID string) (bool, error) {
	pseudonym := subject.Pseudonym(s.secrets, tenantID, subjectID)
	found := false
	err := table.Retry(ctx, func() error {
		st, version, err := s.state(ctx, tenantID, subjectID)
		if errors.Is(err, ErrNotFound) {
			found = false
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		if _, err := s.MoveLedger(ctx, tenantID, subjectID); err != nil {
			return err
		}
		ws := []table.Write{table.Delete(subject.Key(tenantID, subjectID, subject.SKConsent), table.VersionIs(version))}
		if st.Seq > 0 {
			h, err := table.NewItem(table.Key{PK: ErasedPK(tenantID, pseudonym), SK: skErasedHeadPrefix + requestID}, 0, ErasedHead{
				Subject: pseudonym, Seq: st.Seq, Hash: st.LastHash, RequestID: requestID, ErasedAt: s.clock.Now().UTC(),
			})
			if err != nil {
				return err
			}
			ws = append(ws, table.Put(h, table.Cond{}))
		}
		return s.transact(ctx, ws, nil)
	})
	return found, err
}

// ErasedLedger returns the moved ledger of a pseudonym, oldest entry first, and the heads of
// its erasures, for an auditor to check with Verify (one chain per head, split where seq
// starts again at 1). It reads the whole partition: a check, not a request path.
func (s *Service) ErasedLedger(ctx context.Context, tenantID, pseudonym string) ([]Entry, []ErasedHead, error) {
	var entries []Entry
	var heads []ErasedHead
	q := table.Query{PK: ErasedPK(tenantID, pseudonym), Limit: erasePage}
	for {
		page, err := s.table.Query(ctx, q)
		if err != nil {
			return nil, nil, err
		}
		for _, it := range page.Items {
			switch {
			case len(it.Key.SK) > len(skErasedHeadPrefix) && it.Key.SK[:len(skErasedHeadPrefix)] == skErasedHeadPrefix:
				var h ErasedHead
				if err := it.Decode(&h); err != nil {
					return nil, nil, err
				}
				heads = append(heads, h)
			default:
				var e Entry
				if err := it.Decode(&e); err != nil {
					return nil, nil, err
				}
				entries = append(entries, e)
			}
		}
		if page.Next == "" {
			return entries, heads, nil
		}
		q.Cursor = page.Next
	}
}

// put writes an item read at version; a lost race is errRetry.
func (s *Service) put(ctx context.Context, it table.Item, version int64) error {
	err := s.table.Put(ctx, it, table.VersionIs(version))
	if errors.Is(err, table.ErrConflict) {
		return table.ErrRetry
	}
	return err
}
