package dsr

import (
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/example/gdpr/internal/mail"
)

// Emails are templates under emails/{locale}/: for each message NAME, NAME.txt defines
// "NAME.subject" and "NAME.text" (text/template) and NAME.html defines "NAME.html"
// (html/template); common.txt holds the phrases they share, which HTML templates reach through
// the phrase function. A new locale is a new folder with the same files.
//
//go:embed emails
var emailFS embed.FS

// defaultLocale is used for every subject until requests carry a language.
const defaultLocale = "en"

// mailData is what the templates may show: ids, dates, codes, and texts the subject or the
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
}

type locale struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// locales are parsed once; a template that does not parse is a programming error, found by
// the package's tests.
var locales = mustLoadLocales()

func mustLoadLocales() map[string]locale {
	dirs, err := fs.ReadDir(emailFS, "emails")
	if err != nil {
		panic("dsr: email templates: " + err.Error())
	}
	out := map[string]locale{}
	for _, d := range dirs {
		dir := "emails/" + d.Name()
		text := texttemplate.Must(texttemplate.New(d.Name()).ParseFS(emailFS, dir+"/*.txt"))
		phrase := func(name string, data any) (string, error) {
			var b strings.Builder
			err := text.ExecuteTemplate(&b, name, data)
			return b.String(), err
		}
		html := htmltemplate.Must(htmltemplate.New(d.Name()).
			Funcs(htmltemplate.FuncMap{"phrase": phrase}).
			ParseFS(emailFS, dir+"/*.html"))
		out[d.Name()] = locale{text: text, html: html}
	}
	return out
}

// render builds the message name in a locale (the default one when it has no such folder).
func render(loc, name string, d mailData) (mail.Message, error) {
	l, ok := locales[loc]
	if !ok {
		l = locales[defaultLocale]
	}
	var subject, text, html strings.Builder
	if err := l.text.ExecuteTemplate(&subject, name+".subject", d); err != nil {
		return mail.Message{}, fmt.Errorf("dsr: email %s/%s: %w", loc, name, err)
	}
	if err := l.text.ExecuteTemplate(&text, name+".text", d); err != nil {
		return mail.Message{}, fmt.Errorf("dsr: email %s/%s: %w", loc, name, err)
	}
	if err := l.html.ExecuteTemplate(&html, name+".html", d); err != nil {
		return mail.Message{}, fmt.Errorf("dsr: email %s/%s: %w", loc, name, err)
	}
	return mail.Message{Subject: subject.String(), Text: text.String(), HTML: html.String()}, nil
}
