// Package catalog is a catalog of localisable plain-text messages: parsed once at start from
// an fs.FS, a message rendered to the text of a mail.Message and escaped HTML of the same
// words.
//
// A catalog is one folder per locale. NAME.txt is a message: a "Subject: " line, then
// paragraphs separated by blank lines; {name} marks a value. phrases.txt holds "key = value"
// lines: the words the code picks between (a name per type, a sentence per reason, the words
// of a date), so a catalog holds wording and never logic. A new locale is a new folder with
// the same files; a missing, unknown or misspelt entry or placeholder stops the program at
// start (MustLoad panics), so every test run finds it.
//
// The HTML part is derived from the same paragraphs, with the catalog's words and every value
// escaped, so the two parts cannot say different things and no value can add markup.
// text/template and html/template are avoided on purpose: they look methods up by name
// through reflect, which makes the linker keep every exported method of every type: that
// nearly doubled each Lambda binary (20 MiB against 11.5).
package catalog

import (
	"errors"
	"fmt"
	"html"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/example/gdpr/internal/mail"
)

// Spec is what a catalog must hold, and all it may.
type Spec struct {
	// Default is the locale used for a locale the catalog has no folder for.
	Default string
	// Messages are the names of the messages; every locale has each of them.
	Messages []string
	// Fields are the placeholders a message may use.
	Fields []string
	// NotInSubject are fields a subject line may not show (free text that spans lines, codes
	// that would sit in every mailbox preview, links).
	NotInSubject []string
	// Phrases are the phrase keys every locale defines, and the only ones it may.
	Phrases []string
	// Dates are phrases that are the form of a date (see Locale.Date). With any, every
	// locale also defines the weekday.* and month.* phrases.
	Dates []string
	// Markup gives the HTML of a field's value in place of the escaped value itself; its
	// argument is already escaped.
	Markup map[string]func(escaped string) string
}

// Catalog is a loaded catalog. It is read-only, so safe for concurrent use.
type Catalog struct {
	spec    Spec
	locales map[string]*Locale
}

// Locale is one locale's messages and phrases; field functions look phrases up in it.
type Locale struct {
	Lang     string
	messages map[string]message
	phrases  map[string]string
	dates    map[string][]segment
}

// segment is a piece of catalog text: literal words, or the name of a field.
type segment struct{ text, field string }

type message struct {
	subject    []segment
	paragraphs [][]segment
}

// dateFields are the placeholders of a date form. Day and month names are phrases
// (weekday.monday, month.january...); the numbers are plain digits, as in "2 January 2006".
var dateFields = map[string]func(l *Locale, t time.Time) string{
	"weekday": func(l *Locale, t time.Time) string { return l.phrases[weekdayKey(t.Weekday())] },
	"day":     func(_ *Locale, t time.Time) string { return strconv.Itoa(t.Day()) },
	"month":   func(l *Locale, t time.Time) string { return l.phrases[monthKey(t.Month())] },
	"year":    func(_ *Locale, t time.Time) string { return strconv.Itoa(t.Year()) },
	"hour":    func(_ *Locale, t time.Time) string { return fmt.Sprintf("%02d", t.Hour()) },
	"minute":  func(_ *Locale, t time.Time) string { return fmt.Sprintf("%02d", t.Minute()) },
}

func weekdayKey(w time.Weekday) string { return "weekday." + strings.ToLower(w.String()) }
func monthKey(m time.Month) string     { return "month." + strings.ToLower(m.String()) }

// MustLoad reads the catalog in folder dir of fsys, one subfolder per locale. A catalog that
// does not load is a programming error, found by the tests of the package that embeds it.
func MustLoad(fsys fs.FS, dir string, spec Spec) *Catalog {
	c, err := load(fsys, dir, spec)
	if err != nil {
		panic("catalog: " + err.Error())
	}
	return c
}

func load(fsys fs.FS, dir string, spec Spec) (*Catalog, error) {
	if len(spec.Dates) > 0 {
		spec.Phrases = slices.Clone(spec.Phrases)
		for w := time.Sunday; w <= time.Saturday; w++ {
			spec.Phrases = append(spec.Phrases, weekdayKey(w))
		}
		for m := time.January; m <= time.December; m++ {
			spec.Phrases = append(spec.Phrases, monthKey(m))
		}
	}
	dirs, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	c := &Catalog{spec: spec, locales: map[string]*Locale{}}
	for _, d := range dirs {
		l, err := c.loadLocale(fsys, path.Join(dir, d.Name()), d.Name())
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", dir, d.Name(), err)
		}
		c.locales[l.Lang] = l
	}
	if c.locales[spec.Default] == nil {
		return nil, fmt.Errorf("%s: no folder for the default locale %q", dir, spec.Default)
	}
	return c, nil
}

