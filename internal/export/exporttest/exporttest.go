// Package exporttest reads an export package back and checks every file against what a test
// stored about the subject: the export's own tests and the end-to-end flows share it, so both
// homes are held to one reading of API.md's Export section.
package exporttest

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fixture is what a test stored about one subject, with values chosen to catch mistakes: a
// security answer that must appear nowhere, a markup value that must be escaped, and cells
// that a spreadsheet would run as formulas.
type Fixture struct {
	Tenant    string
	RequestID string
	SubjectID string
	FirstName string
	Email     string
	Question  string
	// Answer is the security answer in clear; no file may hold it.
	Answer string
	// Devices is how many device observations are held; FormulaLocation the location of one
	// of them (starting with "="), Markup another's browser (with < and >).
	Devices         int
	FormulaLocation string
	Markup          string
	// Decisions is how many consent ledger entries are held; FormulaUserAgent the evidence
	// user agent of one (starting with "@" or "-").
	Decisions        int
	FormulaUserAgent string
	// DeviceRetentionDays and LinkDays are the tenant's settings.
	DeviceRetentionDays int
	LinkDays            int
}

// Unzip returns the files of a ZIP archive by name.
func Unzip(t testing.TB, b []byte) map[string][]byte {
	t.Helper()
	z, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a ZIP archive: %v", err)
	}
	files := map[string][]byte{}
	for _, f := range z.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("open %s: %v", f.Name, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", f.Name, err)
		}
		if _, dup := files[f.Name]; dup {
			t.Fatalf("%s twice in the archive", f.Name)
		}
		files[f.Name] = data
	}
	return files
}

// Data is data.json as a reader sees it.
type Data struct {
	SchemaVersion int `json:"schema_version"`
	Export        struct {
		Type      string `json:"type"`
		Tenant    string `json:"tenant"`
		RequestID string `json:"request_id"`
	} `json:"export"`
	SubjectID string         `json:"subject_id"`
	Profile   map[string]any `json:"profile"`
	Consent   *struct {
		Purposes map[string]struct {
			Granted bool `json:"granted"`
		} `json:"purposes"`
	} `json:"consent"`
	Ledger []struct {
		ReceiptID string          `json:"receipt_id"`
		Seq       int64           `json:"seq"`
		Hash      string          `json:"hash"`
		Purposes  map[string]bool `json:"purposes"`
		Evidence  *struct {
			IP        string `json:"ip"`
			UserAgent string `json:"user_agent"`
		} `json:"evidence"`
	} `json:"consent_ledger"`
	Decisions []map[string]any `json:"consent_decisions"`
	Devices   []map[string]any `json:"devices"`
	Requests  []struct {
		ID           string `json:"id"`
		Type         string `json:"type"`
		ContactEmail string `json:"contact_email"`
		Timeline     []any  `json:"timeline"`
	} `json:"requests"`
}

