package requestsapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/example/gdpr/internal/handlers/requestsapi"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/sqlite"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest/tablecount"
)

// discard is a mail sender that sends nothing, to measure the service without the outbox's
// file writes.
type discard struct{}

func (discard) Send(_ context.Context, m mail.Message) (string, error) { return "", m.Validate() }

// costEnv is the requests function on SQLite behind a counting table.
type costEnv struct {
	*rqEnv
	count *tablecount.Table
	db    *sqlite.DB
}

func newCostEnv(tb testing.TB, sender mail.Sender) *costEnv {
	tb.Helper()
	db := sqlitetest.MustOpen(tb)
	count := tablecount.New(db)
	e := newRQEnv(tb, rqStore{table: count, feed: db})
	if sender != nil {
		e.ports.Mail = sender
		a, err := requestsapi.New(e.ports)
		if err != nil {
			tb.Fatal(err)
		}
		e.api = a.Handle
	}
	// Warm the function's key cache, as any call after an instance's first does: a cold cache
	// adds one get per key per httpapi.KeyCacheTTL. The site key on an admin route is
	// resolved, then refused.
	e.call(tb, e.admin(), rqList, url.Values{"limit": {"1"}}, "").want(tb, 200, "")
	e.call(tb, e.site(), rqList, url.Values{"limit": {"1"}}, "").want(tb, 403, "forbidden")
	return &costEnv{rqEnv: e, count: count, db: db}
}

// TestRequestsTableCost pins the table operations of each route (DESIGN.md: a fixed,
// documented number per operation). The public routes' first read is the HTTP layer's check
// that the tenant exists.
func TestRequestsTableCost(t *testing.T) {
	e := newCostEnv(t, nil)
	e.addSubject(t, "u-42", "known@example.org")
	// Warm the function's tenant cache, as any call after an instance's first does: a cold
	// cache adds one get of the tenant's settings per tenant.CacheTTL.
	e.call(t, e.anyone(), rqSubmit, nil, `{"type":"access","email":"warm@example.org"}`, e.tenant).want(t, 202, "")
	for _, c := range []struct {
		name string
		call func() rqResponse
		want tablecount.Counts
	}{
		// email lookup, 2 rate-limit counters, audit head;
		// one transaction: request, 2 counters, audit entry, audit head.
		{"SubmitUnknownEmail", func() rqResponse {
			return e.call(t, e.anyone(), rqSubmit, nil, `{"type":"access","email":"nobody@example.org"}`, e.tenant).want(t, 202, "")
		}, tablecount.Counts{Get: 4, Transact: 1, TransactWrites: 5}},
		// The same reads as an unknown email: nothing tells them apart.
		{"SubmitKnownEmail", func() rqResponse {
			return e.call(t, e.anyone(), rqSubmit, nil, `{"type":"access","email":"known@example.org"}`, e.tenant).want(t, 202, "")
		}, tablecount.Counts{Get: 4, Transact: 1, TransactWrites: 5}},
		// No rate limit: no counters.
		{"SubmitSite", func() rqResponse {
			return e.call(t, e.site(), rqSiteSubmit, nil, `{"type":"access","subject_id":"u-42"}`).want(t, 202, "")
		}, tablecount.Counts{Get: 2, Transact: 1, TransactWrites: 3}},
		// request; one conditional put.
		{"VerifyWrongCode", func() rqResponse {
			id, _ := e.submit(t, "wrong@example.org")
			e.count.Reset()
			return e.call(t, e.anyone(), rqVerify, nil, `{"code":"wrong"}`, e.tenant, id).want(t, 400, "invalid_code")
		}, tablecount.Counts{Get: 1, Put: 1}},
		// request, audit head; request, audit entry, audit head.
		{"Verify", func() rqResponse {
			id, code := e.submit(t, "right@example.org")
			e.count.Reset()
			return e.call(t, e.anyone(), rqVerify, nil, `{"code":"`+code+`"}`, e.tenant, id).want(t, 200, "")
		}, tablecount.Counts{Get: 2, Transact: 1, TransactWrites: 3}},
		{"Status", func() rqResponse {
			id, token := e.verified(t, "status@example.org")
			e.count.Reset()
			return e.call(t, caller{token: token}, rqStatus, nil, "", e.tenant, id).want(t, 200, "")
		}, tablecount.Counts{Get: 1}},
		{"ListFirstPage", func() rqResponse {
			return e.call(t, e.admin(), rqList, url.Values{"limit": {"50"}}, "").want(t, 200, "")
		}, tablecount.Counts{Query: 1}},
		// request, audit head; request, audit entry, audit head (holidays from the cache).
		{"Extend", func() rqResponse {
			id, _ := e.submit(t, "extend@example.org")
			e.count.Reset()
			return e.call(t, e.admin(), rqExtend, nil, `{"reason":"Busy."}`, id).want(t, 200, "")
		}, tablecount.Counts{Get: 2, Transact: 1, TransactWrites: 3}},
		{"Reject", func() rqResponse {
			id, _ := e.submit(t, "reject@example.org")
			e.count.Reset()
			return e.call(t, e.admin(), rqReject, nil, `{"reason":"excessive"}`, id).want(t, 200, "")
		}, tablecount.Counts{Get: 2, Transact: 1, TransactWrites: 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.count.Reset()
			c.call()
			if got := e.count.Counts(); got != c.want {
				t.Fatalf("table calls %s, want %s", got, c.want)
			}
		})
	}
}

