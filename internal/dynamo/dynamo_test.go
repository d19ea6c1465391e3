package dynamo_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/samtemplate"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest"
)

const tableName = "gdpr-test"

// env is one moto_server and one table for every test of the package: subtests keep apart by
// the partition keys they use (see pk).
type env struct {
	cfg   aws.Config
	db    *dynamodb.Client
	def   samtemplate.TableDef
	table *dynamo.Table
	feed  *dynamo.Feed
}

// TestDynamo runs every test of the package under one moto_server, which mototest stops when
// the test that started it ends.
func TestDynamo(t *testing.T) {
	e := setup(t)
	t.Run("Conformance", func(t *testing.T) {
		tabletest.Run(t, func(*testing.T) tabletest.Harness {
			return tabletest.Harness{Table: e.table, Feed: e.feed}
		})
	})
	t.Run("CreateTable", e.testCreateTable)
	t.Run("RoundTrip", e.testRoundTrip)
	t.Run("Conditions", e.testConditions)
	t.Run("Transact", e.testTransact)
	t.Run("Validation", e.testValidation)
	t.Run("Query", e.testQuery)
	t.Run("Paging", e.testPaging)
	t.Run("Index", e.testIndex)
	t.Run("BadCursor", e.testBadCursor)
	t.Run("Feed", e.testFeed)
	t.Run("LostAnswer", e.testLostAnswer)
	t.Run("ConflictAnswers", e.testConflictAnswers)
}

func setup(t *testing.T) *env {
	t.Helper()
	srv := mototest.Start(t)
	cfg := srv.Config(t)
	def := tabletest.Def(t)
	db := dynamodb.NewFromConfig(cfg)
	if err := dynamo.CreateTable(context.Background(), db, tableName, def); err != nil {
		t.Fatal(err)
	}
	return &env{
		cfg:   cfg,
		db:    db,
		def:   def,
		table: dynamo.New(db, tableName, def),
		feed:  dynamo.NewFeed(dynamodbstreams.NewFromConfig(cfg), db, tableName),
	}
}

// pk is a partition key that belongs to the running subtest alone.
func pk(t *testing.T, suffix string) string {
	return "T#" + t.Name() + "#" + suffix
}

func mustPut(t *testing.T, tb table.Table, key table.Key, data string) {
	t.Helper()
	if err := tb.Put(context.Background(), table.Item{Key: key, Data: json.RawMessage(data)}, table.Cond{}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// sameJSON compares two JSON documents by value, numbers by their digits.
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	decode := func(b []byte) any {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		return v
	}
	if g, w := decode(got), decode(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("data = %s, want %s", got, want)
	}
}

func (e *env) testCreateTable(t *testing.T) {
	ctx := context.Background()
	// A second call finds the table and leaves it as it is.
	if err := dynamo.CreateTable(ctx, e.db, tableName, e.def); err != nil {
		t.Fatalf("second CreateTable: %v", err)
	}
	out, err := e.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(tableName)})
	if err != nil {
		t.Fatal(err)
	}
	d := out.Table
	if got, want := d.TableStatus, types.TableStatusActive; got != want {
		t.Fatalf("status = %s, want %s", got, want)
	}
	if got, want := d.StreamSpecification.StreamViewType, types.StreamViewTypeNewAndOldImages; got != want {
		t.Fatalf("stream view = %s, want %s", got, want)
	}
	if got, want := d.BillingModeSummary.BillingMode, types.BillingModePayPerRequest; got != want {
		t.Fatalf("billing = %s, want %s", got, want)
	}
	projections := map[string]types.ProjectionType{}
	for _, g := range d.GlobalSecondaryIndexes {
		projections[*g.IndexName] = g.Projection.ProjectionType
	}
	want := map[string]types.ProjectionType{}
	for _, ix := range e.def.Indexes {
		want[ix.Name] = types.ProjectionType(ix.Projection)
	}
	if got := projections; len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("indexes = %v, want %v", got, want)
	}
	ttl, err := e.db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(tableName)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := *ttl.TimeToLiveDescription.AttributeName, table.AttrTTL; got != want {
		t.Fatalf("TTL attribute = %s, want %s", got, want)
	}

	t.Run("WrongKeys", func(t *testing.T) {
		def := e.def
		def.HashKey = "id"
		if err := dynamo.CreateTable(ctx, e.db, "other", def); err == nil {
			t.Fatal("CreateTable accepted a table not keyed by pk and sk")
		}
	})
}

