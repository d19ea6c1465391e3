package export

import (
	"context"
	"fmt"
	"time"

	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/fulfilment"
	"github.com/example/gdpr/internal/objects"
)

// Steps of an export, as the request's timeline names them.
const (
	StepNoData   = "no_data_sent"
	StepStored   = "package_stored"
	StepRecorded = "export_recorded"
	StepLinkSent = "link_sent"
)

// Exporter is the fulfilment work of access and portability requests.
type Exporter struct {
	Builder  *Builder
	Objects  objects.Store
	Records  Records
	Links    Links
	Tenants  dsr.Tenants
	Requests *dsr.Service
}

// Work builds and stores the package, records it, and emails the link; a request about no
// known subject gets the no_data email instead. Each step is idempotent: storing again
// replaces the object with an equal one, the record is put again, and the email is the one
// step a crash can repeat (between sending and recording it).
func (e *Exporter) Work(ctx context.Context, j *fulfilment.Job) error {
	r := j.Request
	if r.Type != dsr.Access && r.Type != dsr.Portability {
		return fulfilment.Permanent("not an access or portability request", fmt.Errorf("type %s", r.Type))
	}
	if r.SubjectID == "" {
		return j.Step(ctx, StepNoData, func(ctx context.Context) (string, error) {
			return "", e.Requests.Tell(ctx, j.Request, "no_data", dsr.Notice{})
		})
	}
	t, err := e.Tenants.Get(ctx, r.Tenant)
	if err != nil {
		return err
	}
	err = j.Step(ctx, StepStored, func(ctx context.Context) (string, error) {
		held, size, err := e.Builder.Store(ctx, e.Objects, t, j.Request)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d bytes: %d device observations, %d consent entries, %d requests",
			size, held[catDevices], held[catLedger], held[catRequest]), nil
	})
	if err != nil {
		return err
	}
	err = j.Step(ctx, StepRecorded, func(ctx context.Context) (string, error) {
		now := e.Builder.Clock.Now().UTC().Truncate(time.Second)
		rec := Record{RequestID: r.ID, Type: r.Type, ObjectKey: ObjectKey(t.ID, r.ID), CreatedAt: now, ExpiresAt: now.Add(t.ExportLife())}
		if err := e.Records.Put(ctx, t.ID, rec); err != nil {
			return "", err
		}
		return "link expires " + rec.ExpiresAt.Format(time.RFC3339), nil
	})
	if err != nil {
		return err
	}
	return j.Step(ctx, StepLinkSent, func(ctx context.Context) (string, error) {
		rec, err := e.Records.Get(ctx, t.ID, r.ID)
		if err != nil {
			return "", err
		}
		n := dsr.Notice{DownloadURL: e.Links.URL(t.ID, r.ID, rec.ExpiresAt), DownloadExpiresAt: rec.ExpiresAt}
		return "", e.Requests.Tell(ctx, j.Request, "export_ready", n)
	})
}
