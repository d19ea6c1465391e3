package export

import (
	"fmt"
	"slices"

	"github.com/example/gdpr/internal/tenant"
)

// Processing is processing.json: what Art. 15(1)(a) to (h) GDPR requires the controller to
// tell the subject, for this tenant. index.html renders the same value, so the two never say
// different things.
type Processing struct {
	SchemaVersion int    `json:"schema_version"`
	Tenant        string `json:"tenant"`
	// Contact is the tenant's data protection officer, when the tenant names one.
	Contact string `json:"dpo_email,omitempty"`
	// Coverage maps each point of Art. 15(1) to the field of this document that answers it.
	Coverage   map[string]string `json:"art15_coverage"`
	Purposes   []Purpose         `json:"purposes"`
	Categories []Category        `json:"categories"`
	Recipients []Recipient       `json:"recipients"`
	Retention  []Retention       `json:"retention"`
	Rights     []Right           `json:"rights"`
	Automated  []Decision        `json:"automated_decisions"`
}

// Purpose is one purpose of processing with its legal basis (Art. 15(1)(a), Art. 6(1)).
type Purpose struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	LegalBasis  string `json:"legal_basis"`
	// Article names the point of Art. 6(1) and what it means.
	Article         string   `json:"legal_basis_article"`
	RequiredToLogIn bool     `json:"required_to_log_in"`
	Categories      []string `json:"categories"`
}

// Category is one category of personal data (Art. 15(1)(b)) with where it comes from (g).
type Category struct {
	Key    string   `json:"key"`
	Name   string   `json:"name"`
	Fields []string `json:"fields"`
	Source string   `json:"source"`
	Held   bool     `json:"held"`
	Count  int64    `json:"count"`
	File   string   `json:"file,omitempty"`
}

// Recipient is someone the data is disclosed to (Art. 15(1)(c)).
type Recipient struct {
	Name       string   `json:"name"`
	Role       string   `json:"role"`
	Categories []string `json:"categories"`
}

// Retention is how long one category is kept, or the criteria (Art. 15(1)(d)).
type Retention struct {
	Category string `json:"category"`
	Period   string `json:"period"`
	// Days is the period in days when it is one.
	Days int `json:"days,omitempty"`
}

// Right is one right of the subject (Art. 15(1)(e) and (f)) and how to exercise it.
type Right struct {
	Right   string `json:"right"`
	Article string `json:"article"`
	How     string `json:"how"`
}

// Decision is an automated decision, with its logic and its consequences (Art. 15(1)(h), 22).
type Decision struct {
	Name         string   `json:"name"`
	Applies      bool     `json:"applies_to_you"`
	Logic        string   `json:"logic"`
	Inputs       []string `json:"inputs"`
	Significance string   `json:"significance"`
	Safeguards   string   `json:"safeguards"`
}

// Held counts what the export found of each category, by key.
type Held map[string]int64

// Keys of the categories (the email catalog has a phrase for each).
const (
	catProfile = "profile"
	catDevices = "devices"
	catConsent = "consent"
	catLedger  = "consent_ledger"
	catRequest = "requests"
	catExports = "exports"
)

// legalBasisArticles words each basis of tenant.LegalBases.
var legalBasisArticles = map[string]string{
	"consent":              "Art. 6(1)(a) GDPR: you have given consent, which you may withdraw at any time",
	"contract":             "Art. 6(1)(b) GDPR: needed to provide the account and service you signed up for",
	"legal_obligation":     "Art. 6(1)(c) GDPR: needed to comply with a legal obligation",
	"vital_interests":      "Art. 6(1)(d) GDPR: needed to protect someone's vital interests",
	"public_task":          "Art. 6(1)(e) GDPR: needed for a task in the public interest",
	"legitimate_interests": "Art. 6(1)(f) GDPR: needed for the legitimate interests of the site, which do not override yours",
}

// purposeCategories are the categories each default purpose relies on; another purpose of
// the tenant's relies on the profile.
var purposeCategories = map[string][]string{
	"terms":     {catProfile, catConsent, catLedger},
	"rba":       {catDevices},
	"marketing": {catProfile},
}

