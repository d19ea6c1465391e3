package consent

import (
	"context"

	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
)

// ExportPage is how many items one read of EachDevice or EachEntry holds: the memory an
// export of a subject needs, whatever the subject's size, is about one page of items.
const ExportPage = 500

// EachDevice calls fn with each of the subject's device observations, oldest seen first,
// reading one page of ExportPage items at a time; it stops at fn's first error. Observations
// past their retention that the engine has not deleted yet are left out. An erased subject
// or one never seen has none.
func (s *Service) EachDevice(ctx context.Context, tenantID, subjectID string, fn func(StoredDevice) error) error {
	now := s.clock.Now()
	return s.each(ctx, tenantID, subjectID, subject.SKDevicePrefix, func(it table.Item) error {
		var d StoredDevice
		if err := it.Decode(&d); err != nil {
			return err
		}
		if d.Expired(now) {
			return nil
		}
		return fn(d)
	})
}

// EachEntry calls fn with each entry of the subject's consent ledger, in chain order, one
// page of ExportPage entries at a time; it stops at fn's first error.
func (s *Service) EachEntry(ctx context.Context, tenantID, subjectID string, fn func(Entry) error) error {
	return s.each(ctx, tenantID, subjectID, subject.SKLedgerPrefix, func(it table.Item) error {
		var e Entry
		if err := it.Decode(&e); err != nil {
			return err
		}
		return fn(e)
	})
}

// RecentDevices returns at most n of the subject's newest device observations, newest first.
func (s *Service) RecentDevices(ctx context.Context, tenantID, subjectID string, n int) ([]StoredDevice, error) {
	if subject.ValidateID(subjectID) != nil {
		return nil, nil
	}
	page, err := s.table.Query(ctx, table.Query{PK: subject.PK(tenantID, subjectID), Prefix: subject.SKDevicePrefix, Desc: true, Limit: n})
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	out := make([]StoredDevice, 0, len(page.Items))
	for _, it := range page.Items {
		var d StoredDevice
		if err := it.Decode(&d); err != nil {
			return nil, err
		}
		if !d.Expired(now) {
			out = append(out, d)
		}
	}
	return out, nil
}

// each pages through the items of the subject's partition whose sort keys start with prefix.
func (s *Service) each(ctx context.Context, tenantID, subjectID, prefix string, fn func(table.Item) error) error {
	if subject.ValidateID(subjectID) != nil {
		return nil
	}
	q := table.Query{PK: subject.PK(tenantID, subjectID), Prefix: prefix, Limit: ExportPage}
	for {
		page, err := s.table.Query(ctx, q)
		if err != nil {
			return err
		}
		for _, it := range page.Items {
			if err := fn(it); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		q.Cursor = page.Next
	}
}