// CheckAccess checks an access request's package and returns its data.json.
func CheckAccess(t testing.TB, files map[string][]byte, f Fixture) Data {
	t.Helper()
	names := slices.Sorted(maps.Keys(files))
	if want := []string{"consents.csv", "data.json", "devices.csv", "index.html", "processing.json"}; !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	noSecrets(t, files, f)
	d := checkData(t, files["data.json"], f, "access")
	if len(d.Devices) != f.Devices {
		t.Fatalf("data.json: %d devices, want %d", len(d.Devices), f.Devices)
	}
	var formula bool
	for _, dev := range d.Devices {
		for _, field := range []string{"id", "seen_at", "received_at", "expires_at"} {
			if dev[field] == nil || dev[field] == "" {
				t.Fatalf("data.json: a device has no %s: %v", field, dev)
			}
		}
		for _, field := range []string{"ttl", "xpk", "xsk", "xkind"} {
			if _, ok := dev[field]; ok {
				t.Fatalf("data.json: a device carries the internal attribute %s", field)
			}
		}
		formula = formula || dev["location"] == f.FormulaLocation
	}
	if f.FormulaLocation != "" && !formula {
		t.Fatal("data.json: the location starting with = is not kept exactly")
	}
	if len(d.Ledger) != f.Decisions {
		t.Fatalf("data.json: %d ledger entries, want %d", len(d.Ledger), f.Decisions)
	}
	for i, e := range d.Ledger {
		if e.Seq != int64(i+1) || e.ReceiptID == "" || len(e.Hash) != 64 || len(e.Purposes) == 0 {
			t.Fatalf("data.json: ledger entry %d incomplete: %+v", i, e)
		}
	}
	if d.Consent == nil || len(d.Consent.Purposes) == 0 {
		t.Fatal("data.json: no consent state")
	}
	if !slices.ContainsFunc(d.Requests, func(r struct {
		ID           string `json:"id"`
		Type         string `json:"type"`
		ContactEmail string `json:"contact_email"`
		Timeline     []any  `json:"timeline"`
	}) bool {
		// The address the request writes to, opened from its sealed form.
		return r.ID == f.RequestID && r.Type == "access" && r.ContactEmail == f.Email && len(r.Timeline) > 0
	}) {
		t.Fatalf("data.json: the request %s, with its contact address, is not among the subject's requests", f.RequestID)
	}
	checkDevicesCSV(t, files["devices.csv"], f)
	checkConsentsCSV(t, files["consents.csv"], f)
	checkProcessing(t, files["processing.json"], f)
	checkIndex(t, files["index.html"], f)
	return d
}

// CheckPortability checks a portability request's package: data.json alone, with the
// profile and the consent decisions, and nothing observed about the subject.
func CheckPortability(t testing.TB, files map[string][]byte, f Fixture) Data {
	t.Helper()
	if names := slices.Sorted(maps.Keys(files)); !slices.Equal(names, []string{"data.json"}) {
		t.Fatalf("files %v, want data.json alone", names)
	}
	noSecrets(t, files, f)
	d := checkData(t, files["data.json"], f, "portability")
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(files["data.json"], &raw); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"devices", "consent_ledger", "requests", "consent"} {
		if _, ok := raw[field]; ok {
			t.Fatalf("portability data.json holds %s, which the subject did not provide", field)
		}
	}
	if len(d.Decisions) != f.Decisions {
		t.Fatalf("%d consent decisions, want %d", len(d.Decisions), f.Decisions)
	}
	for _, dec := range d.Decisions {
		if dec["receipt_id"] == "" || dec["purposes"] == nil || dec["method"] == "" {
			t.Fatalf("decision incomplete: %v", dec)
		}
		if _, ok := dec["evidence"]; ok {
			t.Fatal("a portability decision carries evidence, which was observed, not provided")
		}
	}
	if bytes.Contains(files["data.json"], []byte(f.FormulaLocation)) {
		t.Fatal("portability data.json holds a device observation")
	}
	return d
}

func checkData(t testing.TB, b []byte, f Fixture, typ string) Data {
	t.Helper()
	var d Data
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("data.json is not JSON: %v", err)
	}
	if d.SchemaVersion != 1 || d.Export.Type != typ || d.Export.Tenant != f.Tenant || d.Export.RequestID != f.RequestID || d.SubjectID != f.SubjectID {
		t.Fatalf("data.json head: %+v", d)
	}
	if d.Profile == nil {
		t.Fatal("data.json: no profile")
	}
	if d.Profile["first_name"] != f.FirstName || d.Profile["email"] != f.Email {
		t.Fatalf("data.json: profile %v", d.Profile)
	}
	qs, _ := d.Profile["security_questions"].([]any)
	if len(qs) != 1 {
		t.Fatalf("data.json: security questions %v", d.Profile["security_questions"])
	}
	q, _ := qs[0].(map[string]any)
	if len(q) != 1 || q["question"] != f.Question {
		t.Fatalf("data.json: security question %v, want the question alone", q)
	}
	return d
}

