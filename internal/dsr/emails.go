package dsr

import (
	"embed"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/example/gdpr/internal/catalog"
	"github.com/example/gdpr/internal/mail"
)

// Emails are a catalog (internal/catalog) under emails/, one folder per locale: a message per
// email the service sends, and phrases.txt, the words the code picks between (a name per
// request type, a sentence per rejection reason, the words of a date).
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
var fields = map[string]func(l *catalog.Locale, d mailData) (string, error){
	"tenant":        func(_ *catalog.Locale, d mailData) (string, error) { return d.Tenant, nil },
	"request_id":    func(_ *catalog.Locale, d mailData) (string, error) { return d.RequestID, nil },
	"code":          func(_ *catalog.Locale, d mailData) (string, error) { return d.Code, nil },
	"reason":        func(_ *catalog.Locale, d mailData) (string, error) { return d.Reason, nil },
	"received_at":   func(l *catalog.Locale, d mailData) (string, error) { return l.Date("date", d.ReceivedAt), nil },
	"due_at":        func(l *catalog.Locale, d mailData) (string, error) { return l.Date("date", d.DueAt), nil },
	"type_name":     func(l *catalog.Locale, d mailData) (string, error) { return l.Phrase(typeKey(d.Type, d.Lift)) },
	"reject_reason": func(l *catalog.Locale, d mailData) (string, error) { return l.Phrase("reject." + d.RejectReason) },
	"download_url":  func(_ *catalog.Locale, d mailData) (string, error) { return d.DownloadURL, nil },
	"download_expires_at": func(l *catalog.Locale, d mailData) (string, error) {
		return l.Date("date", d.DownloadExpiresAt), nil
	},
	"erased": func(l *catalog.Locale, d mailData) (string, error) {
		lines := make([]string, len(d.Erased))
		for i, c := range d.Erased {
			p, err := l.Phrase("category." + c)
			if err != nil {
				return "", err
			}
			lines[i] = "- " + p
		}
		return strings.Join(lines, "\n"), nil
	},
	"retained": func(l *catalog.Locale, d mailData) (string, error) {
		if len(d.Retained) == 0 {
			return l.Phrase("retained.none")
		}
		intro, err := l.Phrase("retained.intro")
		if err != nil {
			return "", err
		}
		lines := []string{intro}
		for _, r := range d.Retained {
			lines = append(lines, "- "+r.Category+": "+r.Reason)
		}
		return strings.Join(lines, "\n"), nil
	},
	// Empty without sites, which leaves the paragraph out.
	"systems": func(l *catalog.Locale, d mailData) (string, error) {
		if len(d.Systems) == 0 {
			return "", nil
		}
		intro, err := l.Phrase("systems.intro")
		if err != nil {
			return "", err
		}
		lines := []string{intro}
		for _, s := range d.Systems {
			lines = append(lines, "- "+s)
		}
		return strings.Join(lines, "\n"), nil
	},
	"restriction_effect": func(l *catalog.Locale, d mailData) (string, error) {
		if d.Lift {
			return l.Phrase("restriction.lifted")
		}
		return l.Phrase("restriction.set")
	},
}

// Categories are the keys of the kinds of personal data an erasure receipt names.
var Categories = []string{"profile", "devices", "consent", "email_lookup", "exports", "requests", "idempotency", "consent_ledger", "policy_notices"}

func typeKey(t Type, lift bool) string {
	if t == Restriction && lift {
		return "type.restriction.lift"
	}
	return "type." + string(t)
}

// phraseKeys are the phrases every locale defines, and the only ones it may (with the words
// of the date, which the catalog adds).
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
	return keys
}

// emails are read once; a catalog that does not load is a programming error, found by the
// package's tests.
var emails = catalog.MustLoad(emailFS, "emails", catalog.Spec{
	Default:  defaultLocale,
	Messages: messages,
	Fields:   slices.Collect(maps.Keys(fields)),
	// Not the code, which would sit in every mailbox preview, nor free text, which may hold
	// personal data or line breaks.
	NotInSubject: []string{"code", "reason"},
	Phrases:      phraseKeys(),
	Dates:        []string{"date"},
	Markup: map[string]func(string) string{
		// The code is what the reader must copy: set apart, in a fixed-width font.
		"code": func(e string) string {
			return `<strong style="font-family: monospace; font-size: 1.2em">` + e + `</strong>`
		},
	},
})

// render builds the message name in a locale (the default one when it has no such folder).
func render(loc, name string, d mailData) (mail.Message, error) {
	m, err := emails.Render(loc, name, func(l *catalog.Locale, field string) (string, error) { return fields[field](l, d) })
	if err != nil {
		return mail.Message{}, fmt.Errorf("dsr: email %w", err)
	}
	return m, nil
}
