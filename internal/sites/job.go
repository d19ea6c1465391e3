package sites

import (
	"context"
	"errors"
	"time"

	"github.com/example/gdpr/internal/table"
)

// Report says what one run of the deliveries job did.
type Report struct {
	Attempted int `json:"attempted"`
	Confirmed int `json:"confirmed"`
	Failed    int `json:"failed"`
	// Rechecked counts the requests asked again to go on after their deliveries settled.
	Rechecked int `json:"rechecked"`
	// More is true when the run stopped before reaching every due delivery (its budget).
	More bool `json:"more"`
}

// Budget bounds one run, so that it ends well inside its function's timeout: at most
// MaxAttempts calls, and no call started within Reserve of the context's deadline.
type Budget struct {
	MaxAttempts int
	Reserve     time.Duration
}

// DefaultBudget suits a job function with a timeout of a few minutes.
var DefaultBudget = Budget{MaxAttempts: 200, Reserve: CallTimeout + 5*time.Second}

func (b Budget) spent(ctx context.Context, attempted int) bool {
	if attempted >= b.MaxAttempts {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < b.Reserve
}

// Due attempts every delivery of the tenant that is due now, reading the deliveries' queue
// by time (since: the tenant's creation, where the first walk starts), and asks again the
// requests whose deliveries settled while their work still ran. It adds what it did to rep.
func (s *Service) Due(ctx context.Context, tenant string, since time.Time, b Budget, rep *Report) error {
	now := s.Clock.Now()
	_, err := Queue.Walk(ctx, s.Table, tenant, since, now, func(ctx context.Context, k table.Key) (bool, error) {
		if b.spent(ctx, rep.Attempted) {
			rep.More = true
			return false, nil
		}
		it, err := s.Table.Get(ctx, k)
		if errors.Is(err, table.ErrNotFound) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		var d delivery
		if err := it.Decode(&d); err != nil {
			return false, err
		}
		switch {
		case d.NextAt == nil || d.NextAt.After(now):
			return true, nil // moved on since the index was read
		case d.State == Pending:
			rep.Attempted++
			state, err := s.attempt(ctx, k, d, it.Version)
			switch state {
			case Confirmed:
				rep.Confirmed++
			case Failed:
				rep.Failed++
			}
			return err == nil, err
		case d.Wake:
			rep.Rechecked++
			return true, s.settled(ctx, k, d, it.Version)
		}
		return true, nil
	})
	return err
}
