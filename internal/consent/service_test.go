package consent_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
	"github.com/example/gdpr/internal/tenant"
)

// run is the suite, written once and run on every home.
func run(t *testing.T, open opener) {
	cases := []struct {
		name string
		fn   func(*testing.T, opener)
	}{
		{"RecordCreatesSubject", testRecordCreatesSubject},
		{"UnknownPurpose", testUnknownPurpose},
		{"UnknownSubject", testUnknownSubject},
		{"PartialDecisionKeepsOtherPurposes", testPartialDecision},
		{"GPCForcesMarketingOff", testGPC},
		{"ObjectionIsSticky", testObjection},
		{"DeniedTermsMeansNoLoginAndNoData", testDeniedTerms},
		{"Withdraw", testWithdraw},
		{"Restriction", testRestriction},
		{"HistoryOrderPagingAndChain", testHistory},
		{"ClockGoingBackKeepsChainOrder", testClockBack},
		{"ConcurrentDecisions", testConcurrent},
		{"Profile", testProfile},
		{"ProfileEmailUnique", testProfileEmailUnique},
		{"ProfileRectifiedStaysOnShard", testProfileRectified},
		{"DecisionEmail", testDecisionEmail},
		{"Devices", testDevices},
		{"DeviceRetentionSetting", testDeviceRetention},
		{"Erased", testErased},
		{"Erasure", testErasure},
		{"Policies", testPolicies},
		{"TenantIsolation", testTenantIsolation},
		{"CustomRequiredPurpose", testRequiredPurpose},
		{"Activity", testActivity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

func decision(subjectID string, purposes map[string]bool) consent.Decision {
	return consent.Decision{
		SubjectID:     subjectID,
		PolicyVersion: "2026-01",
		Purposes:      purposes,
		Method:        consent.MethodWebForm,
		Evidence:      consent.Evidence{IP: "203.0.113.9", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", Locale: "en"},
	}
}

func all(terms, rba, marketing bool) map[string]bool {
	return map[string]bool{"terms": terms, "rba": rba, "marketing": marketing}
}

func (e *env) record(t *testing.T, d consent.Decision) consent.Receipt {
	t.Helper()
	rc, err := e.svc.Record(t.Context(), e.tenant, d)
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	return rc
}

func (e *env) get(t *testing.T, subjectID string) consent.View {
	t.Helper()
	v, err := e.svc.Get(t.Context(), e.tenant, subjectID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return v
}

func (e *env) tick(d time.Duration) { e.clock.Set(e.clock.Now().Add(d)) }

// ledger reads a subject's whole ledger through History, oldest first.
func (e *env) ledger(t *testing.T, subjectID string) []consent.Entry {
	t.Helper()
	var out []consent.Entry
	cursor := ""
	for {
		page, next, err := e.svc.History(t.Context(), e.tenant, subjectID, 7, cursor)
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		out = append(out, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	slices.Reverse(out)
	return out
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	e, ok := apperr.From(err)
	if !ok {
		t.Fatalf("err = %v; want code %s", err, code)
	}
	if got, want := e.Code, code; got != want {
		t.Fatalf("code = %s (%v); want %s", got, err, want)
	}
}

func wantAbsent(t *testing.T, tbl table.Table, k table.Key) {
	t.Helper()
	if _, err := tbl.Get(t.Context(), k); !errors.Is(err, table.ErrNotFound) {
		t.Fatalf("Get(%s) = %v; want nothing stored", k, err)
	}
}

func wantPurpose(t *testing.T, v consent.View, name string, granted bool) {
	t.Helper()
	if got, want := v.Purposes[name].Granted, granted; got != want {
		t.Fatalf("purposes[%s].granted = %v; want %v (state %+v)", name, got, want, v)
	}
}

func testRecordCreatesSubject(t *testing.T, open opener) {
	e := newEnv(t, open)
	rc := e.record(t, decision("u-42", all(true, true, false)))

	if !strings.HasPrefix(rc.Entry.ReceiptID, "rcpt_") || len(rc.Entry.ReceiptID) < 5+22 {
		t.Fatalf("receipt id %q: want rcpt_ and 128 random bits", rc.Entry.ReceiptID)
	}
	if got, want := rc.Entry.RecordedAt, start; got.Sub(want) > time.Second || got.Before(want) {
		t.Fatalf("recorded_at = %v; want the clock's time %v", got, want)
	}
	if rc.Entry.Seq != 1 || rc.Entry.PrevHash != "" || rc.Entry.Hash != rc.Entry.ComputeHash() {
		t.Fatalf("first entry: seq %d prev %q hash ok %v", rc.Entry.Seq, rc.Entry.PrevHash, rc.Entry.Hash == rc.Entry.ComputeHash())
	}
	if got, want := rc.Entry.Subject, subject.Pseudonym(e.secrets, "acme", "u-42"); got != want {
		t.Fatalf("entry subject = %q; want the pseudonym %q", got, want)
	}
	v := e.get(t, "u-42")
	if !v.LoginAllowed || v.ReconsentRequired || v.Restricted || v.Objected {
		t.Fatalf("state = %+v; want login allowed and no flags", v)
	}
	if got, want := v.PolicyVersion, "2026-01"; got != want {
		t.Fatalf("policy_version = %q; want %q", got, want)
	}
	wantPurpose(t, v, "terms", true)
	wantPurpose(t, v, "rba", true)
	wantPurpose(t, v, "marketing", false)
	if got, want := v.Purposes["terms"].At, rc.Entry.RecordedAt; !got.Equal(want) {
		t.Fatalf("terms.at = %v; want %v", got, want)
	}
	if got, want := fmt.Sprint(rc.State), fmt.Sprint(v); got != want {
		t.Fatalf("receipt state = %s; want the state read back %s", got, want)
	}

	// The receipt proves the decision: what, which version, when, how, with what evidence.
	entries := e.ledger(t, "u-42")
	if len(entries) != 1 {
		t.Fatalf("ledger has %d entries; want 1", len(entries))
	}
	got := entries[0]
	if got.ReceiptID != rc.Entry.ReceiptID || got.Method != consent.MethodWebForm || got.PolicyVersion != "2026-01" ||
		!maps.Equal(got.Purposes, all(true, true, false)) || got.Evidence == nil || got.Evidence.IP != "203.0.113.9" ||
		got.Evidence.UserAgent != "Mozilla/5.0 (X11; Linux x86_64)" || got.Evidence.Locale != "en" {
		t.Fatalf("stored entry = %+v; want the decision with its evidence", got)
	}
	if err := consent.Verify(entries); err != nil {
		t.Fatal(err)
	}
}

func testUnknownPurpose(t *testing.T, open opener) {
	e := newEnv(t, open)
	_, err := e.svc.Record(t.Context(), e.tenant, decision("u-1", map[string]bool{"terms": true, "newsletter": true}))
	wantCode(t, err, consent.CodeUnknownPurpose)
	ae, _ := apperr.From(err)
	if len(ae.Fields) != 1 || ae.Fields[0].Field != "purposes.newsletter" {
		t.Fatalf("fields = %+v; want purposes.newsletter", ae.Fields)
	}
	if got, want := apperr.KindOf(err), apperr.Unprocessable; got != want {
		t.Fatalf("kind = %v; want 422", got)
	}
	wantAbsent(t, e.table, subject.Key("acme", "u-1", subject.SKConsent))

	e.record(t, decision("u-1", all(true, true, true)))
	_, err = e.svc.Withdraw(t.Context(), e.tenant, consent.Withdrawal{SubjectID: "u-1", Purposes: []string{"newsletter"}})
	wantCode(t, err, consent.CodeUnknownPurpose)
}

func testUnknownSubject(t *testing.T, open opener) {
	e := newEnv(t, open)
	ctx := t.Context()
	if _, err := e.svc.Get(ctx, e.tenant, "nobody"); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("Get = %v; want ErrNotFound", err)
	}
	wantCode(t, consent.ErrNotFound, "subject_not_found")
	if _, _, err := e.svc.History(ctx, e.tenant, "nobody", 10, ""); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("History = %v; want ErrNotFound", err)
	}
	if _, err := e.svc.Withdraw(ctx, e.tenant, consent.Withdrawal{SubjectID: "nobody"}); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("Withdraw = %v; want ErrNotFound", err)
	}
	if _, err := e.svc.GetProfile(ctx, e.tenant, "nobody"); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("GetProfile = %v; want ErrNotFound", err)
	}
	if _, err := e.svc.SetRestricted(ctx, e.tenant, "nobody", true); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("SetRestricted = %v; want ErrNotFound", err)
	}
	if _, err := e.svc.Object(ctx, e.tenant, "nobody", "req_1"); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("Object = %v; want ErrNotFound", err)
	}
}

func testPartialDecision(t *testing.T, open opener) {
	e := newEnv(t, open)
	first := e.record(t, decision("u-1", all(true, true, false)))
	e.tick(time.Minute)
	d := decision("u-1", map[string]bool{"marketing": true})
	d.PolicyVersion = "2026-02"
	rc := e.record(t, d)
	if !maps.Equal(rc.Entry.Purposes, map[string]bool{"marketing": true}) {
		t.Fatalf("entry purposes = %v; want only the one decided", rc.Entry.Purposes)
	}
	v := e.get(t, "u-1")
	wantPurpose(t, v, "terms", true)
	wantPurpose(t, v, "rba", true)
	wantPurpose(t, v, "marketing", true)
	if got, want := v.Purposes["terms"].At, first.Entry.RecordedAt; !got.Equal(want) {
		t.Fatalf("terms.at = %v; want the first decision's %v", got, want)
	}
	if got, want := v.PolicyVersion, "2026-02"; got != want {
		t.Fatalf("policy_version = %q; want the last decision's %q", got, want)
	}
}

func testGPC(t *testing.T, open opener) {
	e := newEnv(t, open)
	d := decision("u-1", all(true, true, true))
	d.GPC = true
	rc := e.record(t, d)
	if !rc.Entry.GPC || rc.Entry.Purposes["marketing"] {
		t.Fatalf("entry = gpc %v purposes %v; want gpc and marketing false", rc.Entry.GPC, rc.Entry.Purposes)
	}
	wantPurpose(t, rc.State, "marketing", false)
	wantPurpose(t, rc.State, "terms", true)

	// A decision that does not name marketing still records it as refused under GPC.
	e.record(t, decision("u-2", all(true, true, true)))
	d = decision("u-2", map[string]bool{"terms": true})
	d.GPC = true
	rc = e.record(t, d)
	if !maps.Equal(rc.Entry.Purposes, map[string]bool{"terms": true, "marketing": false}) {
		t.Fatalf("entry purposes = %v; want marketing recorded false", rc.Entry.Purposes)
	}
	wantPurpose(t, e.get(t, "u-2"), "marketing", false)

	// Without the signal the same body grants marketing.
	rc = e.record(t, decision("u-3", all(true, true, true)))
	if rc.Entry.GPC || !rc.Entry.Purposes["marketing"] {
		t.Fatalf("entry without GPC = %+v", rc.Entry)
	}
	entries := e.ledger(t, "u-2")
	if got := entries[len(entries)-1]; !got.GPC {
		t.Fatalf("stored entry gpc = false; want true")
	}
}

func testObjection(t *testing.T, open opener) {
	e := newEnv(t, open)
	ctx := t.Context()
	e.record(t, decision("u-1", all(true, true, true)))
	v, err := e.svc.Object(ctx, e.tenant, "u-1", "req_abc")
	if err != nil {
		t.Fatal(err)
	}
	if !v.Objected {
		t.Fatal("objected = false after Object")
	}
	wantPurpose(t, v, "marketing", false)
	wantPurpose(t, v, "terms", true)
	entries := e.ledger(t, "u-1")
	last := entries[len(entries)-1]
	if last.Method != consent.MethodObjection || last.RequestID != "req_abc" || !maps.Equal(last.Purposes, map[string]bool{"marketing": false}) {
		t.Fatalf("objection entry = %+v", last)
	}
	// A redelivered objection changes nothing.
	if _, err := e.svc.Object(ctx, e.tenant, "u-1", "req_abc"); err != nil {
		t.Fatal(err)
	}
	if got, want := len(e.ledger(t, "u-1")), 2; got != want {
		t.Fatalf("ledger has %d entries after a second Object; want %d", got, want)
	}

	for _, m := range []consent.Method{consent.MethodWebForm, consent.MethodAPI, consent.MethodImport} {
		d := decision("u-1", map[string]bool{"marketing": true})
		d.Method = m
		_, err := e.svc.Record(ctx, e.tenant, d)
		wantCode(t, err, consent.CodeMarketingObjected)
	}
	// Refusing marketing, or deciding other purposes, stays possible.
	e.record(t, decision("u-1", all(true, false, false)))
	if got, want := len(e.ledger(t, "u-1")), 3; got != want {
		t.Fatalf("ledger has %d entries; want %d (refused decisions are not recorded)", got, want)
	}

	d := decision("u-1", map[string]bool{"marketing": true})
	d.Method = consent.MethodExplicitOptIn
	rc := e.record(t, d)
	wantPurpose(t, rc.State, "marketing", true)
	if rc.State.Objected {
		t.Fatal("objected = true after an explicit opt-in to marketing")
	}
	// The opt-in ended the objection: an ordinary decision may now refuse and grant again.
	e.record(t, decision("u-1", map[string]bool{"marketing": false}))
	e.record(t, decision("u-1", map[string]bool{"marketing": true}))
	if err := consent.Verify(e.ledger(t, "u-1")); err != nil {
		t.Fatal(err)
	}
}

func testDeniedTerms(t *testing.T, open opener) {
	e := newEnv(t, open)
	ctx := t.Context()
	d := decision("u-1", all(false, false, false))
	d.Email = "ann@example.org"
	e.record(t, d)
	v := e.get(t, "u-1")
	if v.LoginAllowed {
		t.Fatal("login_allowed = true with terms refused")
	}
	_, err := e.svc.PutProfile(ctx, e.tenant, "u-1", consent.ProfileInput{FirstName: "Ann", Email: "ann@example.org"})
	wantCode(t, err, consent.CodeConsentRequired)
	if got, want := apperr.KindOf(err), apperr.Conflict; got != want {
		t.Fatalf("kind = %v; want 409", got)
	}
	_, err = e.svc.RecordDevice(ctx, e.tenant, "u-1", consent.Device{IP: "203.0.113.9"})
	wantCode(t, err, consent.CodeConsentRequired)
	wantAbsent(t, e.table, subject.ProfileKey("acme", "u-1"))
	wantAbsent(t, e.table, subject.EmailKey(e.secrets, "acme", "ann@example.org"))
	page, err := e.table.Query(ctx, table.Query{PK: subject.PK("acme", "u-1"), Prefix: subject.SKDevicePrefix})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("devices stored: %d, %v", len(page.Items), err)
	}
	if _, err := e.svc.GetProfile(ctx, e.tenant, "u-1"); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("GetProfile = %v; want ErrNotFound", err)
	}
	// A subject the service has never seen is refused the same way.
	_, err = e.svc.PutProfile(ctx, e.tenant, "u-new", consent.ProfileInput{FirstName: "Bo"})
	wantCode(t, err, consent.CodeConsentRequired)
	wantAbsent(t, e.table, subject.ProfileKey("acme", "u-new"))

	// Granting terms lets the profile in; rba still gates devices.
	e.record(t, decision("u-1", map[string]bool{"terms": true}))
	if !e.get(t, "u-1").LoginAllowed {
		t.Fatal("login_allowed = false after terms granted")
	}
	if _, err := e.svc.PutProfile(ctx, e.tenant, "u-1", consent.ProfileInput{FirstName: "Ann"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.RecordDevice(ctx, e.tenant, "u-1", consent.Device{IP: "203.0.113.9"})
	wantCode(t, err, consent.CodeConsentRequired)
}

func testWithdraw(t *testing.T, open opener) {
	e := newEnv(t, open)
	ctx := t.Context()
	e.record(t, decision("u-1", all(true, true, true)))
	e.tick(time.Minute)
	v, err := e.svc.Withdraw(ctx, e.tenant, consent.Withdrawal{SubjectID: "u-1", Purposes: []string{"marketing"}})
	if err != nil {
		t.Fatal(err)
	}
	wantPurpose(t, v, "marketing", false)
	wantPurpose(t, v, "terms", true)
	if got, want := v.Purposes["marketing"].At, e.clock.Now(); want.Sub(got) > time.Second {
		t.Fatalf("marketing.at = %v; want the withdrawal's time", got)
	}
	e.tick(time.Minute)
	v, err = e.svc.Withdraw(ctx, e.tenant, consent.Withdrawal{SubjectID: "u-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"terms", "rba", "marketing"} {
		wantPurpose(t, v, p, false)
	}
	if v.LoginAllowed {
		t.Fatal("login_allowed = true after withdrawing everything")
	}
	entries := e.ledger(t, "u-1")
	if len(entries) != 3 {
		t.Fatalf("ledger has %d entries; want 3", len(entries))
	}
	last := entries[2]
	if last.Method != consent.MethodWithdrawal || last.PolicyVersion != "2026-01" || !maps.Equal(last.Purposes, all(false, false, false)) {
		t.Fatalf("withdrawal entry = %+v", last)
	}
	if err := consent.Verify(entries); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Withdraw(ctx, e.tenant, consent.Withdrawal{SubjectID: "u-1", Purposes: []string{"Bad Name"}})
	wantCode(t, err, apperr.CodeValidation)
}

func testRestriction(t *testing.T, open opener) {
	e := newEnv(t, open)
	ctx := t.Context()
	e.record(t, decision("u-1", all(true, true, true)))
	before, _ := e.table.Get(ctx, subject.Key("acme", "u-1", subject.SKConsent))
	v, err := e.svc.SetRestricted(ctx, e.tenant, "u-1", true)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Restricted || !e.get(t, "u-1").Restricted {
		t.Fatal("restricted = false after SetRestricted(true)")
	}
	restricted, _ := e.table.Get(ctx, subject.Key("acme", "u-1", subject.SKConsent))
	if _, err := e.svc.SetRestricted(ctx, e.tenant, "u-1", true); err != nil {
		t.Fatal(err)
	}
	again, _ := e.table.Get(ctx, subject.Key("acme", "u-1", subject.SKConsent))
	if restricted.Version != before.Version+1 || again.Version != restricted.Version {
		t.Fatalf("state versions %d → %d → %d; want one write for one change", before.Version, restricted.Version, again.Version)
	}
	if got, want := len(e.ledger(t, "u-1")), 1; got != want {
		t.Fatalf("ledger has %d entries; restriction is no consent decision, want %d", got, want)
	}

	_, err = e.svc.PutProfile(ctx, e.tenant, "u-1", consent.ProfileInput{FirstName: "Ann"})
	wantCode(t, err, consent.CodeProcessingRestricted)
	if got, want := apperr.KindOf(err), apperr.Locked; got != want {
		t.Fatalf("kind = %v; want 423", got)
	}
	_, err = e.svc.RecordDevice(ctx, e.tenant, "u-1", consent.Device{IP: "203.0.113.9"})
	wantCode(t, err, consent.CodeProcessingRestricted)
	wantAbsent(t, e.table, subject.ProfileKey("acme", "u-1"))

	// A decision with an email keeps no address while restricted.
	d := decision("u-1", map[string]bool{"terms": true})
	d.Email = "ann@example.org"
	e.record(t, d)
	wantAbsent(t, e.table, subject.EmailKey(e.secrets, "acme", "ann@example.org"))

	if _, err := e.svc.SetRestricted(ctx, e.tenant, "u-1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PutProfile(ctx, e.tenant, "u-1", consent.ProfileInput{FirstName: "Ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RecordDevice(ctx, e.tenant, "u-1", consent.Device{IP: "203.0.113.9"}); err != nil {
		t.Fatal(err)
	}
}

func testHistory(t *testing.T, open opener) {
	e := newEnv(t, open)
	const n = 17
	var want []consent.Receipt
	for i := range n {
		want = append(want, e.record(t, decision("u-1", all(true, i%2 == 0, i%3 == 0))))
		e.tick(time.Second)
	}
	// Newest first, in pages.
	ctx := t.Context()
	var got []consent.Entry
	cursor, pages := "", 0
	for {
		page, next, err := e.svc.History(ctx, e.tenant, "u-1", 5, cursor)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page) > 5 {
			t.Fatalf("page of %d entries; limit 5", len(page))
		}
		got = append(got, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	if pages != 4 || len(got) != n {
		t.Fatalf("%d entries in %d pages; want %d in 4", len(got), pages, n)
	}
	for i, g := range got {
		w := want[n-1-i].Entry
		if g.ReceiptID != w.ReceiptID || g.Hash != w.Hash {
			t.Fatalf("entry %d = %s; want %s (newest first)", i, g.ReceiptID, w.ReceiptID)
		}
	}
	slices.Reverse(got)
	if err := consent.Verify(got); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < n; i++ {
		if got[i].PrevHash != got[i-1].Hash {
			t.Fatalf("entry %d does not link to %d", i+1, i)
		}
	}
	if _, _, err := e.svc.History(ctx, e.tenant, "u-1", 5, "garbage"); !errors.Is(err, table.ErrBadCursor) {
		t.Fatalf("History with a bad cursor = %v; want ErrBadCursor", err)
	}
}

func testClockBack(t *testing.T, open opener) {
	e := newEnv(t, open)
	first := e.record(t, decision("u-1", all(true, true, false)))
	e.clock.Set(start.Add(-time.Hour)) // another host's clock, behind
	second := e.record(t, decision("u-1", all(true, false, false)))
	if second.Entry.RecordedAt.Before(first.Entry.RecordedAt) {
		t.Fatalf("second entry at %v, before the first at %v", second.Entry.RecordedAt, first.Entry.RecordedAt)
	}
	entries := e.ledger(t, "u-1")
	if len(entries) != 2 || entries[1].ReceiptID != second.Entry.ReceiptID {
		t.Fatalf("ledger order = %v; want chain order", entries)
	}
	if err := consent.Verify(entries); err != nil {
		t.Fatal(err)
	}
}

// testConcurrent: 100 decisions on one subject at once all land, in one unbroken chain, and the
// state is the last decision.
func testConcurrent(t *testing.T, open opener) {
	e := newEnv(t, open)
	const writers = 100
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			_, err := e.svc.Record(t.Context(), e.tenant, decision("u-1", all(true, i%2 == 0, i%3 == 0)))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	entries := e.ledger(t, "u-1")
	if got, want := len(entries), writers; got != want {
		t.Fatalf("ledger has %d entries; want %d", got, want)
	}
	if err := consent.Verify(entries); err != nil {
		t.Fatal(err)
	}
	receipts := map[string]bool{}
	for _, en := range entries {
		receipts[en.ReceiptID] = true
	}
	if len(receipts) != writers {
		t.Fatalf("%d distinct receipts; want %d", len(receipts), writers)
	}
	last := entries[writers-1]
	v := e.get(t, "u-1")
	for name, granted := range last.Purposes {
		wantPurpose(t, v, name, granted)
		if got, want := v.Purposes[name].At, last.RecordedAt; !got.Equal(want) {
			t.Fatalf("purposes[%s].at = %v; want the last entry's %v", name, got, want)
		}
	}
	var st consent.State
	it, err := e.table.Get(t.Context(), subject.Key("acme", "u-1", subject.SKConsent))
	if err != nil {
		t.Fatal(err)
	}
	if err := it.Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.LastHash != last.Hash || st.Seq != writers || it.Version != writers {
		t.Fatalf("state: seq %d version %d last hash ok %v; want %d, %d, true", st.Seq, it.Version, st.LastHash == last.Hash, writers, writers)
	}
}

func testProfile(t *testing.T, open opener) {
	e := newEnv(t, open)
	ctx := t.Context()
	e.record(t, decision("u-1", all(true, true, false)))
	in := consent.ProfileInput{
		FirstName: "Ann", LastName: "Lee", Username: "ann", Email: " Ann@Example.org ", Phone: "+44 20 7946 0000", Company: "Acme",
		SecurityQuestions: []consent.SecurityAnswer{{Question: "First pet?", Answer: "Rex"}},
	}
	p, err := e.svc.PutProfile(ctx, e.tenant, "u-1", in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Email != "ann@example.org" || p.FirstName != "Ann" || p.SubjectID != "u-1" {
		t.Fatalf("profile = %+v", p)
	}
	if len(p.SecurityQuestions) != 1 || p.SecurityQuestions[0].Question != "First pet?" || p.SecurityQuestions[0].AnswerHash != "" {
		t.Fatalf("returned questions = %+v; want the question without any answer", p.SecurityQuestions)
	}
	got, err := e.svc.GetProfile(ctx, e.tenant, "u-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.SecurityQuestions[0].AnswerHash != "" || got.Phone != in.Phone || got.Company != "Acme" {
		t.Fatalf("GetProfile = %+v", got)
	}

	// Stored: the answer as an argon2id hash only, the subject on its shard.
	it, err := e.table.Get(ctx, subject.ProfileKey("acme", "u-1"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(it.Data), "Rex") {
		t.Fatal("the answer is stored in clear")
	}
	var stored struct {
		subject.Profile
		GSI1PK string `json:"gsi1pk"`
		GSI1SK string `json:"gsi1sk"`
	}
	if err := it.Decode(&stored); err != nil {
		t.Fatal(err)
	}
	wantArgon2id(t, stored.SecurityQuestions[0].AnswerHash, "Rex")
	if !strings.HasPrefix(stored.GSI1PK, "T#acme#SHARD#") || stored.GSI1SK != "S#u-1" {
		t.Fatalf("profile index keys = %q %q", stored.GSI1PK, stored.GSI1SK)
	}
	found := false
	for n := range subject.Shards {
		page, err := e.table.Query(ctx, table.Query{Index: "GSI1", PK: subject.ShardPK("acme", n)})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			found = found || it.Key == subject.ProfileKey("acme", "u-1")
		}
	}
	if !found {
		t.Fatal("the profile is on no shard of GSI1")
	}

	// The email lookup finds the subject; a new address moves it.
	if id, err := subject.FindByEmail(ctx, e.table, e.secrets, "acme", "ann@example.org"); err != nil || id != "u-1" {
		t.Fatalf("FindByEmail = %q, %v", id, err)
	}
	in.Email = "ann@example.net"
	if _, err := e.svc.PutProfile(ctx, e.tenant, "u-1", in); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, e.table, subject.EmailKey(e.secrets, "acme", "ann@example.org"))
	if id, err := subject.FindByEmail(ctx, e.table, e.secrets, "acme", "ann@example.net"); err != nil || id != "u-1" {
		t.Fatalf("FindByEmail(new) = %q, %v", id, err)
	}
	// A profile without email releases the address; fields left out are removed.
	if _, err := e.svc.PutProfile(ctx, e.tenant, "u-1", consent.ProfileInput{Username: "ann"}); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, e.table, subject.EmailKey(e.secrets, "acme", "ann@example.net"))
	got, _ = e.svc.GetProfile(ctx, e.tenant, "u-1")
	if got.FirstName != "" || got.Email != "" || len(got.SecurityQuestions) != 0 || got.Username != "ann" {
		t.Fatalf("profile after replacing = %+v", got)
	}

	_, err = e.svc.PutProfile(ctx, e.tenant, "u-1", consent.ProfileInput{Email: "not an address", Phone: "call me"})
	wantCode(t, err, apperr.CodeValidation)
	ae, _ := apperr.From(err)
	if strings.Contains(fmt.Sprint(ae.Fields, ae.Message), "call me") || len(ae.Fields) != 2 {
		t.Fatalf("validation = %+v; want two fields naming no value", ae.Fields)
	}
}

// testProfileRectified: a profile the intake stored and a rectification then corrected is
// still on its shard of GSI1, where notification runs find every subject.
func testProfileRectified(t *testing.T, open opener) {
	e := newEnv(t, open)
	ctx := t.Context()
	e.record(t, decision("u-1", all(true, true, false)))
	if _, err := e.svc.PutProfile(ctx, e.tenant, "u-1", consent.ProfileInput{FirstName: "Ann", Email: "ann@example.org"}); err != nil {
		t.Fatal(err)
	}
	email, last := "ann.lee@example.org", "Lee"
	if _, err := subject.Rectify(ctx, e.table, e.secrets, e.tenant, "u-1", subject.ProfileChanges{Email: &email, LastName: &last}, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.GetProfile(ctx, e.tenant, "u-1")
	if err != nil || got.LastName != "Lee" || got.FirstName != "Ann" || got.Email != email {
		t.Fatalf("GetProfile = %+v, %v", got, err)
	}
	found := false
	for n := range subject.Shards {
		page, err := e.table.Query(ctx, table.Query{Index: "GSI1", PK: subject.ShardPK("acme", n)})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			found = found || it.Key == subject.ProfileKey("acme", "u-1")
		}
	}
	if !found {
		t.Fatal("the rectified profile is on no shard of GSI1")
	}
	wantAbsent(t, e.table, subject.EmailKey(e.secrets, "acme", "ann@example.org"))
	if id, err := subject.FindByEmail(ctx, e.table, e.secrets, "acme", email); err != nil || id != "u-1" {
		t.Fatalf("FindByEmail(rectified) = %q, %v", id, err)
	}
}

// wantArgon2id checks a PHC-format argon2id hash of answer by recomputing it, as an auditor
// with only the stored string would.
func wantArgon2id(t *testing.T, phc, answer string) {
	t.Helper()
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		t.Fatalf("hash %q is not argon2id in PHC format", phc)
	}
	var m, it uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &it, &p); err != nil {
		t.Fatalf("parameters %q: %v", parts[3], err)
	}
	if m < 19*1024 || it < 2 || p < 1 {
		t.Fatalf("parameters m=%d t=%d p=%d; want at least OWASP's m=19456 t=2 p=1", m, it, p)
	}
	salt, _ := base64.RawStdEncoding.DecodeString(parts[4])
	key, _ := base64.RawStdEncoding.DecodeString(parts[5])
	if len(salt) < 16 || len(key) < 32 {
		t.Fatalf("salt %d bytes, key %d bytes", len(salt), len(key))
	}
	if got := argon2.IDKey([]byte(answer), salt, it, m, p, uint32(len(key))); string(got) != string(key) {
		t.Fatal("the hash does not verify the answer")
	}
}

func testProfileEmailUnique(t *testing.T, open opener) {
	e := newEnv(t, open)
	ctx := t.Context()
	e.record(t, decision("u-1", all(true, true, false)))
	e.record(t, decision("u-2", all(true, true, false)))
	if _, err := e.svc.PutProfile(ctx, e.tenant, "u-1", consent.ProfileInput{FirstName: "Ann", Email: "ann@example.org"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.PutProfile(ctx, e.tenant, "u-2", consent.ProfileInput{FirstName: "Bo", Email: "ANN@example.org"})
	wantCode(t, err, consent.CodeEmailInUse)
	wantAbsent(t, e.table, subject.ProfileKey("acme", "u-2"))
	if id, _ := subject.FindByEmail(ctx, e.table, e.secrets, "acme", "ann@example.org"); id != "u-1" {
		t.Fatalf("lookup names %q; want u-1", id)
	}
	// Same address, same subject: no conflict with itself.
	if _, err := e.svc.PutProfile(ctx, e.tenant, "u-1", consent.ProfileInput{FirstName: "Ann B.", Email: "ann@example.org"}); err != nil {
		t.Fatal(err)
	}
	// Another tenant may hold the same address.
	e.tenant = "beta"
	e.record(t, decision("u-9", all(true, true, false)))
	if _, err := e.svc.PutProfile(ctx, "beta", "u-9", consent.ProfileInput{Email: "ann@example.org"}); err != nil {
		t.Fatal(err)
	}
}

func testDecisionEmail(t *testing.T, open opener) {
	e := newEnv(t, open)
	ctx := t.Context()
	d := decision("u-1", all(true, true, false))
	d.Email = "Ann@Example.org"
	e.record(t, d)
	p, err := e.svc.GetProfile(ctx, e.tenant, "u-1")
	if err != nil || p.Email != "ann@example.org" {
		t.Fatalf("profile after a decision with email = %+v, %v", p, err)
	}
	if id, err := subject.FindByEmail(ctx, e.table, e.secrets, "acme", "ann@example.org"); err != nil || id != "u-1" {
		t.Fatalf("FindByEmail = %q, %v", id, err)
	}
	// The address on file is not replaced by a later decision's.
	d.Email = "other@example.org"
	e.record(t, d)
	if p, _ := e.svc.GetProfile(ctx, e.tenant, "u-1"); p.Email != "ann@example.org" {
		t.Fatalf("email = %q; want the one on file", p.Email)
	}
	wantAbsent(t, e.table, subject.EmailKey(e.secrets, "acme", "other@example.org"))

	// An address another subject holds refuses the decision, storing nothing.
	d = decision("u-2", all(true, true, false))
	d.Email = "ann@example.org"
	_, err = e.svc.Record(ctx, e.tenant, d)
	wantCode(t, err, consent.CodeEmailInUse)
	wantAbsent(t, e.table, subject.Key("acme", "u-2", subject.SKConsent))

	// A subject who refuses the terms has no address kept.
	d = decision("u-3", all(false, false, false))
	d.Email = "cy@example.org"
	e.record(t, d)
	wantAbsent(t, e.table, subject.ProfileKey("acme", "u-3"))
	wantAbsent(t, e.table, subject.EmailKey(e.secrets, "acme", "cy@example.org"))

	// A profile without email gets the decision's, and keeps its other fields.
	e.record(t, decision("u-4", all(true, true, false)))
	if _, err := e.svc.PutProfile(ctx, e.tenant, "u-4", consent.ProfileInput{FirstName: "Di"}); err != nil {
		t.Fatal(err)
	}
	d = decision("u-4", map[string]bool{"marketing": true})
	d.Email = "di@example.org"
	e.record(t, d)
	if p, _ := e.svc.GetProfile(ctx, e.tenant, "u-4"); p.Email != "di@example.org" || p.FirstName != "Di" {
		t.Fatalf("profile = %+v; want the first name kept and the email added", p)
	}

	d.Email = "not-an-address"
	_, err = e.svc.Record(ctx, e.tenant, d)
	wantCode(t, err, apperr.CodeValidation)
}

func testDevices(t *testing.T, open opener) {
	e := newEnv(t, open)
	ctx := t.Context()
	e.record(t, decision("u-1", all(true, true, false)))
	dev := consent.Device{IP: "2001:db8::1", Location: "London, GB", Browser: "Firefox 146", DeviceType: "desktop", Language: "en-GB", UserAgent: "Mozilla/5.0", Fingerprint: "fp-1"}
	rc, err := e.svc.RecordDevice(ctx, e.tenant, "u-1", dev)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rc.ID, "dev_") || rc.ExpiresAt.Sub(rc.SeenAt) != 90*24*time.Hour {
		t.Fatalf("receipt = %+v; want a dev_ id and 90 days", rc)
	}
	if rc.SeenAt.Sub(start) > time.Second || rc.SeenAt.Before(start) {
		t.Fatalf("seen_at = %v; want the time received", rc.SeenAt)
	}
	page, err := e.table.Query(ctx, table.Query{PK: subject.PK("acme", "u-1"), Prefix: subject.SKDevicePrefix})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("devices stored: %d, %v", len(page.Items), err)
	}
	var stored consent.StoredDevice
	if err := page.Items[0].Decode(&stored); err != nil {
		t.Fatal(err)
	}
	if stored.ID != rc.ID || stored.IP != dev.IP || stored.Fingerprint != "fp-1" || stored.TTL != rc.ExpiresAt.Unix() {
		t.Fatalf("stored device = %+v", stored)
	}
	// The retention job finds it on the expiry index, on the day it expires.
	ix, err := e.table.Query(ctx, table.Query{Index: expiry.IndexName, PK: expiry.DayPK("acme", rc.ExpiresAt), To: expiry.Until(rc.ExpiresAt)})
	if err != nil || len(ix.Items) != 1 || ix.Items[0].Key != page.Items[0].Key {
		t.Fatalf("expiry index = %+v, %v", ix.Items, err)
	}

	seen := start.Add(-24 * time.Hour)
	rc, err = e.svc.RecordDevice(ctx, e.tenant, "u-1", consent.Device{Browser: "Safari", SeenAt: seen})
	if err != nil {
		t.Fatal(err)
	}
	if !rc.SeenAt.Equal(seen) || !rc.ExpiresAt.Equal(seen.Add(90*24*time.Hour)) {
		t.Fatalf("receipt = %+v; want retention counted from seen_at", rc)
	}
	for name, d := range map[string]consent.Device{
		"Future":  {Browser: "x", SeenAt: start.Add(time.Hour)},
		"TooOld":  {Browser: "x", SeenAt: start.Add(-91 * 24 * time.Hour)},
		"Empty":   {},
		"BadIP":   {IP: "999.1.1.1"},
		"Control": {Browser: "a\nb"},
	} {
		_, err := e.svc.RecordDevice(ctx, e.tenant, "u-1", d)
		if e, ok := apperr.From(err); !ok || e.Code != apperr.CodeValidation {
			t.Fatalf("%s: err = %v; want validation_failed", name, err)
		}
	}
}

func testDeviceRetention(t *testing.T, open opener) {
	e := newEnv(t, open, func(tn *tenant.Tenant) { tn.DeviceRetentionDays = 7 })
	e.record(t, decision("u-1", all(true, true, false)))
	rc, err := e.svc.RecordDevice(t.Context(), e.tenant, "u-1", consent.Device{Browser: "Firefox"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rc.ExpiresAt.Sub(rc.SeenAt), 7*24*time.Hour; got != want {
		t.Fatalf("kept for %v; want the tenant's %v", got, want)
	}
}

func testErased(t *testing.T, open opener) {
	e := newEnv(t, open)
	ctx := t.Context()
	first := e.record(t, decision("u-1", all(true, true, true)))
	// Erasure (another feature) leaves the state flagged erased.
	k := subject.Key("acme", "u-1", subject.SKConsent)
	it, err := e.table.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	var st consent.State
	if err := it.Decode(&st); err != nil {
		t.Fatal(err)
	}
	st.Erased = true
	erased, _ := table.NewItem(k, it.Version, st)
	if err := e.table.Put(ctx, erased, table.VersionIs(it.Version)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Get(ctx, e.tenant, "u-1"); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("Get(erased) = %v; want ErrNotFound", err)
	}
	if _, _, err := e.svc.History(ctx, e.tenant, "u-1", 10, ""); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("History(erased) = %v; want ErrNotFound", err)
	}
	if _, err := e.svc.Withdraw(ctx, e.tenant, consent.Withdrawal{SubjectID: "u-1"}); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("Withdraw(erased) = %v; want ErrNotFound", err)
	}
	_, err = e.svc.PutProfile(ctx, e.tenant, "u-1", consent.ProfileInput{FirstName: "Ann"})
	wantCode(t, err, consent.CodeConsentRequired)

	// A new decision starts the subject afresh; the chain goes on.
	rc := e.record(t, decision("u-1", map[string]bool{"terms": true}))
	if rc.Entry.Seq != 2 || rc.Entry.PrevHash != first.Entry.Hash {
		t.Fatalf("entry after erasure: seq %d, links %v", rc.Entry.Seq, rc.Entry.PrevHash == first.Entry.Hash)
	}
	v := e.get(t, "u-1")
	wantPurpose(t, v, "rba", false)
	wantPurpose(t, v, "marketing", false)
	if !v.LoginAllowed {
		t.Fatal("login_allowed = false after terms granted anew")
	}
}

func testPolicies(t *testing.T, open opener) {
	e := newEnv(t, open)
	ctx := t.Context()
	e.withPolicies()
	d := decision("u-1", all(true, true, false))
	d.PolicyVersion = "anything-1"
	e.record(t, d) // nothing published: any version is accepted
	if e.get(t, "u-1").ReconsentRequired {
		t.Fatal("reconsent_required with no policy published")
	}

	// Once one is published, decisions must name a published version.
	e.publish(t, "2026-01", false, 31)
	d.PolicyVersion = "2025-12"
	_, err := e.svc.Record(ctx, e.tenant, d)
	wantCode(t, err, consent.CodeUnknownPolicyVersion)
	if got, want := apperr.KindOf(err), apperr.NotFound; got != want {
		t.Fatalf("kind = %v; want 404", got)
	}
	d.PolicyVersion = "2026-01"
	e.record(t, d)

	// A version that is not material asks for no new consent when it takes effect.
	e.tick(32 * 24 * time.Hour)
	if e.get(t, "u-1").ReconsentRequired {
		t.Fatal("reconsent_required after a version that is not material took effect")
	}

	// A material one does, once in effect, for those who decided on terms before it;
	// not for a subject who accepted it while it was announced.
	e.publish(t, "2026-02", true, 31)
	e.record(t, decision("u-2", all(true, false, false))) // decision() names 2026-01
	d2 := decision("u-3", all(true, false, false))
	d2.PolicyVersion = "2026-02"
	e.record(t, d2)
	if e.get(t, "u-1").ReconsentRequired {
		t.Fatal("reconsent_required before the material version takes effect")
	}
	e.tick(32 * 24 * time.Hour)
	v := e.get(t, "u-1")
	if !v.ReconsentRequired {
		t.Fatal("reconsent_required = false after a material version took effect")
	}
	if !v.LoginAllowed {
		t.Fatal("login_allowed changed with reconsent_required: the plugin decides, the state tells")
	}
	if !e.get(t, "u-2").ReconsentRequired {
		t.Fatal("reconsent_required = false for a subject who accepted the old version")
	}
	if e.get(t, "u-3").ReconsentRequired {
		t.Fatal("reconsent_required = true for a subject who accepted the version before it took effect")
	}
	// A decision on another purpose is no new consent to the policy.
	if _, err := e.svc.Withdraw(ctx, e.tenant, consent.Withdrawal{SubjectID: "u-1", Purposes: []string{"marketing"}}); err != nil {
		t.Fatal(err)
	}
	if !e.get(t, "u-1").ReconsentRequired {
		t.Fatal("reconsent_required cleared by a decision that is not about terms")
	}
	d.PolicyVersion = "2026-02"
	if rc := e.record(t, d); rc.State.ReconsentRequired {
		t.Fatal("reconsent_required = true after a new terms decision")
	}
}

func testTenantIsolation(t *testing.T, open opener) {
	e := newEnv(t, open)
	ctx := t.Context()
	e.record(t, decision("u-1", all(true, true, false)))
	if _, err := e.svc.PutProfile(ctx, "acme", "u-1", consent.ProfileInput{Email: "ann@example.org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Get(ctx, "beta", "u-1"); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("Get from another tenant = %v; want ErrNotFound", err)
	}
	if _, err := e.svc.GetProfile(ctx, "beta", "u-1"); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("GetProfile from another tenant = %v; want ErrNotFound", err)
	}
	if _, _, err := e.svc.History(ctx, "beta", "u-1", 10, ""); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("History from another tenant = %v; want ErrNotFound", err)
	}
	if _, err := e.svc.Withdraw(ctx, "beta", consent.Withdrawal{SubjectID: "u-1"}); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("Withdraw from another tenant = %v; want ErrNotFound", err)
	}
	_, err := e.svc.PutProfile(ctx, "beta", "u-1", consent.ProfileInput{FirstName: "x"})
	wantCode(t, err, consent.CodeConsentRequired)
	if !e.get(t, "u-1").LoginAllowed {
		t.Fatal("tenant A's subject changed")
	}
}

func testRequiredPurpose(t *testing.T, open opener) {
	e := newEnv(t, open, func(tn *tenant.Tenant) {
		tn.Purposes = append(tn.Purposes, tenant.Purpose{Name: "age_check", Required: true})
	})
	e.record(t, decision("u-1", all(true, true, false)))
	v := e.get(t, "u-1")
	if v.LoginAllowed {
		t.Fatal("login_allowed = true without the tenant's other required purpose")
	}
	if _, ok := v.Purposes["age_check"]; !ok {
		t.Fatalf("purposes = %v; want every purpose of the tenant's list", v.Purposes)
	}
	e.record(t, decision("u-1", map[string]bool{"age_check": true}))
	if !e.get(t, "u-1").LoginAllowed {
		t.Fatal("login_allowed = false with every required purpose granted")
	}
}
