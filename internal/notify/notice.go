package notify

import (
	"embed"
	"fmt"
	"maps"
	"slices"

	"github.com/example/gdpr/internal/catalog"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/policy"
)

// Notices are a catalog (internal/catalog) under notices/, one folder per locale, in the
// format of the request emails (internal/dsr): the policy change notice, and phrases.txt, the
// words the code picks between.
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

var noticeFields = map[string]func(l *catalog.Locale, d noticeData) (string, error){
	"tenant":  func(_ *catalog.Locale, d noticeData) (string, error) { return d.Tenant, nil },
	"version": func(_ *catalog.Locale, d noticeData) (string, error) { return d.Policy.Version, nil },
	"summary": func(_ *catalog.Locale, d noticeData) (string, error) { return d.Policy.Summary, nil },
	"url":     func(_ *catalog.Locale, d noticeData) (string, error) { return d.Policy.URL, nil },
	"effective_at": func(l *catalog.Locale, d noticeData) (string, error) {
		return l.Date("datetime", d.Policy.EffectiveAt.UTC()), nil
	},
	"effective_date": func(l *catalog.Locale, d noticeData) (string, error) {
		return l.Date("date", d.Policy.EffectiveAt.UTC()), nil
	},
	"consent_effect": func(l *catalog.Locale, d noticeData) (string, error) {
		if d.Policy.Material {
			return l.Phrase("effect.material")
		}
		return l.Phrase("effect.minor")
	},
	// Empty without a data protection officer, which leaves the paragraph out.
	"contact": func(l *catalog.Locale, d noticeData) (string, error) {
		if d.DPO == "" {
			return "", nil
		}
		p, err := l.Phrase("contact.dpo")
		return p + " " + d.DPO + ".", err
	},
}

// notices are read once; a catalog that does not load is a programming error, found by the
// package's tests.
var notices = catalog.MustLoad(noticeFS, "notices", catalog.Spec{
	Default:  defaultLocale,
	Messages: []string{policyChange},
	Fields:   slices.Collect(maps.Keys(noticeFields)),
	// Free text (which spans lines) and links do not belong in a subject line.
	NotInSubject: []string{"summary", "url", "contact"},
	Phrases:      []string{"date", "datetime", "effect.material", "effect.minor", "contact.dpo"},
	Dates:        []string{"date", "datetime"},
	Markup: map[string]func(string) string{
		// The link is the one thing to click: made a link, its text the address itself.
		"url": func(e string) string { return `<a href="` + e + `">` + e + `</a>` },
	},
})

// renderNotice builds the notice of d in locale loc (the default one when it has no folder).
// The recipient is the caller's to set.
func renderNotice(loc string, d noticeData) (mail.Message, error) {
	m, err := notices.Render(loc, policyChange, func(l *catalog.Locale, field string) (string, error) {
		return noticeFields[field](l, d)
	})
	if err != nil {
		return mail.Message{}, fmt.Errorf("notify: notice %w", err)
	}
	return m, nil
}
