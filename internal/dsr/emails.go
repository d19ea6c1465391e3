package dsr

import (
	"embed"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/example/gdpr/internal/mail"
)

// Emails are plain text, one folder per locale under emails/. NAME.txt is a message: a
// "Subject: " line, then paragraphs separated by blank lines. phrases.txt holds "key = value"
// lines: the words the code picks between (a name per request type, a sentence per rejection
// reason, the words of a date), so a catalog holds wording and never logic. {name} marks a
// value. A new locale is a new folder with the same files; a missing, unknown or misspelt
// entry or placeholder stops the program at start, so every test run finds it.
//
// The HTML part is derived from the same paragraphs, with the catalog's words and every
// value escaped, so the two parts cannot say different things and no value can add markup.
// text/template and html/template are avoided on purpose: they look methods up by name
// through reflect, which makes the linker keep every exported method of every type: that
// nearly doubled each Lambda binary (20 MiB against 11.5).
//
//go:embed emails
var emailFS embed.FS

// defaultLocale is used for every subject until requests carry a language.
const defaultLocale = "en"

// messages are the emails the service sends; every locale has each of them.
var messages = []string{
	"verification", "extension", "rejection",
	// The answers of fulfilment (see Tell), and the one that says a person takes over.
	"no_data", "export_ready", "erasure_receipt", "rectification_done", "restriction_done",
	"restriction_lifting", "objection_done", "failed",
	// To the tenant's DPO, about deadlines (see Watch): ids, types and dates only.
	"dpo_reminder", "dpo_overdue",
}

// mailData is what the emails may show: ids, dates, codes, and texts the subject or the
// operator wrote for the subject.
type mailData struct {
	Tenant       string
	RequestID    string
	Type         Type
	Lift         bool
	ReceivedAt   time.Time
	DueAt        time.Time
	Code         string
	Reason       string
	RejectReason string
	Notice
}

// Notice is what a fulfilment answer shows beyond the request itself.
type Notice struct {
	// DownloadURL and DownloadExpiresAt: the export's link (export_ready).
	DownloadURL       string
	DownloadExpiresAt time.Time
	// Erased lists category keys (category.* phrases) an erasure removed; Retained what it
	// kept under a legal obligation; Systems the marketplace sites told (erasure_receipt).
	Erased   []string
	Retained []Retained
	Systems  []string
}

// Retained is a category of data kept under a legal obligation (Art. 17(3)), with the
// tenant's reason.
type Retained struct {
	Category string `json:"category"`
	Reason   string `json:"reason"`
}

// fields are the placeholders a message may use. Phrases are chosen here, from the data,
// rather than by conditions in the catalog.
var fields = map[string]func(l *locale, d mailData) (string, error){
	"tenant":        func(_ *locale, d mailData) (string, error) { return d.Tenant, nil },
	"request_id":    func(_ *locale, d mailData) (string, error) { return d.RequestID, nil },
	"code":          func(_ *locale, d mailData) (string, error) { return d.Code, nil },
	"reason":        func(_ *locale, d mailData) (string, error) { return d.Reason, nil },
	"received_at":   func(l *locale, d mailData) (string, error) { return l.date(d.ReceivedAt), nil },
	"due_at":        func(l *locale, d mailData) (string, error) { return l.date(d.DueAt), nil },
	"type_name":     func(l *locale, d mailData) (string, error) { return l.phrase(typeKey(d.Type, d.Lift)) },
	"reject_reason": func(l *locale, d mailData) (string, error) { return l.phrase("reject." + d.RejectReason) },
	"download_url":  func(_ *locale, d mailData) (string, error) { return d.DownloadURL, nil },
	"download_expires_at": func(l *locale, d mailData) (string, error) {
		return l.date(d.DownloadExpiresAt), nil
	},
	"erased": func(l *locale, d mailData) (string, error) {
		lines := make([]string, len(d.Erased))
		for i, c := range d.Erased {
			p, err := l.phrase("category." + c)
			if err != nil {
				return "", err
			}
			lines[i] = "- " + p
		}
		return strings.Join(lines, "\n"), nil
	},
	"retained": func(l *locale, d mailData) (string, error) {
		if len(d.Retained) == 0 {
			return l.phrase("retained.none")
		}
		lines := []string{l.phrases["retained.intro"]}
		for _, r := range d.Retained {
			lines = append(lines, "- "+r.Category+": "+r.Reason)
		}
		return strings.Join(lines, "\n"), nil
	},
	// Empty without sites, which leaves the paragraph out.
	"systems": func(l *locale, d mailData) (string, error) {
		if len(d.Systems) == 0 {
			return "", nil
		}
		lines := []string{l.phrases["systems.intro"]}
		for _, s := range d.Systems {
			lines = append(lines, "- "+s)
		}
		return strings.Join(lines, "\n"), nil
	},
	"restriction_effect": func(l *locale, d mailData) (string, error) {
		if d.Lift {
			return l.phrase("restriction.lifted")
		}
		return l.phrase("restriction.set")
	},
}

// Categories are the keys of the kinds of personal data an erasure receipt names.
var Categories = []string{"profile", "devices", "consent", "email_lookup", "exports", "requests", "idempotency", "consent_ledger", "policy_notices"}

