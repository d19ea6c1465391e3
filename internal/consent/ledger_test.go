package consent_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/consent"
)

// TestCanonical pins the documented canonical form: an auditor recomputes a hash from a stored
// entry with this text and SHA-256 alone.
func TestCanonical(t *testing.T) {
	salt := []byte("0123456789abcdef")
	ev := consent.Evidence{IP: "203.0.113.9", UserAgent: "UA/1.0", Locale: "en"}
	e := consent.Entry{
		ReceiptID:      "rcpt_AAAAAAAAAAAAAAAAAAAAAA",
		Seq:            2,
		Tenant:         "acme",
		Subject:        "ps_pseudonym",
		RecordedAt:     time.Date(2026, 11, 28, 16, 47, 0, 120000000, time.UTC),
		PolicyVersion:  "2026-01",
		Purposes:       map[string]bool{"terms": true, "marketing": false, "rba": true},
		Method:         consent.MethodWebForm,
		GPC:            true,
		Evidence:       &ev,
		EvidenceSalt:   base64.RawURLEncoding.EncodeToString(salt),
		EvidenceDigest: consent.EvidenceDigest(salt, ev),
		PrevHash:       strings.Repeat("ab", 32),
	}
	want := "gdpr-consent-ledger/1\n" +
		"tenant=acme\n" +
		"subject=ps_pseudonym\n" +
		"seq=2\n" +
		"receipt_id=rcpt_AAAAAAAAAAAAAAAAAAAAAA\n" +
		"recorded_at=2026-11-28T16:47:00.12Z\n" +
		"policy_version=2026-01\n" +
		"method=web_form\n" +
		"gpc=true\n" +
		"purposes=marketing:false,rba:true,terms:true\n" +
		"evidence_digest=" + e.EvidenceDigest + "\n" +
		"request_id=\n" +
		"prev_hash=" + strings.Repeat("ab", 32) + "\n"
	if got := string(e.Canonical()); got != want {
		t.Fatalf("canonical form =\n%s\nwant\n%s", got, want)
	}
	sum := sha256.Sum256([]byte(want))
	if got, want := e.ComputeHash(), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("hash = %s; want %s", got, want)
	}
	evSum := sha256.Sum256(append(salt, "ip=203.0.113.9\nuser_agent=UA/1.0\nlocale=en\n"...))
	if got, want := e.EvidenceDigest, hex.EncodeToString(evSum[:]); got != want {
		t.Fatalf("evidence digest = %s; want %s", got, want)
	}
}