// noSecrets checks that no file holds the security answer, its hash, or a verification secret.
func noSecrets(t testing.TB, files map[string][]byte, f Fixture) {
	t.Helper()
	for name, b := range files {
		for _, bad := range []string{f.Answer, "$argon2id$", "answer_hash", "code_hash", "token_hash", `"answer"`} {
			if bytes.Contains(b, []byte(bad)) {
				t.Fatalf("%s holds %q", name, bad)
			}
		}
		if !utf8.Valid(b) {
			t.Fatalf("%s is not UTF-8", name)
		}
	}
}

func readCSV(t testing.TB, name string, b []byte, header []string) [][]string {
	t.Helper()
	if !bytes.HasSuffix(b, []byte("\r\n")) {
		t.Fatalf("%s: lines do not end in CRLF (RFC 4180)", name)
	}
	r := csv.NewReader(bytes.NewReader(b))
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], header) {
		t.Fatalf("%s: header %v, want %v", name, rows[0], header)
	}
	for i, row := range rows[1:] {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Fatalf("%s: row %d has a cell a spreadsheet would run: %q", name, i+1, cell)
			}
		}
	}
	return rows[1:]
}

func checkDevicesCSV(t testing.TB, b []byte, f Fixture) {
	t.Helper()
	rows := readCSV(t, "devices.csv", b, []string{"id", "seen_at", "received_at", "expires_at", "ip", "location", "browser", "device_type", "language", "user_agent", "fingerprint"})
	if len(rows) != f.Devices {
		t.Fatalf("devices.csv: %d rows, want %d", len(rows), f.Devices)
	}
	if f.FormulaLocation != "" && !slices.ContainsFunc(rows, func(r []string) bool { return r[5] == "'"+f.FormulaLocation }) {
		t.Fatalf("devices.csv: the location %q is not neutralised to '%s", f.FormulaLocation, f.FormulaLocation)
	}
}

func checkConsentsCSV(t testing.TB, b []byte, f Fixture) {
	t.Helper()
	rows := readCSV(t, "consents.csv", b, []string{"seq", "receipt_id", "recorded_at", "policy_version", "method", "purposes", "gpc", "evidence_ip", "evidence_user_agent", "evidence_locale", "request_id", "prev_hash", "hash"})
	if len(rows) != f.Decisions {
		t.Fatalf("consents.csv: %d rows, want %d", len(rows), f.Decisions)
	}
	if f.FormulaUserAgent != "" && !slices.ContainsFunc(rows, func(r []string) bool { return r[8] == "'"+f.FormulaUserAgent }) {
		t.Fatalf("consents.csv: the user agent %q is not neutralised", f.FormulaUserAgent)
	}
}

// Processing is the part of processing.json the checks read.
type Processing struct {
	Coverage map[string]string `json:"art15_coverage"`
	Purposes []struct {
		Name       string   `json:"name"`
		LegalBasis string   `json:"legal_basis"`
		Article    string   `json:"legal_basis_article"`
		Categories []string `json:"categories"`
	} `json:"purposes"`
	Categories []struct {
		Key    string `json:"key"`
		Source string `json:"source"`
		Held   bool   `json:"held"`
		Count  int64  `json:"count"`
	} `json:"categories"`
	Recipients []struct {
		Name string `json:"name"`
		Role string `json:"role"`
	} `json:"recipients"`
	Retention []struct {
		Category string `json:"category"`
		Period   string `json:"period"`
		Days     int    `json:"days"`
	} `json:"retention"`
	Rights []struct {
		Right   string `json:"right"`
		Article string `json:"article"`
	} `json:"rights"`
	Automated []struct {
		Name         string `json:"name"`
		Logic        string `json:"logic"`
		Significance string `json:"significance"`
		Applies      bool   `json:"applies_to_you"`
	} `json:"automated_decisions"`
}