func (c *Catalog) loadLocale(fsys fs.FS, dir, lang string) (*Locale, error) {
	b, err := fs.ReadFile(fsys, dir+"/phrases.txt")
	if err != nil {
		return nil, err
	}
	l := &Locale{Lang: lang, messages: map[string]message{}, dates: map[string][]segment{}}
	if l.phrases, err = c.parsePhrases(string(b)); err != nil {
		return nil, fmt.Errorf("phrases.txt: %w", err)
	}
	isDateField := func(name string) bool { _, ok := dateFields[name]; return ok }
	for _, k := range c.spec.Dates {
		if l.dates[k], err = parse(l.phrases[k], isDateField); err != nil {
			return nil, fmt.Errorf("phrases.txt: %s: %w", k, err)
		}
	}
	files, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if name, _ := strings.CutSuffix(f.Name(), ".txt"); name != "phrases" && !slices.Contains(c.spec.Messages, name) {
			return nil, fmt.Errorf("%s is no message the service sends", f.Name())
		}
	}
	for _, name := range c.spec.Messages {
		b, err := fs.ReadFile(fsys, dir+"/"+name+".txt")
		if err != nil {
			return nil, err
		}
		if l.messages[name], err = c.parseMessage(string(b)); err != nil {
			return nil, fmt.Errorf("%s.txt: %w", name, err)
		}
	}
	return l, nil
}

// parsePhrases reads "key = value" lines; blank lines and lines starting with # are skipped.
// Only date forms have placeholders.
func (c *Catalog) parsePhrases(s string) (map[string]string, error) {
	keys := c.spec.Phrases
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
		case !slices.Contains(c.spec.Dates, k) && strings.ContainsAny(v, "{}"):
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
func (c *Catalog) parseMessage(s string) (message, error) {
	head, body, _ := strings.Cut(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	subject, ok := strings.CutPrefix(head, "Subject:")
	if !ok || strings.TrimSpace(subject) == "" {
		return message{}, errors.New(`the first line must be "Subject: ..."`)
	}
	isField := func(name string) bool { return slices.Contains(c.spec.Fields, name) }
	var m message
	var err error
	if m.subject, err = parse(strings.TrimSpace(subject), isField); err != nil {
		return message{}, fmt.Errorf("subject: %w", err)
	}
	for _, s := range m.subject {
		if slices.Contains(c.spec.NotInSubject, s.field) {
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

// Phrase returns the phrase key of the locale.
func (l *Locale) Phrase(key string) (string, error) {
	p, ok := l.phrases[key]
	if !ok {
		return "", fmt.Errorf("no phrase %s", key)
	}
	return p, nil
}

// Date writes t in the date form key of the locale (one of Spec.Dates), as t is: a caller
// that wants UTC converts first.
func (l *Locale) Date(key string, t time.Time) string {
	var b strings.Builder
	for _, s := range l.dates[key] {
		if s.field == "" {
			b.WriteString(s.text)
		} else {
			b.WriteString(dateFields[s.field](l, t))
		}
	}
	return b.String()
}

// fill substitutes the fields of segs, giving plain text and escaped HTML of the same words.
func (c *Catalog) fill(l *Locale, segs []segment, field func(l *Locale, name string) (string, error)) (text, markup string, err error) {
	var t, h strings.Builder
	for _, s := range segs {
		v := s.text
		if s.field != "" {
			if v, err = field(l, s.field); err != nil {
				return "", "", err
			}
		}
		t.WriteString(v)
		if mark, ok := c.spec.Markup[s.field]; ok && s.field != "" {
			h.WriteString(mark(html.EscapeString(v)))
		} else {
			h.WriteString(html.EscapeString(v))
		}
	}
	return t.String(), h.String(), nil
}

// Render builds message name in locale loc (the default one when the catalog has no such
// folder); field gives the value of each placeholder. A paragraph that comes out empty (only
// an empty value) is left out; a value's line breaks are kept, <br> in HTML. The recipient
// is the caller's to set.
func (c *Catalog) Render(loc, name string, field func(l *Locale, name string) (string, error)) (mail.Message, error) {
	l, ok := c.locales[loc]
	if !ok {
		l = c.locales[c.spec.Default]
	}
	m, ok := l.messages[name]
	if !ok {
		return mail.Message{}, fmt.Errorf("%s/%s: no such message", l.Lang, name)
	}
	subject, _, err := c.fill(l, m.subject, field)
	if err != nil {
		return mail.Message{}, fmt.Errorf("%s/%s: %w", l.Lang, name, err)
	}
	var text, body strings.Builder
	for _, p := range m.paragraphs {
		t, h, err := c.fill(l, p, field)
		if err != nil {
			return mail.Message{}, fmt.Errorf("%s/%s: %w", l.Lang, name, err)
		}
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
	page := "<!DOCTYPE html>\n<html lang=\"" + html.EscapeString(l.Lang) + "\">\n<head>\n<meta charset=\"utf-8\">\n" +
		"<title>" + html.EscapeString(subject) + "</title>\n</head>\n<body>\n" + body.String() + "</body>\n</html>\n"
	return mail.Message{Subject: subject, Text: text.String(), HTML: page}, nil
}