// BenchmarkSubmit measures public submissions through the handler, in process, on SQLite:
// with the outbox (one file and fsync per email) and with mail discarded.
func BenchmarkSubmit(b *testing.B) {
	for _, m := range []struct {
		name   string
		sender mail.Sender
	}{{"mail=outbox", nil}, {"mail=discard", discard{}}} {
		b.Run(m.name, func(b *testing.B) {
			e := newCostEnv(b, m.sender)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				// Fresh email and address each time: the rate limits are not what is measured.
				c := caller{source: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}
				r := e.call(b, c, rqSubmit, nil, fmt.Sprintf(`{"type":"access","email":"p%d@example.org"}`, i), e.tenant)
				if r.status != 202 {
					b.Fatalf("answer %d %s", r.status, r.raw)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submissions/s")
			c := e.count.Counts()
			b.ReportMetric(float64(c.Get+c.Put+c.Delete+c.Transact+c.Query)/float64(b.N), "table-calls/op")
		})
	}
}

// seedRequests stores n requests in the tenant, copies of one submitted request with new ids
// and due dates, written 25 to a transaction: the service's own path would take minutes for
// 100,000, and the list reads only the index attributes set here.
func seedRequests(tb testing.TB, e *costEnv, n int) {
	tb.Helper()
	ctx := context.Background()
	e.call(tb, e.site(), rqSiteSubmit, nil, `{"type":"access","email":"seed@example.org"}`).want(tb, 202, "")
	page, err := e.db.Query(ctx, table.Query{Index: "GSI1", PK: "T#" + e.tenant + "#RQ", Limit: 1})
	if err != nil || len(page.Items) != 1 {
		tb.Fatalf("seed: %v", err)
	}
	var proto map[string]any
	if err := page.Items[0].Decode(&proto); err != nil {
		tb.Fatal(err)
	}
	var ws []table.Write
	flush := func() {
		if len(ws) == 0 {
			return
		}
		if err := e.db.Transact(ctx, ws); err != nil {
			tb.Fatal(err)
		}
		ws = ws[:0]
	}
	for i := 1; i < n; i++ {
		id := fmt.Sprintf("req_seed%07d", i)
		due := rqStart.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
		proto["id"], proto["due_at"] = id, due
		proto["gsi1sk"], proto["gsi2sk"] = due+"#"+id, due+"#"+id
		data, err := json.Marshal(proto)
		if err != nil {
			tb.Fatal(err)
		}
		ws = append(ws, table.Put(table.Item{Key: table.Key{PK: "T#" + e.tenant + "#R#" + id, SK: "REQUEST"}, Data: data}, table.Cond{Kind: table.IfAbsent}))
		if len(ws) == table.MaxTransactItems {
			flush()
		}
	}
	flush()
}

// BenchmarkListRequests reads the operator's first page (50, soonest due) over 1,000 and
// 100,000 requests: one query either way, and about the same time.
func BenchmarkListRequests(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("requests=%d", n), func(b *testing.B) {
			e := newCostEnv(b, discard{})
			seedRequests(b, e, n)
			e.count.Reset()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r := e.call(b, e.admin(), rqList, url.Values{"limit": {"50"}}, "")
				if r.status != 200 || len(r.body["items"].([]any)) != 50 {
					b.Fatalf("answer %d", r.status)
				}
			}
			c := e.count.Counts()
			b.ReportMetric(float64(c.Query)/float64(b.N), "queries/op")
			b.ReportMetric(float64(c.Get+c.Put+c.Transact)/float64(b.N), "other-calls/op")
		})
	}
}

// TestListCostIndependentOfSize: the operator's first page costs one query over 1,000
// requests and over 20,000 (BenchmarkListRequests goes to 100,000), and holds the soonest due.
func TestListCostIndependentOfSize(t *testing.T) {
	for _, n := range []int{1_000, 20_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			e := newCostEnv(t, discard{})
			seedRequests(t, e, n)
			e.count.Reset()
			r := e.call(t, e.admin(), rqList, url.Values{"limit": {"50"}}, "").want(t, 200, "")
			if got, want := e.count.Counts(), (tablecount.Counts{Query: 1}); got != want {
				t.Fatalf("table calls %s, want %s", got, want)
			}
			items := r.body["items"].([]any)
			if len(items) != 50 || items[0].(map[string]any)["due_at"] != "2026-01-31T10:01:00Z" || r.str("next_cursor") == "" {
				t.Fatalf("first page: %d items from %v", len(items), items[0])
			}
		})
	}
}
