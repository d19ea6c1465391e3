// Package tabletest is the conformance suite of the table port: every adapter's tests call Run,
// so that DynamoDB and SQLite answer every call, error and change-feed record the same way.
package tabletest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"testing"

	"github.com/example/gdpr"
	"github.com/example/gdpr/internal/samtemplate"
	"github.com/example/gdpr/internal/table"
)

// Harness is what the suite needs of an adapter under test.
type Harness struct {
	Table table.Table
	Feed  table.Feed
}

// Def returns the table of template.yaml, the definition every adapter under test is built from.
func Def(tb testing.TB) samtemplate.TableDef {
	tb.Helper()
	tpl, err := samtemplate.Parse(gdpr.Template)
	if err != nil {
		tb.Fatal(err)
	}
	def, err := tpl.Table("Table")
	if err != nil {
		tb.Fatal(err)
	}
	return def
}

// Run runs the suite, one subtest per case. open is called once per subtest; it may hand back
// a fresh store or the same shared one every time (one DynamoDB table and its stream), because
// each subtest writes under its own random partition-key prefix, reads only its own keys and
// never assumes the table or the feed to be empty.
func Run(t *testing.T, open func(t *testing.T) Harness) {
	def := Def(t)
	if got, want := def.TTLAttribute, table.AttrTTL; got != want {
		t.Fatalf("template TTL attribute = %q, the port says %q", got, want)
	}
	all := index(t, def, "GSI1", "ALL")
	keysOnly := index(t, def, "Expiry", "KEYS_ONLY")

	cases := []struct {
		name string
		fn   func(*testing.T, *suite)
	}{
		{"GetMissing", testGetMissing},
		{"PutGetRoundTrip", testPutGetRoundTrip},
		{"PutStoresVersionPlusOne", testPutVersion},
		{"PutAlwaysReplaces", testPutAlways},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfExists", testPutIfExists},
		{"PutIfVersion", testPutIfVersion},
		{"DeleteAlwaysAbsent", testDeleteAlwaysAbsent},
		{"DeleteIfExists", testDeleteIfExists},
		{"DeleteIfVersion", testDeleteIfVersion},
		{"DeleteIfAbsent", testDeleteIfAbsent},
		{"TransactAppliesAll", testTransactAll},
		{"TransactConflictWritesNothing", testTransactConflict},
		{"TransactCheck", testTransactCheck},
		{"TransactPutAndDelete", testTransactMixed},
		{"QueryPrefix", testQueryPrefix},
		{"QueryRange", testQueryRange},
		{"QueryLimit", testQueryLimit},
		{"QueryPaging", testQueryPaging},
		{"QueryNoMatch", testQueryNoMatch},
		{"QueryCursorGarbage", testQueryCursorGarbage},
		{"QueryCursorOtherQuery", testQueryCursorOther},
		{"QueryIndexAll", testQueryIndexAll},
		{"QueryIndexKeysOnly", testQueryIndexKeysOnly},
		{"TTLIsNumber", testTTL},
		{"FeedRecordsWrites", testFeedWrites},
		{"FeedTransact", testFeedTransact},
		{"FeedContinues", testFeedContinues},
		{"ConcurrentIncrements", testConcurrent},
		{"RefusesBadInput", testRefuses},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := open(t)
			c.fn(t, &suite{h: h, ns: namespace(t), all: all, keysOnly: keysOnly})
		})
	}
}

func index(t *testing.T, def samtemplate.TableDef, name, projection string) samtemplate.IndexDef {
	t.Helper()
	ix, ok := def.Index(name)
	if !ok || ix.Projection != projection || ix.HashKey == "" || ix.RangeKey == "" {
		t.Fatalf("template has no index %s with projection %s and a hash and range key: %+v", name, projection, ix)
	}
	return ix
}

func namespace(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "tabletest#" + hex.EncodeToString(b) + "#"
}