// checkProcessing checks that processing.json answers every point of Art. 15(1)(a)-(h).
func checkProcessing(t testing.TB, b []byte, f Fixture) {
	t.Helper()
	var p Processing
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("processing.json: %v", err)
	}
	var raw map[string]json.RawMessage
	json.Unmarshal(b, &raw)
	for _, letter := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		field, _, _ := strings.Cut(p.Coverage[letter], "[")
		if v, ok := raw[field]; !ok || len(v) < 3 {
			t.Fatalf("processing.json: Art. 15(1)(%s) points at %q, which is missing or empty", letter, p.Coverage[letter])
		}
	}
	if len(p.Purposes) < 3 {
		t.Fatalf("processing.json: purposes %v", p.Purposes)
	}
	for _, pu := range p.Purposes {
		if pu.LegalBasis == "" || !strings.Contains(pu.Article, "Art. 6(1)") || len(pu.Categories) == 0 {
			t.Fatalf("processing.json: purpose %+v lacks its legal basis or categories", pu)
		}
	}
	held := map[string]int64{}
	for _, c := range p.Categories {
		if c.Source == "" {
			t.Fatalf("processing.json: category %s has no source (Art. 15(1)(g))", c.Key)
		}
		held[c.Key] = c.Count
	}
	if held["devices"] != int64(f.Devices) || held["consent_ledger"] != int64(f.Decisions) || held["profile"] != 1 || held["requests"] < 1 {
		t.Fatalf("processing.json: counts held %v", held)
	}
	var hosting, authenticator bool
	for _, r := range p.Recipients {
		hosting = hosting || strings.Contains(r.Name, "Amazon Web Services")
		authenticator = authenticator || strings.Contains(strings.ToLower(r.Name), "authenticator application")
	}
	if !hosting || !authenticator {
		t.Fatalf("processing.json: recipients %v lack the hosting processor or the authenticator application owner", p.Recipients)
	}
	days := map[string]int{}
	for _, r := range p.Retention {
		if r.Period == "" {
			t.Fatalf("processing.json: retention of %s has no period", r.Category)
		}
		days[r.Category] = r.Days
	}
	if days["devices"] != f.DeviceRetentionDays || days["exports"] != f.LinkDays {
		t.Fatalf("processing.json: retention days %v, want devices %d and exports %d", days, f.DeviceRetentionDays, f.LinkDays)
	}
	var rights []string
	for _, r := range p.Rights {
		rights = append(rights, r.Right)
	}
	for _, want := range []string{"access", "rectification", "erasure", "restriction", "objection", "portability", "complaint"} {
		if !slices.Contains(rights, want) {
			t.Fatalf("processing.json: rights %v lack %s", rights, want)
		}
	}
	if len(p.Automated) == 0 || !strings.Contains(p.Automated[0].Name, "Risk-based authentication") || p.Automated[0].Logic == "" || p.Automated[0].Significance == "" {
		t.Fatalf("processing.json: automated decisions %+v", p.Automated)
	}
	if got, want := p.Automated[0].Applies, f.Devices > 0; got != want {
		t.Fatalf("processing.json: risk-based authentication applies %v, want %v", got, want)
	}
}

// checkIndex checks that index.html is one accessible, self-contained page with the data.
func checkIndex(t testing.TB, b []byte, f Fixture) {
	t.Helper()
	s := string(b)
	for _, want := range []string{`<html lang="en"`, `<meta name="viewport"`, "<h1>", "<h2>", `<th scope="col">`, "<caption>",
		"Art. 15(1)(a)", "Art. 15(1)(h)", "Risk-based authentication", "Amazon Web Services", "supervisory authority", f.FirstName, f.Question} {
		if !strings.Contains(s, want) {
			t.Fatalf("index.html lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", " src=", "url(", "@import", "http://", "https://"} {
		if strings.Contains(s, bad) {
			t.Fatalf("index.html holds %q: it must fetch nothing", bad)
		}
	}
	if f.Markup != "" {
		if strings.Contains(s, f.Markup) {
			t.Fatalf("index.html holds the value %q unescaped", f.Markup)
		}
		if !strings.Contains(s, strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(f.Markup)) {
			t.Fatalf("index.html lacks the escaped value of %q", f.Markup)
		}
	}
}