// NewProcessing describes the tenant's processing, with what held counted for this subject.
// recent says how many device observations index.html lists.
func NewProcessing(t tenant.Tenant, held Held) Processing {
	p := Processing{
		SchemaVersion: SchemaVersion,
		Tenant:        t.ID,
		Contact:       t.DPOEmail,
		Coverage: map[string]string{
			"a": "purposes",
			"b": "categories",
			"c": "recipients",
			"d": "retention",
			"e": "rights",
			"f": "rights",
			"g": "categories[].source",
			"h": "automated_decisions",
		},
	}
	for _, tp := range t.Purposes {
		cats, ok := purposeCategories[tp.Name]
		if !ok {
			cats = []string{catProfile}
		}
		basis := tp.Basis()
		p.Purposes = append(p.Purposes, Purpose{Name: tp.Name, Description: tp.Description, LegalBasis: basis,
			Article: legalBasisArticles[basis], RequiredToLogIn: tp.Required, Categories: cats})
	}
	p.Categories = []Category{
		{Key: catProfile, Name: "Profile", File: "data.json",
			Fields: []string{"first name", "last name", "username", "email", "phone", "company", "security questions (the answers are kept only as a one-way hash and are not in this export)"},
			Source: "You, through the site's sign-up and account forms (the site's plugin sends them to this service)."},
		{Key: catDevices, Name: "Device observations", File: "devices.csv",
			Fields: []string{"IP address", "location", "browser", "device type", "language", "user agent", "device fingerprint", "time seen"},
			Source: "Observed by the site's plugin on your device when you log in, once you allowed risk-based authentication."},
		{Key: catConsent, Name: "Consent state", File: "data.json",
			Fields: []string{"each purpose granted or refused, and when", "policy version", "restriction and objection flags"},
			Source: "Your decisions on the site's consent forms and your requests."},
		{Key: catLedger, Name: "Consent history (receipts)", File: "consents.csv",
			Fields: []string{"receipt id", "time", "policy version", "decisions", "how the decision was made", "Global Privacy Control signal", "IP address and browser the decision came from", "hash chain"},
			Source: "Recorded by this service each time you gave, refused or withdrew consent."},
		{Key: catRequest, Name: "Your requests", File: "data.json",
			Fields: []string{"type", "status", "dates", "contact email", "your note", "what happened and when"},
			Source: "You, when you made a request about your data; its history is written by this service."},
		{Key: catExports, Name: "Exports", Fields: []string{"this archive"},
			Source: "Made by this service from the categories above when you asked for your data."},
	}
	for i := range p.Categories {
		c := &p.Categories[i]
		c.Count = held[c.Key]
		c.Held = c.Count > 0
	}
	p.Recipients = []Recipient{
		{Name: "Amazon Web Services (AWS)", Role: "Hosting processor: the service and its data are stored on AWS's cloud on the site's behalf.",
			Categories: []string{catProfile, catDevices, catConsent, catLedger, catRequest, catExports}},
		{Name: "The owner of the authenticator application you use to log in", Role: "Receives what it needs to verify you at login (for example your phone number or email for a one-time code).",
			Categories: []string{catProfile}},
	}
	for _, sys := range t.ExternalSystems {
		p.Recipients = append(p.Recipients, Recipient{Name: sys.Name,
			Role:       fmt.Sprintf("Marketplace site (%s) where the site's plugin also stores your account data.", sys.Kind),
			Categories: []string{catProfile}})
	}
	devDays := int(t.DeviceRetention().Hours() / 24)
	linkDays := int(t.ExportLife().Hours() / 24)
	p.Retention = []Retention{
		{Category: catProfile, Period: "As long as you have an account with the site; deleted when you or the site ask for erasure."},
		{Category: catDevices, Period: fmt.Sprintf("%d days after the device was seen, then deleted.", devDays), Days: devDays},
		{Category: catConsent, Period: "As long as you have an account with the site; deleted when you ask for erasure."},
		{Category: catLedger, Period: "Kept as proof of what you agreed to (Art. 7(1) GDPR); after erasure only under a pseudonym that no longer identifies you."},
		{Category: catRequest, Period: "Kept as the record of how your requests were handled; after erasure only under a pseudonym."},
		{Category: catExports, Period: fmt.Sprintf("%d days after it was made, then deleted.", linkDays), Days: linkDays},
	}
	for _, r := range t.Retained {
		p.Retention = append(p.Retention, Retention{Category: r.Category, Period: "Kept under a legal obligation: " + r.Reason})
	}
	how := "Send a request to the site's privacy page or ask the site"
	if t.DPOEmail != "" {
		how += ", or write to " + t.DPOEmail
	}
	how += "."
	p.Rights = []Right{
		{Right: "access", Article: "Art. 15 GDPR", How: how},
		{Right: "rectification", Article: "Art. 16 GDPR", How: how},
		{Right: "erasure", Article: "Art. 17 GDPR", How: how},
		{Right: "restriction", Article: "Art. 18 GDPR", How: how},
		{Right: "portability", Article: "Art. 20 GDPR", How: how},
		{Right: "objection", Article: "Art. 21 GDPR", How: how + " Objecting to direct marketing stops it at once."},
		{Right: "withdraw_consent", Article: "Art. 7(3) GDPR", How: "Withdraw on the site's consent settings, or with a request; what was done before stays lawful."},
		{Right: "complaint", Article: "Art. 77 GDPR", How: "You may complain to a supervisory authority, in particular in the EU country where you live or work or where you think the law was broken."},
	}
	p.Automated = []Decision{{
		Name:    "Risk-based authentication",
		Applies: held[catDevices] > 0,
		Logic: "When you log in, the device, network address, location, browser and time are compared with the devices seen " +
			"on your earlier logins. The more they differ (a new device, an unusual country or hour), the higher the risk score.",
		Inputs: []string{"IP address", "location", "browser", "device type", "language", "user agent", "device fingerprint", "time of login"},
		Significance: "A login with a low risk goes through; a higher risk asks you for a further check (a one-time code) " +
			"and a very high risk may be refused. It decides how you log in, nothing else.",
		Safeguards: "It runs only while you allow risk-based authentication (the rba purpose). You may ask the site for a person " +
			"to review a refused login, give your view and contest the decision.",
	}}
	return p
}

// categoryName names a category key for people.
func (p Processing) categoryName(key string) string {
	i := slices.IndexFunc(p.Categories, func(c Category) bool { return c.Key == key })
	if i < 0 {
		return key
	}
	return p.Categories[i].Name
}
