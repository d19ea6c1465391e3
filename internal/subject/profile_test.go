package subject_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/dynamo"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/table/tabletest"
)

// TestSQLite runs the profile suite on the embedded home.
func TestSQLite(t *testing.T) {
	runProfile(t, func(t *testing.T) table.Table { return sqlitetest.MustOpen(t) })
}

// TestDynamo runs the profile suite on DynamoDB as moto emulates it, a table per subtest.
func TestDynamo(t *testing.T) {
	srv := mototest.Start(t)
	db := dynamodb.NewFromConfig(srv.Config(t))
	def := tabletest.Def(t)
	var n atomic.Int64
	runProfile(t, func(t *testing.T) table.Table {
		name := fmt.Sprintf("subject-%d", n.Add(1))
		if err := dynamo.CreateTable(t.Context(), db, name, def); err != nil {
			t.Fatal(err)
		}
		return dynamo.New(db, name, def)
	})
}

func runProfile(t *testing.T, open func(t *testing.T) table.Table) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, *profileEnv)
	}{
		{"RectifyKeepsShardAndMovesLookup", testRectify},
		{"RectifyTwiceChangesNothing", testRectifyTwice},
		{"RectifyEmailInUse", testRectifyEmailInUse},
		{"RectifyOwnStaleLookup", testRectifyOwnStaleLookup},
		{"RectifyInvalid", testRectifyInvalid},
		{"RectifyNoProfile", testRectifyNoProfile},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := secrets.New([]byte(strings.Repeat("s", 32)))
			if err != nil {
				t.Fatal(err)
			}
			c.fn(t, &profileEnv{table: open(t), secrets: m})
		})
	}
}

type profileEnv struct {
	table   table.Table
	secrets secrets.Master
}

const tenant = "acme"

var at = time.Date(2026, 11, 28, 16, 47, 0, 0, time.UTC)