// dateFields are the placeholders of the "date" phrase. Day and month names are phrases
// (weekday.monday, month.january...); the numbers are plain digits, as in "2 January 2006".
var dateFields = map[string]func(l *locale, t time.Time) string{
	"weekday": func(l *locale, t time.Time) string { return l.phrases[weekdayKey(t.Weekday())] },
	"day":     func(_ *locale, t time.Time) string { return strconv.Itoa(t.Day()) },
	"month":   func(l *locale, t time.Time) string { return l.phrases[monthKey(t.Month())] },
	"year":    func(_ *locale, t time.Time) string { return strconv.Itoa(t.Year()) },
}

func typeKey(t Type, lift bool) string {
	if t == Restriction && lift {
		return "type.restriction.lift"
	}
	return "type." + string(t)
}

func weekdayKey(w time.Weekday) string { return "weekday." + strings.ToLower(w.String()) }
func monthKey(m time.Month) string     { return "month." + strings.ToLower(m.String()) }

// phraseKeys are the phrases every locale defines, and the only ones it may.
func phraseKeys() []string {
	keys := []string{"date", typeKey(Restriction, true), "retained.intro", "retained.none", "systems.intro", "restriction.set", "restriction.lifted"}
	for _, c := range Categories {
		keys = append(keys, "category."+c)
	}
	for _, t := range Types {
		keys = append(keys, typeKey(t, false))
	}
	for _, r := range RejectReasons {
		keys = append(keys, "reject."+r)
	}
	for w := time.Sunday; w <= time.Saturday; w++ {
		keys = append(keys, weekdayKey(w))
	}
	for m := time.January; m <= time.December; m++ {
		keys = append(keys, monthKey(m))
	}
	return keys
}

// segment is a piece of catalog text: literal words, or the name of a field.
type segment struct{ text, field string }

type message struct {
	subject    []segment
	paragraphs [][]segment
}

type locale struct {
	lang     string
	messages map[string]message
	phrases  map[string]string
	dateForm []segment
}

// locales are read once; a catalog that does not load is a programming error, found by the
// package's tests.
var locales = mustLoadLocales()

func mustLoadLocales() map[string]*locale {
	dirs, err := fs.ReadDir(emailFS, "emails")
	if err != nil {
		panic("dsr: emails: " + err.Error())
	}
	out := map[string]*locale{}
	for _, d := range dirs {
		l, err := loadLocale(d.Name())
		if err != nil {
			panic("dsr: emails/" + d.Name() + ": " + err.Error())
		}
		out[l.lang] = l
	}
	if out[defaultLocale] == nil {
		panic("dsr: emails: no folder for the default locale " + defaultLocale)
	}
	return out
}

func loadLocale(lang string) (*locale, error) {
	dir := "emails/" + lang
	b, err := fs.ReadFile(emailFS, dir+"/phrases.txt")
	if err != nil {
		return nil, err
	}
	l := &locale{lang: lang, messages: map[string]message{}}
	if l.phrases, err = parsePhrases(string(b)); err != nil {
		return nil, fmt.Errorf("phrases.txt: %w", err)
	}
	if l.dateForm, err = parse(l.phrases["date"], func(name string) bool { _, ok := dateFields[name]; return ok }); err != nil {
		return nil, fmt.Errorf("phrases.txt: date: %w", err)
	}
	files, err := fs.ReadDir(emailFS, dir)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if name, _ := strings.CutSuffix(f.Name(), ".txt"); name != "phrases" && !slices.Contains(messages, name) {
			return nil, fmt.Errorf("%s is no message the service sends", f.Name())
		}
	}
	for _, name := range messages {
		b, err := fs.ReadFile(emailFS, dir+"/"+name+".txt")
		if err != nil {
			return nil, err
		}
		if l.messages[name], err = parseMessage(string(b)); err != nil {
			return nil, fmt.Errorf("%s.txt: %w", name, err)
		}
	}
	return l, nil
}

// parsePhrases reads "key = value" lines; blank lines and lines starting with # are skipped.
// Only the date phrase has placeholders.
func parsePhrases(s string) (map[string]string, error) {
	keys := phraseKeys()
	out := map[string]string{}
	for n, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		_, dup := out[k]
		switch {
		case !ok || k == "" || v == "":
			return nil, fmt.Errorf("line %d: want key = value", n+1)
		case !slices.Contains(keys, k):
			return nil, fmt.Errorf("line %d: unknown phrase %q", n+1, k)
		case dup:
			return nil, fmt.Errorf("line %d: phrase %q given twice", n+1, k)
		case k != "date" && strings.ContainsAny(v, "{}"):
			return nil, fmt.Errorf("line %d: phrase %q cannot have placeholders", n+1, k)
		}
		out[k] = v
	}
	for _, k := range keys {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("phrase %q is missing", k)
		}
	}
	return out, nil
}

