// Package bouncesfn is BouncesFunction: SES's bounce events, from the configuration set every
// message goes through, mark each address that bounced permanently as undeliverable in the
// tenant the message was sent for (internal/bounces), so that no further mail goes to it.
package bouncesfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/example/gdpr/internal/bounces"
	"github.com/example/gdpr/internal/lambdamain"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/ports"
	"github.com/example/gdpr/internal/tenant"
)

// detail is the part of SES's "Email Bounced" event read here.
type detail struct {
	EventType string `json:"eventType"`
	Bounce    struct {
		BounceType        string `json:"bounceType"`
		BounceSubType     string `json:"bounceSubType"`
		BouncedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Mail struct {
		Tags map[string][]string `json:"tags"`
	} `json:"mail"`
}

// Result is what one event did: counts only, never an address.
type Result struct {
	// Marked counts the recipients marked (or marked already).
	Marked int `json:"marked"`
	// Ignored names why nothing was marked: "not_permanent" (a transient bounce, or not a
	// bounce), "no_tenant" (a message sent for no tenant), "bad_tenant"; empty otherwise.
	Ignored string `json:"ignored,omitempty"`
	// Invalid counts recipients that are no plain email address (nothing to mark).
	Invalid int `json:"invalid,omitempty"`
}

// New builds the handler on p's table, secret and clock.
func New(p *ports.Ports) (lambdamain.EventHandler, error) {
	if p.Table == nil || !p.Secrets.Ready() {
		return nil, errors.New("bouncesfn: needs the table and the master secret")
	}
	store := bounces.Store{Table: p.Table, Secrets: p.Secrets}
	return func(ctx context.Context, ev lambdamain.EventBridgeEvent) (json.RawMessage, error) {
		res, err := handle(ctx, store, p, ev)
		if err != nil {
			return nil, err
		}
		return json.Marshal(res)
	}, nil
}

func handle(ctx context.Context, store bounces.Store, p *ports.Ports, ev lambdamain.EventBridgeEvent) (Result, error) {
	var d detail
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		return Result{}, fmt.Errorf("bouncesfn: event detail: %w", err)
	}
	// The rule's pattern sends only permanent bounces; this is the rule itself, so that any
	// event given to gdprd invoke is treated as in AWS.
	if ev.Source != "aws.ses" || d.EventType != "Bounce" || d.Bounce.BounceType != "Permanent" {
		return Result{Ignored: "not_permanent"}, nil
	}
	tags := d.Mail.Tags[mail.TenantTag]
	if len(tags) == 0 || tags[0] == "" {
		return Result{Ignored: "no_tenant"}, nil
	}
	tenantID := tags[0]
	if tenant.ValidateID(tenantID) != nil {
		return Result{Ignored: "bad_tenant"}, nil
	}
	var res Result
	now := p.Clock.Now()
	for _, r := range d.Bounce.BouncedRecipients {
		err := store.Mark(ctx, tenantID, r.EmailAddress, d.Bounce.BounceSubType, now)
		if errors.Is(err, bounces.ErrInvalidAddress) {
			res.Invalid++
			continue
		}
		if err != nil {
			return Result{}, err
		}
		res.Marked++
	}
	return res, nil
}
