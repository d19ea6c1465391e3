package export_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/export"
	"github.com/example/gdpr/internal/export/exporttest"
	"github.com/example/gdpr/internal/files"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/objects"
	"github.com/example/gdpr/internal/outbox"
	s3store "github.com/example/gdpr/internal/s3"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest"
	"github.com/example/gdpr/internal/tenant"
)

// home is one home's table and object store.
type home struct {
	table   table.Table
	objects objects.Store
}

func TestSQLite(t *testing.T) {
	run(t, func(t *testing.T) home {
		st, err := files.New(t.TempDir(), "http://127.0.0.1:1", make([]byte, 32), clock.System{})
		if err != nil {
			t.Fatal(err)
		}
		return home{table: sqlitetest.MustOpen(t), objects: st}
	})
}

func TestAWS(t *testing.T) {
	srv := mototest.Start(t)
	cfg := srv.Config(t)
	db := dynamodb.NewFromConfig(cfg)
	s3 := awss3.NewFromConfig(cfg, func(o *awss3.Options) { o.UsePathStyle = true })
	def := tabletest.Def(t)
	n := 0
	run(t, func(t *testing.T) home {
		n++
		name := fmt.Sprintf("export-%d", n)
		if err := dynamo.CreateTable(t.Context(), db, name, def); err != nil {
			t.Fatal(err)
		}
		if _, err := s3.CreateBucket(t.Context(), &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		return home{table: dynamo.New(db, name, def), objects: s3store.New(s3, name, "")}
	})
}

// world is a tenant with one subject and the services that hold its data.
type world struct {
	home
	builder *export.Builder
	tenant  tenant.Tenant
	fixture exporttest.Fixture
	request func(t *testing.T, typ dsr.Type) dsr.Request
}

func newWorld(t *testing.T, h home) world {
	ctx := context.Background()
	clk := clock.System{}
	master, err := secrets.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	tenants := tenant.Store{Table: h.table, Clock: clk}
	ten, _, err := tenants.Create(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	mailer, err := outbox.New(filepath.Join(t.TempDir(), "outbox"), "no-reply@example.org", clk)
	if err != nil {
		t.Fatal(err)
	}
	cs := consent.New(consent.Config{Table: h.table, Clock: clk, Secrets: master, Tenants: tenants})
	reqs := dsr.New(h.table, tenants, mailer, clk, master)
	f := exporttest.Fixture{
		Tenant: "acme", SubjectID: "u-42", FirstName: "Ann", Email: "ann@example.org",
		Question: "First pet?", Answer: "Rex the dog, 1999",
		FormulaLocation: "=HYPERLINK(1)", Markup: "<b>Fox</b>", FormulaUserAgent: "@SUM(1+1)",
		DeviceRetentionDays: 90, LinkDays: 7,
	}
	for i, ua := range []string{"Mozilla/5.0", f.FormulaUserAgent, "-1+2"} {
		_, err := cs.Record(ctx, "acme", consent.Decision{SubjectID: f.SubjectID, Email: f.Email, PolicyVersion: "2026-01",
			Purposes: map[string]bool{"terms": true, "rba": true, "marketing": i == 1}, Method: consent.MethodWebForm,
			Evidence: consent.Evidence{IP: "203.0.113.9", UserAgent: ua, Locale: "en"}})
		if err != nil {
			t.Fatal(err)
		}
		f.Decisions++
	}
	if _, err := cs.PutProfile(ctx, "acme", f.SubjectID, consent.ProfileInput{FirstName: f.FirstName, LastName: "Lee", Email: f.Email,
		Phone: "+44 20 7946 0000", SecurityQuestions: []consent.SecurityAnswer{{Question: f.Question, Answer: f.Answer}}}); err != nil {
		t.Fatal(err)
	}
	for i, d := range []consent.Device{
		{IP: "203.0.113.9", Location: "London, GB", Browser: "Firefox 146"},
		{IP: "2001:db8::1", Location: f.FormulaLocation, Browser: "Safari"},
		{IP: "198.51.100.7", Location: "+44 Leeds", Browser: f.Markup, Fingerprint: "-fp"},
	} {
		d.SeenAt = time.Now().Add(-time.Duration(i+1) * time.Hour)
		if _, err := cs.RecordDevice(ctx, "acme", f.SubjectID, d); err != nil {
			t.Fatal(err)
		}
		f.Devices++
	}
	w := world{home: h, tenant: ten, fixture: f, builder: &export.Builder{Consent: cs, Requests: reqs, Clock: clk}}
	w.request = func(t *testing.T, typ dsr.Type) dsr.Request {
		r, err := reqs.Submit(ctx, "acme", dsr.Input{Type: typ, SubjectID: f.SubjectID}, dsr.Caller{Actor: audit.ActorSite})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	return w
}

func (w world) read(t *testing.T, key string) map[string][]byte {
	t.Helper()
	rc, err := w.objects.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return exporttest.Unzip(t, b)
}

func run(t *testing.T, open func(t *testing.T) home) {
	ctx := context.Background()
	t.Run("Access", func(t *testing.T) {
		w := newWorld(t, open(t))
		r := w.request(t, dsr.Access)
		held, size, err := w.builder.Store(ctx, w.objects, w.tenant, r)
		if err != nil {
			t.Fatal(err)
		}
		if size <= 0 || held["devices"] != int64(w.fixture.Devices) {
			t.Fatalf("size %d, held %v", size, held)
		}
		f := w.fixture
		f.RequestID = r.ID
		exporttest.CheckAccess(t, w.read(t, export.ObjectKey("acme", r.ID)), f)
	})
	t.Run("Portability", func(t *testing.T) {
		w := newWorld(t, open(t))
		r := w.request(t, dsr.Portability)
		if _, _, err := w.builder.Store(ctx, w.objects, w.tenant, r); err != nil {
			t.Fatal(err)
		}
		f := w.fixture
		f.RequestID = r.ID
		exporttest.CheckPortability(t, w.read(t, export.ObjectKey("acme", r.ID)), f)
	})
	t.Run("FailedUploadLeavesNothing", func(t *testing.T) {
		w := newWorld(t, open(t))
		r := w.request(t, dsr.Access)
		broken := exporttest.FailingStore{Store: w.objects, After: 2000}
		if _, _, err := w.builder.Store(ctx, broken, w.tenant, r); !errors.Is(err, exporttest.ErrInjected) {
			t.Fatalf("Store through a failing upload: err = %v, want the injected failure", err)
		}
		if _, err := w.objects.Get(ctx, export.ObjectKey("acme", r.ID)); !errors.Is(err, objects.ErrNotFound) {
			t.Fatalf("after a failed upload: Get err = %v, want ErrNotFound", err)
		}
	})
}