func (e *env) testRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, data string }{
		{"Empty", `{}`},
		{"Strings", `{"plain":"x","empty":"","html":"<a href=\"x\">&amp;</a>","unicode":"é ü 日本 😀","controls":"tab\tnl\nnul\u0000ls\u2028"}`},
		{"Numbers", `{"big":123456789012345678901234567890,"neg":-42,"dec":0.1,"tiny":-0.000123,"zero":0,"ttl":1767225600}`},
		{"Literals", `{"t":true,"f":false,"z":null}`},
		{"Nested", `{"o":{"deep":{"l":[1,"two",null,true,{"k":[]},[[]]]}},"e":{},"a":[]}`},
		{"OddNames", `{"with space":1,"dots.and#hash":2,"ünï":3,"ttl2":{"pk":"nested reserved names are fine"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := table.Key{PK: pk(t, "S"), SK: "PROFILE"}
			if err := e.table.Put(ctx, table.Item{Key: key, Data: json.RawMessage(tc.data)}, table.VersionIs(0)); err != nil {
				t.Fatal(err)
			}
			got, err := e.table.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if got.Key != key {
				t.Fatalf("key = %v, want %v", got.Key, key)
			}
			if got, want := got.Version, int64(1); got != want {
				t.Fatalf("version = %d, want %d", got, want)
			}
			sameJSON(t, got.Data, []byte(tc.data))
			if !json.Valid(got.Data) {
				t.Fatalf("data %q is not valid JSON", got.Data)
			}
		})
	}

	t.Run("HTMLUnescaped", func(t *testing.T) {
		key := table.Key{PK: pk(t, "S"), SK: "PROFILE"}
		mustPut(t, e.table, key, `{"h":"<&>"}`)
		got, err := e.table.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(got.Data), `{"h":"<&>"}`; got != want {
			t.Fatalf("data = %s, want %s", got, want)
		}
	})
}

func (e *env) testConditions(t *testing.T) {
	ctx := context.Background()
	key := table.Key{PK: pk(t, "S"), SK: "CONSENT"}
	conflict := func(t *testing.T, err error) {
		t.Helper()
		var ce *table.ConflictError
		if !errors.As(err, &ce) || !errors.Is(err, table.ErrConflict) {
			t.Fatalf("err = %v, want a *table.ConflictError", err)
		}
		if got, want := *ce, (table.ConflictError{Index: 0, Key: key}); got != want {
			t.Fatalf("conflict = %+v, want %+v", got, want)
		}
	}
	item := func(version int64) table.Item {
		return table.Item{Key: key, Version: version, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, version))}
	}

	if _, err := e.table.Get(ctx, key); !errors.Is(err, table.ErrNotFound) {
		t.Fatalf("get absent: err = %v, want ErrNotFound", err)
	}
	conflict(t, e.table.Put(ctx, item(0), table.Cond{Kind: table.IfExists}))
	if err := e.table.Put(ctx, item(0), table.VersionIs(0)); err != nil {
		t.Fatalf("put if absent: %v", err)
	}
	conflict(t, e.table.Put(ctx, item(0), table.VersionIs(0)))
	if err := e.table.Put(ctx, item(1), table.VersionIs(1)); err != nil {
		t.Fatalf("put at version 1: %v", err)
	}
	conflict(t, e.table.Put(ctx, item(1), table.VersionIs(1)))
	if err := e.table.Put(ctx, item(2), table.Cond{Kind: table.IfExists}); err != nil {
		t.Fatalf("put if exists: %v", err)
	}
	got, err := e.table.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := got.Version, int64(3); got != want {
		t.Fatalf("version = %d, want %d", got, want)
	}
	conflict(t, e.table.Delete(ctx, key, table.VersionIs(2)))
	if err := e.table.Delete(ctx, key, table.VersionIs(3)); err != nil {
		t.Fatalf("delete at version 3: %v", err)
	}
	conflict(t, e.table.Delete(ctx, key, table.Cond{Kind: table.IfExists}))
	if err := e.table.Delete(ctx, key, table.Cond{}); err != nil {
		t.Fatalf("delete absent under Always: %v", err)
	}
}

func (e *env) testTransact(t *testing.T) {
	ctx := context.Background()
	a := table.Key{PK: pk(t, "A"), SK: "X"}
	b := table.Key{PK: pk(t, "B"), SK: "X"}
	c := table.Key{PK: pk(t, "C"), SK: "X"}
	d := table.Key{PK: pk(t, "D"), SK: "X"}
	mustPut(t, e.table, c, `{"c":1}`)
	mustPut(t, e.table, d, `{"d":1}`)

	for _, tc := range []struct {
		name  string
		ws    []table.Write
		index int
		key   table.Key
	}{
		{"PutIfAbsentOnPresent", []table.Write{
			table.Put(table.Item{Key: a, Data: json.RawMessage(`{}`)}, table.VersionIs(0)),
			table.Put(table.Item{Key: b, Data: json.RawMessage(`{}`)}, table.VersionIs(0)),
			table.Put(table.Item{Key: c, Data: json.RawMessage(`{}`)}, table.VersionIs(0)),
		}, 2, c},
		{"CheckOnAbsent", []table.Write{
			table.Put(table.Item{Key: a, Data: json.RawMessage(`{}`)}, table.VersionIs(0)),
			table.Check(b, table.Cond{Kind: table.IfExists}),
		}, 1, b},
		{"DeleteAtWrongVersion", []table.Write{
			table.Delete(d, table.VersionIs(7)),
			table.Put(table.Item{Key: a, Data: json.RawMessage(`{}`)}, table.Cond{}),
		}, 0, d},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.table.Transact(ctx, tc.ws)
			var ce *table.ConflictError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *table.ConflictError", err)
			}
			if got, want := *ce, (table.ConflictError{Index: tc.index, Key: tc.key}); got != want {
				t.Fatalf("conflict = %+v, want %+v", got, want)
			}
			if _, err := e.table.Get(ctx, a); !errors.Is(err, table.ErrNotFound) {
				t.Fatalf("a cancelled transaction wrote: get err = %v", err)
			}
		})
	}

	t.Run("Applied", func(t *testing.T) {
		err := e.table.Transact(ctx, []table.Write{
			table.Put(table.Item{Key: a, Data: json.RawMessage(`{"a":1}`)}, table.VersionIs(0)),
			table.Check(b, table.Cond{}),
			table.Check(c, table.VersionIs(1)),
			table.Delete(d, table.VersionIs(1)),
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.table.Get(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := got.Version, int64(1); got != want {
			t.Fatalf("version = %d, want %d", got, want)
		}
		if _, err := e.table.Get(ctx, d); !errors.Is(err, table.ErrNotFound) {
			t.Fatalf("get deleted: err = %v, want ErrNotFound", err)
		}
	})
}

func (e *env) testValidation(t *testing.T) {
	ctx := context.Background()
	key := table.Key{PK: pk(t, "S"), SK: "X"}
	many := make([]table.Write, table.MaxTransactItems+1)
	for i := range many {
		many[i] = table.Check(table.Key{PK: key.PK, SK: fmt.Sprint(i)}, table.Cond{})
	}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"GetEmptySK", func() error { _, err := e.table.Get(ctx, table.Key{PK: key.PK}); return err }()},
		{"PutReserved", e.table.Put(ctx, table.Item{Key: key, Data: json.RawMessage(`{"v":1}`)}, table.Cond{})},
		{"PutNotObject", e.table.Put(ctx, table.Item{Key: key, Data: json.RawMessage(`[1]`)}, table.Cond{})},
		{"DeleteNUL", e.table.Delete(ctx, table.Key{PK: key.PK, SK: "a\x00"}, table.Cond{})},
		{"TransactTooMany", e.table.Transact(ctx, many)},
		{"TransactSameKey", e.table.Transact(ctx, []table.Write{table.Check(key, table.Cond{}), table.Delete(key, table.Cond{})})},
		{"QueryNoPK", func() error { _, err := e.table.Query(ctx, table.Query{}); return err }()},
		{"QueryUnknownIndex", func() error { _, err := e.table.Query(ctx, table.Query{Index: "Nope", PK: key.PK}); return err }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("accepted")
			}
			if errors.Is(tc.err, table.ErrConflict) || errors.Is(tc.err, table.ErrNotFound) {
				t.Fatalf("err = %v, want a validation error", tc.err)
			}
		})
	}
	if _, err := e.table.Get(ctx, key); !errors.Is(err, table.ErrNotFound) {
		t.Fatalf("a refused write wrote: get err = %v", err)
	}
}

// sks are the sort keys of a page's items.
func sks(items []table.Item) string {
	var s []string
	for _, it := range items {
		s = append(s, it.SK)
	}
	return strings.Join(s, ",")
}

func (e *env) testQuery(t *testing.T) {
	ctx := context.Background()
	p := pk(t, "S")
	for _, sk := range []string{"A#1", "A#2", "B#1", "B#2", "C"} {
		mustPut(t, e.table, table.Key{PK: p, SK: sk}, `{"x":1}`)
	}
	mustPut(t, e.table, table.Key{PK: pk(t, "Other"), SK: "A#1"}, `{}`)
	for _, tc := range []struct {
		name string
		q    table.Query
		want string
	}{
		{"All", table.Query{PK: p}, "A#1,A#2,B#1,B#2,C"},
		{"Desc", table.Query{PK: p, Desc: true}, "C,B#2,B#1,A#2,A#1"},
		{"Prefix", table.Query{PK: p, Prefix: "B#"}, "B#1,B#2"},
		{"PrefixDesc", table.Query{PK: p, Prefix: "A#", Desc: true}, "A#2,A#1"},
		{"Between", table.Query{PK: p, From: "A#2", To: "B#2"}, "A#2,B#1,B#2"},
		{"From", table.Query{PK: p, From: "B#2"}, "B#2,C"},
		{"To", table.Query{PK: p, To: "A#2"}, "A#1,A#2"},
		{"Limit", table.Query{PK: p, Limit: 2}, "A#1,A#2"},
		{"Nothing", table.Query{PK: p, Prefix: "Z"}, ""},
		{"NoPartition", table.Query{PK: pk(t, "Absent")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := e.table.Query(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := sks(page.Items); got != tc.want {
				t.Fatalf("items = %s, want %s", got, tc.want)
			}
			for _, it := range page.Items {
				if it.Version != 1 || it.PK != p {
					t.Fatalf("item %+v, want version 1 in %s", it, p)
				}
			}
		})
	}
}

// readAll follows a query's cursors to the end and returns its pages' sort keys.
func readAll(t *testing.T, tb table.Table, q table.Query) []string {
	t.Helper()
	var pages []string
	for {
		page, err := tb.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, sks(page.Items))
		if page.Next == "" {
			return pages
		}
		if len(pages) > 20 {
			t.Fatal("query does not end")
		}
		q.Cursor = page.Next
	}
}

func (e *env) testPaging(t *testing.T) {
	p := pk(t, "S")
	for i := range 7 {
		mustPut(t, e.table, table.Key{PK: p, SK: fmt.Sprintf("K%d", i)}, `{}`)
	}
	for _, tc := range []struct {
		name string
		q    table.Query
		want []string
	}{
		{"Uneven", table.Query{PK: p, Limit: 3}, []string{"K0,K1,K2", "K3,K4,K5", "K6"}},
		// The last page ends exactly at the last item, and says so.
		{"Exact", table.Query{PK: p, Limit: 7}, []string{"K0,K1,K2,K3,K4,K5,K6"}},
		{"ExactPages", table.Query{PK: p, From: "K1", Limit: 3}, []string{"K1,K2,K3", "K4,K5,K6"}},
		{"Desc", table.Query{PK: p, Desc: true, Limit: 4}, []string{"K6,K5,K4,K3", "K2,K1,K0"}},
		{"One", table.Query{PK: p, To: "K2", Limit: 1}, []string{"K0", "K1", "K2"}},
		{"Empty", table.Query{PK: p, Prefix: "X", Limit: 1}, []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := readAll(t, e.table, tc.q); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("pages = %q, want %q", got, tc.want)
			}
		})
	}
}

func (e *env) testIndex(t *testing.T) {
	ctx := context.Background()
	queue := pk(t, "QUEUE")
	expiry := pk(t, "EXP")
	for i := range 5 {
		key := table.Key{PK: pk(t, fmt.Sprintf("R%d", i)), SK: "REQUEST"}
		mustPut(t, e.table, key, fmt.Sprintf(`{"gsi1pk":%q,"gsi1sk":"2026-01-0%d","xpk":%q,"xsk":"2026-02-01#%d","n":%d}`, queue, 5-i, expiry, i, i))
	}
	// Items without the index keys are not in the index.
	mustPut(t, e.table, table.Key{PK: pk(t, "R9"), SK: "REQUEST"}, `{"n":9}`)

	pages := readAll(t, e.table, table.Query{Index: "GSI1", PK: queue, Limit: 2})
	if got, want := len(pages), 3; got != want {
		t.Fatalf("GSI1 pages = %q, want %d pages", pages, want)
	}
	page, err := e.table.Query(ctx, table.Query{Index: "GSI1", PK: queue, From: "2026-01-02", To: "2026-01-03"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(page.Items), 2; got != want {
		t.Fatalf("GSI1 range: %d items, want %d", got, want)
	}
	first := page.Items[0]
	if got, want := first.PK, pk(t, "R3"); got != want {
		t.Fatalf("first item %s, want %s", got, want)
	}
	if got, want := first.Version, int64(1); got != want {
		t.Fatalf("version = %d, want %d (GSI1 projects everything)", got, want)
	}
	sameJSON(t, first.Data, fmt.Appendf(nil, `{"gsi1pk":%q,"gsi1sk":"2026-01-02","xpk":%q,"xsk":"2026-02-01#3","n":3}`, queue, expiry))

	page, err = e.table.Query(ctx, table.Query{Index: "Expiry", PK: expiry, Prefix: "2026-02-01#", Desc: true, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := page.Items[0].PK, pk(t, "R4"); got != want {
		t.Fatalf("Expiry first item %s, want %s", got, want)
	}
	// KEYS_ONLY: the keys, no version.
	if got, want := page.Items[0].Version, int64(0); got != want {
		t.Fatalf("version = %d, want %d", got, want)
	}
	sameJSON(t, page.Items[0].Data, fmt.Appendf(nil, `{"xpk":%q,"xsk":"2026-02-01#4"}`, expiry))
	if got, want := len(readAll(t, e.table, table.Query{Index: "Expiry", PK: expiry, Limit: 1})), 5; got != want {
		t.Fatalf("Expiry pages = %d, want %d", got, want)
	}
}

func (e *env) testBadCursor(t *testing.T) {
	ctx := context.Background()
	p := pk(t, "S")
	for i := range 3 {
		mustPut(t, e.table, table.Key{PK: p, SK: fmt.Sprintf("K%d", i)}, `{"gsi1pk":"Q","gsi1sk":"x"}`)
	}
	page, err := e.table.Query(ctx, table.Query{PK: p, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if page.Next == "" {
		t.Fatal("no cursor after the first of three items")
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name string
		q    table.Query
	}{
		{"NotBase64", table.Query{PK: p, Cursor: "!!!"}},
		{"NotJSON", table.Query{PK: p, Cursor: enc("{")}},
		{"Null", table.Query{PK: p, Cursor: enc("null")}},
		{"NotStrings", table.Query{PK: p, Cursor: enc(`{"pk":1,"sk":2}`)}},
		{"MissingSK", table.Query{PK: p, Cursor: enc(fmt.Sprintf(`{"pk":%q}`, p))}},
		{"EmptySK", table.Query{PK: p, Cursor: enc(fmt.Sprintf(`{"pk":%q,"sk":""}`, p))}},
		{"ExtraAttribute", table.Query{PK: p, Cursor: enc(fmt.Sprintf(`{"pk":%q,"sk":"K0","v":"1"}`, p))}},
		{"OtherPartition", table.Query{PK: pk(t, "Other"), Cursor: page.Next}},
		{"OutsidePrefix", table.Query{PK: p, Prefix: "L", Cursor: page.Next}},
		{"BeforeFrom", table.Query{PK: p, From: "K1", Cursor: page.Next}},
		{"OnIndex", table.Query{Index: "GSI1", PK: "Q", Cursor: page.Next}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.table.Query(ctx, tc.q); !errors.Is(err, table.ErrBadCursor) {
				t.Fatalf("err = %v, want ErrBadCursor", err)
			}
		})
	}
}

// loseFirstAnswers lets every request reach the server but, the first time it sees a request
// body, replaces the answer with a 500: the write happened and its answer was lost, so the
// SDK retries the same request — what a timeout or a garbled response does.
type loseFirstAnswers struct {
	mu   sync.Mutex
	seen map[[32]byte]bool
}

func (l *loseFirstAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(body)
	l.mu.Lock()
	first := !l.seen[h]
	l.seen[h] = true
	l.mu.Unlock()
	if !first {
		return resp, nil
	}
	resp.Body.Close()
	return &http.Response{
		StatusCode: http.StatusInternalServerError,
		Header:     http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body:       io.NopCloser(strings.NewReader(`{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"answer lost"}`)),
		Request:    req,
	}, nil
}

// testLostAnswer: conditional writes whose answer was lost and whose SDK retry meets the write
// itself succeed, once; a write that meets another writer's change still conflicts.
func (e *env) testLostAnswer(t *testing.T) {
	ctx := context.Background()
	lossy := dynamodb.NewFromConfig(e.cfg, func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: &loseFirstAnswers{seen: map[[32]byte]bool{}}}
	})
	tb := dynamo.New(lossy, tableName, e.def)
	k := table.Key{PK: pk(t, "a"), SK: "X"}
	it := table.Item{Key: k, Data: json.RawMessage(`{"n":1}`)}
	if err := tb.Put(ctx, it, table.Cond{Kind: table.IfAbsent}); err != nil {
		t.Fatalf("IfAbsent put whose answer was lost: %v", err)
	}
	it.Version, it.Data = 1, json.RawMessage(`{"n":2}`)
	if err := tb.Put(ctx, it, table.VersionIs(1)); err != nil {
		t.Fatalf("IfVersion put whose answer was lost: %v", err)
	}
	got, err := e.table.Get(ctx, k)
	if err != nil || got.Version != 2 || string(got.Data) != `{"n":2}` {
		t.Fatalf("stored %d %s, %v; want version 2 {\"n\":2}", got.Version, got.Data, err)
	}
	// Another writer with the same stale version and the same data still conflicts.
	it.Version = 1
	if err := e.table.Put(ctx, it, table.VersionIs(1)); !errors.Is(err, table.ErrConflict) {
		t.Fatalf("a stale put of identical data: %v, want a conflict", err)
	}
	if err := tb.Delete(ctx, k, table.VersionIs(2)); err != nil {
		t.Fatalf("IfVersion delete whose answer was lost: %v", err)
	}
	if _, err := e.table.Get(ctx, k); !errors.Is(err, table.ErrNotFound) {
		t.Fatalf("item still there after the delete: %v", err)
	}
	// Transactions carry the SDK's idempotency token: a retried one is applied once.
	k2 := table.Key{PK: pk(t, "b"), SK: "Y"}
	err = tb.Transact(ctx, []table.Write{
		table.Put(table.Item{Key: k, Data: json.RawMessage(`{"n":3}`)}, table.Cond{Kind: table.IfAbsent}),
		table.Put(table.Item{Key: k2, Data: json.RawMessage(`{"n":4}`)}, table.Cond{Kind: table.IfAbsent}),
	})
	if err != nil {
		t.Fatalf("transaction whose answer was lost: %v", err)
	}
	if got, err := e.table.Get(ctx, k2); err != nil || got.Version != 1 {
		t.Fatalf("transaction applied %d times, %v; want once", got.Version, err)
	}
	if err := e.table.Delete(ctx, k, table.Cond{}); err != nil {
		t.Fatal(err)
	}
	// Without a retry, a delete that finds the item gone is a conflict, as the port says.
	if err := e.table.Delete(ctx, k, table.Cond{Kind: table.IfExists}); !errors.Is(err, table.ErrConflict) {
		t.Fatalf("IfExists delete of an absent item: %v, want a conflict", err)
	}
}

// answerOnce answers the first call of one DynamoDB operation itself, with what answer
// returns, and passes every other request on to moto.
type answerOnce struct {
	op     string // e.g. "TransactWriteItems"
	answer func(*http.Request) *http.Response
	mu     sync.Mutex
	done   bool
}

func (a *answerOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	a.mu.Lock()
	mine := !a.done && req.Header.Get("X-Amz-Target") == "DynamoDB_20120810."+a.op
	a.done = a.done || mine
	a.mu.Unlock()
	if !mine {
		return http.DefaultTransport.RoundTrip(req)
	}
	if req.Body != nil {
		req.Body.Close()
	}
	return a.answer(req), nil
}

// testConflictAnswers: the adapter reads DynamoDB's own conflict answers, which moto does not
// give (it never reports TransactionConflict), as the port says: a failed condition or a
// transaction conflict is a *table.ConflictError naming the write; other cancellation reasons
// are engine failures.
func (e *env) testConflictAnswers(t *testing.T) {
	ctx := context.Background()
	a := table.Key{PK: pk(t, "A"), SK: "X"}
	b := table.Key{PK: pk(t, "B"), SK: "X"}
	c := table.Key{PK: pk(t, "C"), SK: "X"}
	ws := []table.Write{
		table.Put(table.Item{Key: a, Data: json.RawMessage(`{}`)}, table.VersionIs(0)),
		table.Put(table.Item{Key: b, Data: json.RawMessage(`{}`)}, table.VersionIs(0)),
		table.Check(c, table.Cond{}),
	}
	answering := func(op string, answer func(*http.Request) *http.Response) *dynamo.Table {
		db := dynamodb.NewFromConfig(e.cfg, func(o *dynamodb.Options) {
			o.HTTPClient = &http.Client{Transport: &answerOnce{op: op, answer: answer}}
		})
		return dynamo.New(db, tableName, e.def)
	}
	canceled := func(reasons ...string) func(*http.Request) *http.Response {
		return func(req *http.Request) *http.Response { return mototest.TransactionCanceled(req, reasons...) }
	}
	for _, tc := range []struct {
		name    string
		reasons []string
		want    *table.ConflictError // nil: not a conflict
	}{
		{"TransactionConflict", []string{"None", "TransactionConflict", "None"}, &table.ConflictError{Index: 1, Key: b}},
		// A failed condition names its write, even after a conflict on an earlier one.
		{"ConditionFailedAfterConflict", []string{"TransactionConflict", "None", "ConditionalCheckFailed"}, &table.ConflictError{Index: 2, Key: c}},
		{"ConditionFailed", []string{"ConditionalCheckFailed", "None", "None"}, &table.ConflictError{Index: 0, Key: a}},
		{"Throttled", []string{"None", "ThrottlingError", "None"}, nil},
	} {
		t.Run("Transact"+tc.name, func(t *testing.T) {
			err := answering("TransactWriteItems", canceled(tc.reasons...)).Transact(ctx, ws)
			var ce *table.ConflictError
			switch {
			case tc.want == nil && (err == nil || errors.Is(err, table.ErrConflict)):
				t.Fatalf("err = %v, want an engine error that is not a conflict", err)
			case tc.want != nil && !errors.As(err, &ce):
				t.Fatalf("err = %v, want %+v", err, *tc.want)
			case tc.want != nil && *ce != *tc.want:
				t.Fatalf("conflict = %+v, want %+v", *ce, *tc.want)
			}
		})
	}

	// A put whose condition failed: the stored item DynamoDB sends back was written by someone
	// else (another write id), or there is none.
	t.Run("PutConditionFailed", func(t *testing.T) {
		for name, item := range map[string]json.RawMessage{
			"OtherWriter": json.RawMessage(fmt.Sprintf(`{"pk":{"S":%q},"sk":{"S":"X"},"v":{"N":"1"},"wid":{"S":"someone-else"}}`, a.PK)),
			"NoItem":      nil,
		} {
			t.Run(name, func(t *testing.T) {
				tb := answering("PutItem", func(req *http.Request) *http.Response { return mototest.ConditionalCheckFailed(req, item) })
				err := tb.Put(ctx, table.Item{Key: a, Data: json.RawMessage(`{}`)}, table.VersionIs(0))
				var ce *table.ConflictError
				if !errors.As(err, &ce) || *ce != (table.ConflictError{Index: 0, Key: a}) {
					t.Fatalf("err = %v, want a conflict on write 0", err)
				}
			})
		}
	})
	t.Run("DeleteConditionFailed", func(t *testing.T) {
		tb := answering("DeleteItem", func(req *http.Request) *http.Response { return mototest.ConditionalCheckFailed(req, nil) })
		err := tb.Delete(ctx, a, table.Cond{Kind: table.IfExists})
		var ce *table.ConflictError
		if !errors.As(err, &ce) || *ce != (table.ConflictError{Index: 0, Key: a}) {
			t.Fatalf("err = %v, want a conflict on write 0", err)
		}
	})
	// None of the answered calls reached moto.
	for _, k := range []table.Key{a, b} {
		if _, err := e.table.Get(ctx, k); !errors.Is(err, table.ErrNotFound) {
			t.Fatalf("get %s: %v, want ErrNotFound", k, err)
		}
	}
}
