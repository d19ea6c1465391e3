package idempotency_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/idempotency"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest"
)

func TestSQLite(t *testing.T) {
	run(t, func(t *testing.T) table.Table { return sqlitetest.MustOpen(t) })
}

func TestDynamo(t *testing.T) {
	srv := mototest.Start(t)
	db := dynamodb.NewFromConfig(srv.Config(t))
	def := tabletest.Def(t)
	var n atomic.Int64
	run(t, func(t *testing.T) table.Table {
		name := fmt.Sprintf("idem-%d", n.Add(1))
		if err := dynamo.CreateTable(t.Context(), db, name, def); err != nil {
			t.Fatal(err)
		}
		return dynamo.New(db, name, def)
	})
}

var start = time.Date(2026, 11, 28, 16, 47, 0, 0, time.UTC)

func run(t *testing.T, open func(t *testing.T) table.Table) {
	t.Run("ReserveKeepReplay", func(t *testing.T) {
		tbl := open(t)
		s, _ := newStore(t, tbl)
		ctx := t.Context()
		res, kept, err := s.Reserve(ctx, "acme", "k1", []byte("POST /v1/x\x00"), []byte(`{"a":1}`))
		if err != nil || res == nil || kept != nil {
			t.Fatalf("first Reserve = %v, %v, %v; want a reservation", res, kept, err)
		}
		// A second call while the first runs is told to retry.
		if _, _, err := s.Reserve(ctx, "acme", "k1", []byte("POST /v1/x\x00"), []byte(`{"a":1}`)); !errors.Is(err, idempotency.ErrBusy) {
			t.Fatalf("Reserve while pending = %v; want ErrBusy", err)
		}
		if err := res.Keep(ctx, idempotency.Answer{Status: 201, Headers: map[string]string{"Location": "/v1/x/1"}, Body: `{"token":"secret-token"}`}); err != nil {
			t.Fatal(err)
		}
		// The same request (split differently: the fingerprint is of the bytes) replays.
		_, kept, err = s.Reserve(ctx, "acme", "k1", []byte("POST /v1/x\x00{\"a\":1}"))
		if err != nil || kept == nil || kept.Status != 201 || kept.Body != `{"token":"secret-token"}` || kept.Headers["Location"] != "/v1/x/1" {
			t.Fatalf("replay = %+v, %v", kept, err)
		}
		if _, _, err := s.Reserve(ctx, "acme", "k1", []byte("POST /v1/x\x00"), []byte(`{"a":2}`)); !errors.Is(err, idempotency.ErrReused) {
			t.Fatalf("Reserve with another request = %v; want ErrReused", err)
		}
		// Keys are per tenant.
		if res, _, err := s.Reserve(ctx, "beta", "k1", []byte("POST /v1/x\x00"), []byte(`{"a":2}`)); err != nil || res == nil {
			t.Fatalf("Reserve on another tenant = %v, %v; want a reservation", res, err)
		}
		// Stored: the key as a hash only, the answer sealed.
		page, err := tbl.Query(ctx, table.Query{Index: "Expiry", PK: expiry.DayPK("acme", start.Add(idempotency.TTL))})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("expiry index holds %d records, %v; want 1", len(page.Items), err)
		}
		it, err := tbl.Get(ctx, page.Items[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(it.PK, "k1") || strings.Contains(string(it.Data), "secret-token") {
			t.Fatalf("the record shows the key or the answer: %s %s", it.PK, it.Data)
		}
	})

	t.Run("ReleaseLetsTheRetryRun", func(t *testing.T) {
		s, _ := newStore(t, open(t))
		ctx := t.Context()
		res, _, err := s.Reserve(ctx, "acme", "k1", []byte("r"))
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if res, _, err := s.Reserve(ctx, "acme", "k1", []byte("r")); err != nil || res == nil {
			t.Fatalf("Reserve after Release = %v, %v; want a reservation", res, err)
		}
	})

	t.Run("ExpiredIsTakenOver", func(t *testing.T) {
		s, clk := newStore(t, open(t))
		ctx := t.Context()
		res, _, err := s.Reserve(ctx, "acme", "k1", []byte("r"))
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Keep(ctx, idempotency.Answer{Status: 200, Body: "{}"}); err != nil {
			t.Fatal(err)
		}
		clk.Set(start.Add(idempotency.TTL + time.Second))
		if res, kept, err := s.Reserve(ctx, "acme", "k1", []byte("other")); err != nil || res == nil || kept != nil {
			t.Fatalf("Reserve of an expired key = %v, %v, %v; want a reservation", res, kept, err)
		}
	})

	t.Run("KeyTooLong", func(t *testing.T) {
		s, _ := newStore(t, open(t))
		_, _, err := s.Reserve(t.Context(), "acme", strings.Repeat("k", idempotency.MaxKey+1), []byte("r"))
		if e, ok := apperr.From(err); !ok || e.Code != apperr.CodeValidation || e.Fields[0].Field != "Idempotency-Key" {
			t.Fatalf("Reserve = %v; want validation_failed on Idempotency-Key", err)
		}
	})
}

func newStore(t *testing.T, tbl table.Table) (*idempotency.Store, *clock.Settable) {
	t.Helper()
	m, err := secrets.New([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock.Settable{}
	clk.Set(start)
	return idempotency.New(tbl, clk, m), clk
}