// put stores a new profile through its owner, as the consent function's intake does.
func (e *profileEnv) put(t *testing.T, id string, p subject.Profile) {
	t.Helper()
	w := subject.NewProfileWrite(e.secrets, tenant, id)
	ws, err := w.Writes(subject.Profile{}, 0, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Failed(t.Context(), e.table, e.table.Transact(t.Context(), ws)); err != nil {
		t.Fatal(err)
	}
}

// onShard tells whether a notification run, paging every shard of GSI1, meets the subject.
func (e *profileEnv) onShard(t *testing.T, id string) bool {
	t.Helper()
	found := 0
	for n := range subject.Shards {
		q := table.Query{Index: "GSI1", PK: subject.ShardPK(tenant, n)}
		for {
			page, err := e.table.Query(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items {
				if it.Key == subject.ProfileKey(tenant, id) {
					found++
				}
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	if found > 1 {
		t.Fatalf("subject %s is on %d shards", id, found)
	}
	return found == 1
}

func (e *profileEnv) wantLookup(t *testing.T, email, id string) {
	t.Helper()
	got, err := subject.FindByEmail(t.Context(), e.table, e.secrets, tenant, email)
	if id == "" {
		if !errors.Is(err, subject.ErrNotFound) {
			t.Fatalf("FindByEmail = %q, %v; want ErrNotFound", got, err)
		}
		return
	}
	if err != nil || got != id {
		t.Fatalf("FindByEmail = %q, %v; want %q", got, err, id)
	}
}

func ptr(s string) *string { return &s }

func testRectify(t *testing.T, e *profileEnv) {
	e.put(t, "u-1", subject.Profile{FirstName: "Ann", Email: "ann@example.org", Phone: "+1 555 0100", UpdatedAt: at})
	e.put(t, "u-2", subject.Profile{FirstName: "Bo", UpdatedAt: at})
	if !e.onShard(t, "u-1") {
		t.Fatal("a new profile is on no shard")
	}
	later := at.Add(time.Hour)
	p, err := subject.Rectify(t.Context(), e.table, e.secrets, tenant, "u-1", subject.ProfileChanges{
		Phone: ptr("+44 20 7946 0000"), Email: ptr(" Ann.Lee@Example.org "),
	}, later)
	if err != nil {
		t.Fatal(err)
	}
	if p.Phone != "+44 20 7946 0000" || p.Email != "ann.lee@example.org" || p.FirstName != "Ann" || !p.UpdatedAt.Equal(later) {
		t.Fatalf("Rectify = %+v", p)
	}
	got, version, err := subject.GetProfile(t.Context(), e.table, tenant, "u-1")
	if err != nil || got.Phone != p.Phone || got.Email != p.Email || got.FirstName != "Ann" || version != 2 {
		t.Fatalf("GetProfile = %+v (version %d), %v", got, version, err)
	}
	// Still found by a notification run, and by its new address only.
	if !e.onShard(t, "u-1") {
		t.Fatal("the rectified profile dropped out of the shard index")
	}
	e.wantLookup(t, "ann.lee@example.org", "u-1")
	e.wantLookup(t, "ann@example.org", "")

	// A rectification without a new email keeps the index keys too, and others are untouched.
	if _, err := subject.Rectify(t.Context(), e.table, e.secrets, tenant, "u-2", subject.ProfileChanges{LastName: ptr("Lund")}, later); err != nil {
		t.Fatal(err)
	}
	if !e.onShard(t, "u-2") || !e.onShard(t, "u-1") {
		t.Fatal("a rectified profile dropped out of the shard index")
	}
}

func testRectifyTwice(t *testing.T, e *profileEnv) {
	e.put(t, "u-1", subject.Profile{FirstName: "Ann", Email: "ann@example.org", UpdatedAt: at})
	c := subject.ProfileChanges{FirstName: ptr("Anne"), Email: ptr("anne@example.org")}
	if _, err := subject.Rectify(t.Context(), e.table, e.secrets, tenant, "u-1", c, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The same request delivered again: nothing to change, nothing written.
	p, err := subject.Rectify(t.Context(), e.table, e.secrets, tenant, "u-1", c, at.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	_, version, err := subject.GetProfile(t.Context(), e.table, tenant, "u-1")
	if err != nil || version != 2 || !p.UpdatedAt.Equal(at.Add(time.Hour)) {
		t.Fatalf("second Rectify wrote: version %d, updated %v, %v", version, p.UpdatedAt, err)
	}
	e.wantLookup(t, "anne@example.org", "u-1")
}

func testRectifyEmailInUse(t *testing.T, e *profileEnv) {
	e.put(t, "u-1", subject.Profile{FirstName: "Ann", Email: "ann@example.org", UpdatedAt: at})
	e.put(t, "u-2", subject.Profile{FirstName: "Bo", Email: "bo@example.org", UpdatedAt: at})
	_, err := subject.Rectify(t.Context(), e.table, e.secrets, tenant, "u-2", subject.ProfileChanges{
		FirstName: ptr("Bob"), Email: ptr("ann@example.org"),
	}, at.Add(time.Hour))
	if !errors.Is(err, subject.ErrEmailInUse) {
		t.Fatalf("Rectify = %v; want ErrEmailInUse", err)
	}
	// Nothing changed: not the name, not either lookup.
	p, version, err := subject.GetProfile(t.Context(), e.table, tenant, "u-2")
	if err != nil || p.FirstName != "Bo" || p.Email != "bo@example.org" || version != 1 {
		t.Fatalf("profile after a refused rectification = %+v (version %d), %v", p, version, err)
	}
	e.wantLookup(t, "ann@example.org", "u-1")
	e.wantLookup(t, "bo@example.org", "u-2")
}

// testRectifyOwnStaleLookup: a lookup left behind by the subject itself (its profile lost
// the address) is the subject's to take back.
func testRectifyOwnStaleLookup(t *testing.T, e *profileEnv) {
	e.put(t, "u-1", subject.Profile{FirstName: "Ann", Email: "ann@example.org", UpdatedAt: at})
	it, err := table.NewItem(subject.ProfileKey(tenant, "u-1"), 1, subject.Profile{SubjectID: "u-1", FirstName: "Ann", UpdatedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.table.Put(t.Context(), it, table.VersionIs(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := subject.Rectify(t.Context(), e.table, e.secrets, tenant, "u-1", subject.ProfileChanges{Email: ptr("ann@example.org")}, at); err != nil {
		t.Fatal(err)
	}
	e.wantLookup(t, "ann@example.org", "u-1")
	if !e.onShard(t, "u-1") {
		t.Fatal("the rectification did not put the profile back on its shard")
	}
}

func testRectifyInvalid(t *testing.T, e *profileEnv) {
	e.put(t, "u-1", subject.Profile{FirstName: "Ann", UpdatedAt: at})
	for _, tc := range []struct {
		name    string
		id      string
		changes subject.ProfileChanges
		field   string
	}{
		{"BadPhone", "u-1", subject.ProfileChanges{Phone: ptr("call me")}, "rectification.phone"},
		{"Blank", "u-1", subject.ProfileChanges{FirstName: ptr(" ")}, "rectification.first_name"},
		{"BadEmail", "u-1", subject.ProfileChanges{Email: ptr("not an address")}, "rectification.email"},
		{"Nothing", "u-1", subject.ProfileChanges{}, "rectification"},
		{"BadID", "u#1", subject.ProfileChanges{FirstName: ptr("Ann")}, "subject_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := subject.Rectify(t.Context(), e.table, e.secrets, tenant, tc.id, tc.changes, at)
			ae, ok := apperr.From(err)
			if !ok || ae.Code != apperr.CodeValidation || len(ae.Fields) != 1 || ae.Fields[0].Field != tc.field {
				t.Fatalf("Rectify = %v (%+v); want validation_failed on %s", err, ae, tc.field)
			}
			if strings.Contains(fmt.Sprint(ae.Fields), "call me") {
				t.Fatalf("the error repeats the value: %+v", ae.Fields)
			}
		})
	}
	if _, version, _ := subject.GetProfile(context.Background(), e.table, tenant, "u-1"); version != 1 {
		t.Fatalf("a refused rectification wrote: version %d", version)
	}
}

func testRectifyNoProfile(t *testing.T, e *profileEnv) {
	_, err := subject.Rectify(t.Context(), e.table, e.secrets, tenant, "nobody", subject.ProfileChanges{Phone: ptr("+1 555 0100")}, at)
	if !errors.Is(err, subject.ErrNotFound) {
		t.Fatalf("Rectify = %v; want ErrNotFound", err)
	}
	if _, _, err := subject.GetProfile(t.Context(), e.table, tenant, "nobody"); !errors.Is(err, subject.ErrNotFound) {
		t.Fatalf("Rectify created a profile: %v", err)
	}
}
