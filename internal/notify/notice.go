package notify

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
	"github.com/example/gdpr/internal/policy"
)

// Notices are plain text, one folder per locale under notices/, in the format of the request
// emails (internal/dsr): NAME.txt is a "Subject: " line, then paragraphs separated by blank
// lines, {name} marks a value; phrases.txt holds "key = value" lines, the words the code picks
// between, so a catalog holds wording and never logic. A new locale is a new folder with the
// same files; a missing, unknown or misspelt entry or placeholder stops the program at start,
// so every test run finds it. The HTML part is made from the same paragraphs, every value
// escaped, so the two parts cannot say different things and no value can add markup.
//
//go:embed notices
var noticeFS embed.FS

const (
	defaultLocale = "en"
	policyChange  = "policy_change"
)

// noticeData is what a notice may show: the tenant's name, the version and its contact.
type noticeData struct {
	Tenant string
	Policy policy.Policy
	DPO    string
}

var noticeFields = map[string]func(l *noticeLocale, d noticeData) string{
	"tenant":         func(_ *noticeLocale, d noticeData) string { return d.Tenant },
	"version":        func(_ *noticeLocale, d noticeData) string { return d.Policy.Version },
	"summary":        func(_ *noticeLocale, d noticeData) string { return d.Policy.Summary },
	"url":            func(_ *noticeLocale, d noticeData) string { return d.Policy.URL },
	"effective_at":   func(l *noticeLocale, d noticeData) string { return l.when(l.datetime, d.Policy.EffectiveAt) },
	"effective_date": func(l *noticeLocale, d noticeData) string { return l.when(l.date, d.Policy.EffectiveAt) },
	"consent_effect": func(l *noticeLocale, d noticeData) string {
		if d.Policy.Material {
			return l.phrases["effect.material"]
		}
		return l.phrases["effect.minor"]
	},
	// Empty without a data protection officer, which leaves the paragraph out.
	"contact": func(l *noticeLocale, d noticeData) string {
		if d.DPO == "" {
			return ""
		}
		return l.phrases["contact.dpo"] + " " + d.DPO + "."
	},
}

// timeFields are the placeholders of the date and datetime phrases.
var timeFields = map[string]func(l *noticeLocale, t time.Time) string{
	"weekday": func(l *noticeLocale, t time.Time) string {
		return l.phrases["weekday."+strings.ToLower(t.Weekday().String())]
	},
	"day": func(_ *noticeLocale, t time.Time) string { return strconv.Itoa(t.Day()) },
	"month": func(l *noticeLocale, t time.Time) string {
		return l.phrases["month."+strings.ToLower(t.Month().String())]
	},
	"year":   func(_ *noticeLocale, t time.Time) string { return strconv.Itoa(t.Year()) },
	"hour":   func(_ *noticeLocale, t time.Time) string { return fmt.Sprintf("%02d", t.Hour()) },
	"minute": func(_ *noticeLocale, t time.Time) string { return fmt.Sprintf("%02d", t.Minute()) },
}

func noticePhraseKeys() []string {
	keys := []string{"date", "datetime", "effect.material", "effect.minor", "contact.dpo"}
	for w := time.Sunday; w <= time.Saturday; w++ {
		keys = append(keys, "weekday."+strings.ToLower(w.String()))
	}
	for m := time.January; m <= time.December; m++ {
		keys = append(keys, "month."+strings.ToLower(m.String()))
	}
	return keys
}

type segment struct{ text, field string }

type noticeLocale struct {
	lang           string
	subject        []segment
	paragraphs     [][]segment
	phrases        map[string]string
	date, datetime []segment
}

var noticeLocales = mustLoadNotices()

func mustLoadNotices() map[string]*noticeLocale {
	dirs, err := fs.ReadDir(noticeFS, "notices")
	if err != nil {
		panic("notify: notices: " + err.Error())
	}
	out := map[string]*noticeLocale{}
	for _, d := range dirs {
		l, err := loadNotice(d.Name())
		if err != nil {
			panic("notify: notices/" + d.Name() + ": " + err.Error())
		}
		out[l.lang] = l
	}
	if out[defaultLocale] == nil {
		panic("notify: notices: no folder for the default locale " + defaultLocale)
	}
	return out
}