// chain builds a valid ledger of n entries.
func chain(n int) []consent.Entry {
	var out []consent.Entry
	prev := ""
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		ev := consent.Evidence{IP: "198.51.100.7", UserAgent: "UA"}
		salt := []byte{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
		e := consent.Entry{
			ReceiptID: "rcpt_" + strings.Repeat(string(rune('a'+i)), 22), Seq: int64(i + 1), Tenant: "acme", Subject: "ps_x",
			RecordedAt: at.Add(time.Duration(i) * time.Minute), PolicyVersion: "2026-01",
			Purposes: map[string]bool{"terms": true, "marketing": i%2 == 0}, Method: consent.MethodWebForm,
			Evidence: &ev, EvidenceSalt: base64.RawURLEncoding.EncodeToString(salt), EvidenceDigest: consent.EvidenceDigest(salt, ev),
			PrevHash: prev,
		}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

func TestVerify(t *testing.T) {
	if err := consent.Verify(chain(5)); err != nil {
		t.Fatalf("valid chain: %v", err)
	}
	if err := consent.Verify(nil); err != nil {
		t.Fatalf("empty chain: %v", err)
	}
	for name, tamper := range map[string]func([]consent.Entry) []consent.Entry{
		"PurposeChanged": func(es []consent.Entry) []consent.Entry {
			es[2].Purposes["marketing"] = !es[2].Purposes["marketing"]
			return es
		},
		"EntryRemoved":   func(es []consent.Entry) []consent.Entry { return append(es[:2], es[3:]...) },
		"EntriesSwapped": func(es []consent.Entry) []consent.Entry { es[1], es[2] = es[2], es[1]; return es },
		"TimeChanged": func(es []consent.Entry) []consent.Entry {
			es[3].RecordedAt = es[3].RecordedAt.Add(time.Second)
			return es
		},
		"EvidenceChanged": func(es []consent.Entry) []consent.Entry { es[1].Evidence.IP = "198.51.100.8"; return es },
		"VersionChanged":  func(es []consent.Entry) []consent.Entry { es[4].PolicyVersion = "2026-02"; return es },
		"Rehashed": func(es []consent.Entry) []consent.Entry {
			es[1].Method = consent.MethodImport
			es[1].Hash = es[1].ComputeHash() // the next entry still links to the old hash
			return es
		},
	} {
		t.Run(name, func(t *testing.T) {
			if err := consent.Verify(tamper(chain(5))); !errors.Is(err, consent.ErrChainBroken) {
				t.Fatalf("Verify = %v; want ErrChainBroken", err)
			}
		})
	}
	// Erasure may drop the evidence and keep the digest: the chain still verifies.
	es := chain(3)
	for i := range es {
		es[i].Evidence, es[i].EvidenceSalt = nil, ""
	}
	if err := consent.Verify(es); err != nil {
		t.Fatalf("chain without evidence: %v", err)
	}
}

func TestDecisionValidate(t *testing.T) {
	valid := func() consent.Decision {
		return consent.Decision{SubjectID: "u-1", PolicyVersion: "2026-01", Purposes: map[string]bool{"terms": true}, Method: consent.MethodWebForm}
	}
	if d := valid(); d.Validate() != nil {
		t.Fatalf("valid decision refused: %v", d.Validate())
	}
	for name, c := range map[string]struct {
		change func(*consent.Decision)
		field  string
	}{
		"SubjectID":        {func(d *consent.Decision) { d.SubjectID = "" }, "subject_id"},
		"SubjectIDHash":    {func(d *consent.Decision) { d.SubjectID = "a#b" }, "subject_id"},
		"Email":            {func(d *consent.Decision) { d.Email = "ann" }, "email"},
		"PolicyVersion":    {func(d *consent.Decision) { d.PolicyVersion = "2026/01" }, "policy_version"},
		"NoPurposes":       {func(d *consent.Decision) { d.Purposes = nil }, "purposes"},
		"PurposeName":      {func(d *consent.Decision) { d.Purposes = map[string]bool{"Terms!": true} }, "purposes"},
		"Method":           {func(d *consent.Decision) { d.Method = "withdrawal" }, "method"},
		"EvidenceIP":       {func(d *consent.Decision) { d.Evidence.IP = "203.0.113.300" }, "evidence.ip"},
		"EvidenceUA":       {func(d *consent.Decision) { d.Evidence.UserAgent = "a\nb" }, "evidence.user_agent"},
		"EvidenceLocale":   {func(d *consent.Decision) { d.Evidence.Locale = "en_GB!" }, "evidence.locale"},
		"EvidenceUALength": {func(d *consent.Decision) { d.Evidence.UserAgent = strings.Repeat("a", 1025) }, "evidence.user_agent"},
	} {
		t.Run(name, func(t *testing.T) {
			d := valid()
			c.change(&d)
			err := d.Validate()
			e, ok := apperr.From(err)
			if !ok || e.Code != apperr.CodeValidation {
				t.Fatalf("err = %v; want validation_failed", err)
			}
			if len(e.Fields) != 1 || e.Fields[0].Field != c.field {
				t.Fatalf("fields = %+v; want %s", e.Fields, c.field)
			}
		})
	}
	d := valid()
	d.Email = " Ann@Example.ORG "
	if err := d.Validate(); err != nil || d.Email != "ann@example.org" {
		t.Fatalf("email = %q, %v; want it normalized", d.Email, err)
	}
}

func TestWithdrawalValidate(t *testing.T) {
	for name, w := range map[string]consent.Withdrawal{
		"BadName":   {SubjectID: "u-1", Purposes: []string{"UPPER"}},
		"Twice":     {SubjectID: "u-1", Purposes: []string{"rba", "rba"}},
		"BadID":     {SubjectID: "", Purposes: nil},
		"TooMany":   {SubjectID: "u-1", Purposes: make([]string, 65)},
		"EmptyName": {SubjectID: "u-1", Purposes: []string{""}},
	} {
		t.Run(name, func(t *testing.T) {
			if e, ok := apperr.From(w.Validate()); !ok || e.Code != apperr.CodeValidation {
				t.Fatalf("Validate = %v; want validation_failed", w.Validate())
			}
		})
	}
	w := consent.Withdrawal{SubjectID: "u-1"}
	if err := w.Validate(); err != nil {
		t.Fatalf("withdraw everything refused: %v", err)
	}
}