// suite is one subtest's view of the store: every key and index partition it writes starts
// with ns.
type suite struct {
	h        Harness
	ns       string
	all      samtemplate.IndexDef
	keysOnly samtemplate.IndexDef
}

func (s *suite) key(pk, sk string) table.Key { return table.Key{PK: s.ns + pk, SK: sk} }

// item builds an item of v, which must marshal to a JSON object.
func (s *suite) item(t *testing.T, k table.Key, version int64, v any) table.Item {
	t.Helper()
	it, err := table.NewItem(k, version, v)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func (s *suite) put(t *testing.T, it table.Item, c table.Cond) {
	t.Helper()
	if err := s.h.Table.Put(t.Context(), it, c); err != nil {
		t.Fatalf("Put(%s, %+v): %v", it.Key, c, err)
	}
}

func (s *suite) get(t *testing.T, k table.Key) table.Item {
	t.Helper()
	it, err := s.h.Table.Get(t.Context(), k)
	if err != nil {
		t.Fatalf("Get(%s): %v", k, err)
	}
	return it
}

func (s *suite) transact(t *testing.T, ws ...table.Write) {
	t.Helper()
	if err := s.h.Table.Transact(t.Context(), ws); err != nil {
		t.Fatalf("Transact: %v", err)
	}
}

func (s *suite) wantAbsent(t *testing.T, keys ...table.Key) {
	t.Helper()
	for _, k := range keys {
		if it, err := s.h.Table.Get(t.Context(), k); !errors.Is(err, table.ErrNotFound) {
			t.Fatalf("Get(%s) = version %d, %v; want ErrNotFound", k, it.Version, err)
		}
	}
}

// wantStored checks that the stored item is want.
func (s *suite) wantStored(t *testing.T, want table.Item) {
	t.Helper()
	wantItem(t, s.get(t, want.Key), want)
}

func wantItem(t *testing.T, got, want table.Item) {
	t.Helper()
	if got.Key != want.Key || got.Version != want.Version || !sameJSON(got.Data, want.Data) {
		t.Fatalf("item = %s v%d %s; want %s v%d %s", got.Key, got.Version, got.Data, want.Key, want.Version, want.Data)
	}
}

func wantConflict(t *testing.T, err error, index int, k table.Key) {
	t.Helper()
	var ce *table.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, table.ErrConflict) {
		t.Fatalf("err = %v; want a *table.ConflictError", err)
	}
	if got, want := ce.Index, index; got != want {
		t.Fatalf("ConflictError.Index = %d; want %d", got, want)
	}
	if got, want := ce.Key, k; got != want {
		t.Fatalf("ConflictError.Key = %s; want %s", got, want)
	}
}

// wantRefused checks that err refuses bad input: an error that is none of the port's
// sentinels, which all describe valid requests.
func wantRefused(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("err = nil; want the input refused")
	}
	for _, e := range []error{table.ErrNotFound, table.ErrConflict, table.ErrBadCursor} {
		if errors.Is(err, e) {
			t.Fatalf("err = %v; want a refusal, not %v", err, e)
		}
	}
}

// sameJSON reports whether two JSON documents hold the same value. Object keys may come back
// in any order and numbers in any notation (DynamoDB normalises them), but not rounded.
func sameJSON(a, b []byte) bool {
	va, errA := decodeJSON(a)
	vb, errB := decodeJSON(b)
	return errA == nil && errB == nil && reflect.DeepEqual(va, vb)
}

func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return normalize(v), nil
}

// normalize replaces numbers by their exact rational value, so 1e2 and 100 compare equal and
// 9007199254740993 differs from 9007199254740992.
func normalize(v any) any {
	switch v := v.(type) {
	case json.Number:
		r, ok := new(big.Rat).SetString(string(v))
		if !ok {
			return v
		}
		return r.RatString()
	case map[string]any:
		for k, e := range v {
			v[k] = normalize(e)
		}
	case []any:
		for i, e := range v {
			v[i] = normalize(e)
		}
	}
	return v
}
