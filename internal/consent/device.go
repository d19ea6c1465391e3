package consent

import (
	"context"
	"fmt"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
)

// maxClockSkew is how far in the future a site's seen_at may be: its clock and ours differ.
const maxClockSkew = 5 * time.Minute

// KindDevices names device observations on the expiry index.
const KindDevices = "devices"

// Device is one device observation for risk-based authentication, as a site sends it. Every
// field but SeenAt is personal data (or may be): stored, exported, never logged.
type Device struct {
	IP          string `json:"ip,omitempty"`
	Location    string `json:"location,omitempty"`
	Browser     string `json:"browser,omitempty"`
	DeviceType  string `json:"device_type,omitempty"`
	Language    string `json:"language,omitempty"`
	UserAgent   string `json:"user_agent,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// SeenAt is when the device was seen; zero means when received.
	SeenAt time.Time `json:"seen_at,omitzero"`
}

// Validate checks the observation's form. Errors: validation_failed.
func (d *Device) Validate() error {
	var fs []apperr.FieldError
	if d.IP != "" && !validIP(d.IP) {
		fs = append(fs, apperr.FieldError{Field: "ip", Message: "must be an IPv4 or IPv6 address"})
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{{"location", d.Location, 200}, {"browser", d.Browser, 100}, {"device_type", d.DeviceType, 32}, {"user_agent", d.UserAgent, 1024}, {"fingerprint", d.Fingerprint, 256}} {
		if !subject.PlainText(f.value, f.max) {
			fs = append(fs, apperr.FieldError{Field: f.name, Message: fmt.Sprintf("must be at most %d characters, without control characters", f.max)})
		}
	}
	if len(d.Language) > 35 || (d.Language != "" && !validLocale.MatchString(d.Language)) {
		fs = append(fs, apperr.FieldError{Field: "language", Message: "must be a BCP 47 language tag of at most 35 characters"})
	}
	if *d == (Device{SeenAt: d.SeenAt}) {
		fs = append(fs, apperr.FieldError{Field: "body", Message: "must hold at least one field besides seen_at"})
	}
	if len(fs) > 0 {
		return apperr.Validation(fs...)
	}
	return nil
}

// StoredDevice is a device observation as kept: under DEV#{seen_at}#{id} in the subject's
// partition, with its TTL and its place on the expiry index for the retention job.
type StoredDevice struct {
	ID string `json:"id"`
	Device
	ReceivedAt time.Time `json:"received_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	expiry.Attrs
}

// DeviceReceipt answers a recorded observation.
type DeviceReceipt struct {
	ID        string    `json:"id"`
	SeenAt    time.Time `json:"seen_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// RecordDevice stores one device observation, kept for the tenant's device retention period
// counted from when the device was seen. It is refused, storing nothing, unless rba is granted,
// and while processing is restricted; the write is conditional on the consent state read.
// Errors: validation_failed (also for a seen_at in the future or already past retention),
// consent_required, ErrProcessingRestricted.
func (s *Service) RecordDevice(ctx context.Context, tenantID, subjectID string, d Device) (DeviceReceipt, error) {
	fs := idFields(subjectID)
	if err := d.Validate(); err != nil {
		e, _ := apperr.From(err)
		fs = append(fs, e.Fields...)
	}
	if len(fs) > 0 {
		return DeviceReceipt{}, apperr.Validation(fs...)
	}
	t, err := s.tenants.Get(ctx, tenantID)
	if err != nil {
		return DeviceReceipt{}, err
	}
	retention := t.DeviceRetention()
	now := s.clock.Now().UTC()
	if d.SeenAt.IsZero() {
		d.SeenAt = now
	}
	d.SeenAt = d.SeenAt.UTC()
	switch expires := d.SeenAt.Add(retention); {
	case d.SeenAt.After(now.Add(maxClockSkew)):
		return DeviceReceipt{}, apperr.Validation(apperr.FieldError{Field: "seen_at", Message: "must not be in the future"})
	case !expires.After(now):
		return DeviceReceipt{}, apperr.Validation(apperr.FieldError{Field: "seen_at", Message: "is older than the tenant's device retention period"})
	}

	id := secrets.NewID("dev_", secrets.IDBytes)
	key := subject.Key(tenantID, subjectID, subject.SKDevicePrefix+d.SeenAt.Format(ledgerTime)+"#"+id)
	stored := StoredDevice{ID: id, Device: d, ReceivedAt: now, ExpiresAt: d.SeenAt.Add(retention)}
	stored.Attrs = expiry.At(tenantID, KindDevices, key, stored.ExpiresAt)
	it, err := table.NewItem(key, 0, stored)
	if err != nil {
		return DeviceReceipt{}, err
	}
	err = table.Retry(ctx, func() error {
		st, version, err := s.admit(ctx, tenantID, subjectID, PurposeRBA)
		if err != nil {
			return err
		}
		sw, err := stateWrite(st, version, t, now)
		if err != nil {
			return err
		}
		return s.transact(ctx, []table.Write{sw, table.Put(it, table.Cond{Kind: table.IfAbsent})}, nil)
	})
	if err != nil {
		return DeviceReceipt{}, err
	}
	return DeviceReceipt{ID: id, SeenAt: d.SeenAt, ExpiresAt: stored.ExpiresAt}, nil
}