func loadNotice(lang string) (*noticeLocale, error) {
	dir := "notices/" + lang
	files, err := fs.ReadDir(noticeFS, dir)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if f.Name() != "phrases.txt" && f.Name() != policyChange+".txt" {
			return nil, fmt.Errorf("%s is no notice the service sends", f.Name())
		}
	}
	b, err := fs.ReadFile(noticeFS, dir+"/phrases.txt")
	if err != nil {
		return nil, err
	}
	l := &noticeLocale{lang: lang}
	if l.phrases, err = parseNoticePhrases(string(b)); err != nil {
		return nil, fmt.Errorf("phrases.txt: %w", err)
	}
	isTime := func(name string) bool { _, ok := timeFields[name]; return ok }
	if l.date, err = parseSegments(l.phrases["date"], isTime); err != nil {
		return nil, fmt.Errorf("phrases.txt: date: %w", err)
	}
	if l.datetime, err = parseSegments(l.phrases["datetime"], isTime); err != nil {
		return nil, fmt.Errorf("phrases.txt: datetime: %w", err)
	}
	b, err = fs.ReadFile(noticeFS, dir+"/"+policyChange+".txt")
	if err != nil {
		return nil, err
	}
	if err := l.parseMessage(string(b)); err != nil {
		return nil, fmt.Errorf("%s.txt: %w", policyChange, err)
	}
	return l, nil
}

func parseNoticePhrases(s string) (map[string]string, error) {
	keys := noticePhraseKeys()
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
		case k != "date" && k != "datetime" && strings.ContainsAny(v, "{}"):
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

func (l *noticeLocale) parseMessage(s string) error {
	head, body, _ := strings.Cut(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	subject, ok := strings.CutPrefix(head, "Subject:")
	if !ok || strings.TrimSpace(subject) == "" {
		return errors.New(`the first line must be "Subject: ..."`)
	}
	isField := func(name string) bool { _, ok := noticeFields[name]; return ok }
	var err error
	if l.subject, err = parseSegments(strings.TrimSpace(subject), isField); err != nil {
		return fmt.Errorf("subject: %w", err)
	}
	for _, s := range l.subject {
		// Free text (which spans lines) and links do not belong in a subject line.
		if s.field == "summary" || s.field == "url" || s.field == "contact" {
			return fmt.Errorf("subject: {%s} cannot be shown in a subject", s.field)
		}
	}
	var lines []string
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		segs, err := parseSegments(strings.Join(lines, "\n"), isField)
		if err != nil {
			return fmt.Errorf("paragraph %d: %w", len(l.paragraphs)+1, err)
		}
		l.paragraphs, lines = append(l.paragraphs, segs), nil
		return nil
	}
	for _, line := range strings.Split(body+"\n", "\n") {
		if line = strings.TrimRight(line, " \t"); line != "" {
			lines = append(lines, line)
		} else if err := flush(); err != nil {
			return err
		}
	}
	if len(l.paragraphs) == 0 {
		return errors.New("no text after the subject")
	}
	return nil
}

// parseSegments splits s into literal text and {placeholders}; known says which names exist.
func parseSegments(s string, known func(name string) bool) ([]segment, error) {
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

func (l *noticeLocale) when(form []segment, t time.Time) string {
	t = t.UTC()
	var b strings.Builder
	for _, s := range form {
		if s.field == "" {
			b.WriteString(s.text)
		} else {
			b.WriteString(timeFields[s.field](l, t))
		}
	}
	return b.String()
}

func (l *noticeLocale) fill(segs []segment, d noticeData) (text, markup string) {
	var t, h strings.Builder
	for _, s := range segs {
		v := s.text
		if s.field != "" {
			v = noticeFields[s.field](l, d)
		}
		t.WriteString(v)
		if s.field == "url" {
			// The link is the one thing to click: made a link, its text the address itself.
			e := html.EscapeString(v)
			h.WriteString(`<a href="` + e + `">` + e + `</a>`)
		} else {
			h.WriteString(html.EscapeString(v))
		}
	}
	return t.String(), h.String()
}

// renderNotice builds the notice of d in locale loc (the default one when it has no folder).
// The recipient is the caller's to set.
func renderNotice(loc string, d noticeData) mail.Message {
	l, ok := noticeLocales[loc]
	if !ok {
		l = noticeLocales[defaultLocale]
	}
	subject, _ := l.fill(l.subject, d)
	var text, body strings.Builder
	for _, p := range l.paragraphs {
		t, h := l.fill(p, d)
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
	return mail.Message{Subject: subject, Text: text.String(), HTML: page}
}