// parseMessage reads a "Subject: " line and the paragraphs after it.
func parseMessage(s string) (message, error) {
	head, body, _ := strings.Cut(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	subject, ok := strings.CutPrefix(head, "Subject:")
	if !ok || strings.TrimSpace(subject) == "" {
		return message{}, errors.New(`the first line must be "Subject: ..."`)
	}
	isField := func(name string) bool { _, ok := fields[name]; return ok }
	var m message
	var err error
	if m.subject, err = parse(strings.TrimSpace(subject), isField); err != nil {
		return message{}, fmt.Errorf("subject: %w", err)
	}
	for _, s := range m.subject {
		// Not the code, which would sit in every mailbox preview, nor free text, which may
		// hold personal data or line breaks.
		if s.field == "code" || s.field == "reason" {
			return message{}, fmt.Errorf("subject: {%s} cannot be shown in a subject", s.field)
		}
	}
	for i, p := range paragraphs(body) {
		segs, err := parse(p, isField)
		if err != nil {
			return message{}, fmt.Errorf("paragraph %d: %w", i+1, err)
		}
		m.paragraphs = append(m.paragraphs, segs)
	}
	if len(m.paragraphs) == 0 {
		return message{}, errors.New("no text after the subject")
	}
	return m, nil
}

// paragraphs splits text at blank lines; lines within a paragraph stay as written.
func paragraphs(s string) []string {
	var out, lines []string
	for _, line := range strings.Split(s+"\n", "\n") {
		line = strings.TrimRight(line, " \t")
		if line != "" {
			lines = append(lines, line)
			continue
		}
		if len(lines) > 0 {
			out, lines = append(out, strings.Join(lines, "\n")), nil
		}
	}
	return out
}

// parse splits s into literal text and {placeholders}; known says which names exist.
func parse(s string, known func(name string) bool) ([]segment, error) {
	var out []segment
	for s != "" {
		i := strings.IndexAny(s, "{}")
		if i < 0 {
			return append(out, segment{text: s}), nil
		}
		if s[i] == '}' {
			return nil, errors.New("a } without {")
		}
		if i > 0 {
			out = append(out, segment{text: s[:i]})
		}
		name, rest, ok := strings.Cut(s[i+1:], "}")
		switch {
		case !ok:
			return nil, errors.New("a { without }")
		case !known(name):
			return nil, fmt.Errorf("unknown placeholder {%s}", name)
		}
		out = append(out, segment{field: name})
		s = rest
	}
	return out, nil
}

func (l *locale) phrase(key string) (string, error) {
	p, ok := l.phrases[key]
	if !ok {
		return "", fmt.Errorf("no phrase %s", key)
	}
	return p, nil
}

func (l *locale) date(t time.Time) string {
	var b strings.Builder
	for _, s := range l.dateForm {
		if s.field == "" {
			b.WriteString(s.text)
		} else {
			b.WriteString(dateFields[s.field](l, t))
		}
	}
	return b.String()
}

// fill substitutes the fields of segs, giving plain text and escaped HTML of the same words.
func (l *locale) fill(segs []segment, d mailData) (text, markup string, err error) {
	var t, h strings.Builder
	for _, s := range segs {
		v := s.text
		if s.field != "" {
			if v, err = fields[s.field](l, d); err != nil {
				return "", "", err
			}
		}
		t.WriteString(v)
		if s.field == "code" {
			// The code is what the reader must copy: set apart, in a fixed-width font.
			h.WriteString(`<strong style="font-family: monospace; font-size: 1.2em">` + html.EscapeString(v) + `</strong>`)
		} else {
			h.WriteString(html.EscapeString(v))
		}
	}
	return t.String(), h.String(), nil
}

// render builds the message name in a locale (the default one when it has no such folder).
func render(loc, name string, d mailData) (mail.Message, error) {
	l, ok := locales[loc]
	if !ok {
		l = locales[defaultLocale]
	}
	m, ok := l.messages[name]
	if !ok {
		return mail.Message{}, fmt.Errorf("dsr: email %s/%s: no such message", l.lang, name)
	}
	subject, _, err := l.fill(m.subject, d)
	if err != nil {
		return mail.Message{}, fmt.Errorf("dsr: email %s/%s: %w", l.lang, name, err)
	}
	var text, body strings.Builder
	for _, p := range m.paragraphs {
		t, h, err := l.fill(p, d)
		if err != nil {
			return mail.Message{}, fmt.Errorf("dsr: email %s/%s: %w", l.lang, name, err)
		}
		// A paragraph that is only an empty value (a rejection without detail) is left out.
		if strings.TrimSpace(t) == "" {
			continue
		}
		if text.Len() > 0 {
			text.WriteString("\n\n")
		}
		text.WriteString(t)
		body.WriteString("<p>" + strings.ReplaceAll(h, "\n", "<br>\n") + "</p>\n")
	}
	text.WriteString("\n")
	page := "<!DOCTYPE html>\n<html lang=\"" + html.EscapeString(l.lang) + "\">\n<head>\n<meta charset=\"utf-8\">\n" +
		"<title>" + html.EscapeString(subject) + "</title>\n</head>\n<body>\n" + body.String() + "</body>\n</html>\n"
	return mail.Message{Subject: subject, Text: text.String(), HTML: page}, nil
}
