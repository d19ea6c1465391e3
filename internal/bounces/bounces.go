// Package bounces owns the mark of an address that bounced permanently: once SES reports a
// permanent bounce (BouncesFunction), no further mail goes to that address in that tenant.
// The mark is the item BOUNCE beside the address's email lookup (T#{t}#E#{hmac(email)}):
// keyed by the keyed hash, it holds no address.
package bounces

import (
	"context"
	"errors"
	"time"

	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
)

const skBounce = "BOUNCE"

// ErrInvalidAddress is an address that is no plain email address: it cannot be marked.
var ErrInvalidAddress = errors.New("bounces: not a plain email address")

// Store reads and writes the marks.
type Store struct {
	Table   table.Table
	Secrets secrets.Master
}

type mark struct {
	// Reason is the transport's classification (e.g. SES's bounce subtype), never its text,
	// which can quote the address.
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

func (s Store) key(tenantID, email string) (table.Key, error) {
	email, err := subject.NormalizeEmail(email)
	if err != nil {
		return table.Key{}, ErrInvalidAddress
	}
	return table.Key{PK: subject.EmailKey(s.Secrets, tenantID, email).PK, SK: skBounce}, nil
}

// Mark marks email undeliverable in tenant. The first mark stays: marking again (the same
// report delivered twice, or a later bounce) changes nothing.
func (s Store) Mark(ctx context.Context, tenantID, email, reason string, at time.Time) error {
	k, err := s.key(tenantID, email)
	if err != nil {
		return err
	}
	it, err := table.NewItem(k, 0, mark{Reason: reason, At: at.UTC()})
	if err != nil {
		return err
	}
	err = s.Table.Put(ctx, it, table.Cond{Kind: table.IfAbsent})
	if errors.Is(err, table.ErrConflict) {
		return nil
	}
	return err
}

// Erase deletes the mark of email in tenant, if any: an erased subject's address leaves no
// trace, not even a keyed one. An address that is no plain email address has no mark.
func (s Store) Erase(ctx context.Context, tenantID, email string) error {
	k, err := s.key(tenantID, email)
	if err != nil {
		return nil
	}
	return s.Table.Delete(ctx, k, table.Cond{Kind: table.Always})
}

// IsBounced tells whether email is marked undeliverable in tenant.
func (s Store) IsBounced(ctx context.Context, tenantID, email string) (bool, error) {
	k, err := s.key(tenantID, email)
	if err != nil {
		return false, err
	}
	_, err = s.Table.Get(ctx, k)
	if errors.Is(err, table.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Guard makes p's mail refuse, with mail.ErrUndeliverable, a message to an address marked in
// the message's tenant. Both homes call it last, once the table and the secret are built; a
// function without mail, or without the table, is left as it is.
func Guard(p *ports.Ports) {
	if p.Mail == nil || p.Table == nil || !p.Secrets.Ready() {
		return
	}
	p.Mail = guarded{next: p.Mail, store: Store{Table: p.Table, Secrets: p.Secrets}}
}

type guarded struct {
	next  mail.Sender
	store Store
}

// Unwrap returns the sender it guards: the transport the home built.
func (g guarded) Unwrap() mail.Sender { return g.next }

func (g guarded) Send(ctx context.Context, m mail.Message) (string, error) {
	if m.Tenant != "" {
		bounced, err := g.store.IsBounced(ctx, m.Tenant, m.To)
		if err != nil && !errors.Is(err, ErrInvalidAddress) { // the sender refuses those itself
			return "", err
		}
		if bounced {
			return "", mail.ErrUndeliverable
		}
	}
	return g.next.Send(ctx, m)
}
