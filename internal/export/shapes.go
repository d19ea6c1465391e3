package export

import (
	"maps"
	"slices"
	"time"

	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/subject"
)

// The shapes of data.json: what the subject may read of each stored item. They are written
// out field by field so that nothing internal (index keys, TTLs, hashes of secrets) reaches
// the export by being added to a stored type.

type profileOut struct {
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
	Email     string `json:"email,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Company   string `json:"company,omitempty"`
	// SecurityQuestions are the questions alone: answers are kept only as one-way hashes,
	// which are not exported either.
	SecurityQuestions []questionOut `json:"security_questions"`
	UpdatedAt         time.Time     `json:"updated_at"`
}

type questionOut struct {
	Question string `json:"question"`
}

func profileOf(p subject.Profile) profileOut {
	out := profileOut{FirstName: p.FirstName, LastName: p.LastName, Username: p.Username, Email: p.Email,
		Phone: p.Phone, Company: p.Company, UpdatedAt: p.UpdatedAt, SecurityQuestions: []questionOut{}}
	for _, q := range p.SecurityQuestions {
		out.SecurityQuestions = append(out.SecurityQuestions, questionOut{Question: q.Question})
	}
	return out
}

type deviceOut struct {
	ID          string    `json:"id"`
	SeenAt      time.Time `json:"seen_at"`
	ReceivedAt  time.Time `json:"received_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	IP          string    `json:"ip,omitempty"`
	Location    string    `json:"location,omitempty"`
	Browser     string    `json:"browser,omitempty"`
	DeviceType  string    `json:"device_type,omitempty"`
	Language    string    `json:"language,omitempty"`
	UserAgent   string    `json:"user_agent,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
}

func deviceOf(d consent.StoredDevice) deviceOut {
	return deviceOut{ID: d.ID, SeenAt: d.SeenAt, ReceivedAt: d.ReceivedAt, ExpiresAt: d.ExpiresAt, IP: d.IP,
		Location: d.Location, Browser: d.Browser, DeviceType: d.DeviceType, Language: d.Language,
		UserAgent: d.UserAgent, Fingerprint: d.Fingerprint}
}

// requestOut is a request without the hashes of its verification code and access token.
type requestOut struct {
	ID              string             `json:"id"`
	Type            dsr.Type           `json:"type"`
	Status          dsr.Status         `json:"status"`
	Contact         string             `json:"contact_email"`
	ReceivedAt      time.Time          `json:"received_at"`
	DueAt           time.Time          `json:"due_at"`
	VerifiedAt      *time.Time         `json:"verified_at,omitempty"`
	CompletedAt     *time.Time         `json:"completed_at,omitempty"`
	Extended        bool               `json:"extended"`
	ExtensionReason string             `json:"extension_reason,omitempty"`
	Note            string             `json:"note,omitempty"`
	Rectification   *dsr.ProfileFields `json:"rectification,omitempty"`
	Lift            bool               `json:"lift,omitempty"`
	Rejection       *dsr.Rejection     `json:"rejection,omitempty"`
	Timeline        []dsr.Event        `json:"timeline"`
}

// requestOf is r as the subject's export shows it, with contact, its opened address.
func requestOf(r dsr.Request, contact string) requestOut {
	return requestOut{ID: r.ID, Type: r.Type, Status: r.Status, Contact: contact, ReceivedAt: r.ReceivedAt,
		DueAt: r.DueAt, VerifiedAt: r.VerifiedAt, CompletedAt: r.CompletedAt, Extended: r.Extended,
		ExtensionReason: r.ExtensionReason, Note: r.Note, Rectification: r.Rectification, Lift: r.Lift,
		Rejection: r.Rejection, Timeline: r.Timeline}
}

// decisionOut is a consent decision as the subject gave it: what portability carries.
type decisionOut struct {
	ReceiptID     string          `json:"receipt_id"`
	RecordedAt    time.Time       `json:"recorded_at"`
	PolicyVersion string          `json:"policy_version"`
	Purposes      map[string]bool `json:"purposes"`
	Method        consent.Method  `json:"method"`
	GPC           bool            `json:"gpc"`
}

func decisionOf(e consent.Entry) decisionOut {
	return decisionOut{ReceiptID: e.ReceiptID, RecordedAt: e.RecordedAt, PolicyVersion: e.PolicyVersion,
		Purposes: e.Purposes, Method: e.Method, GPC: e.GPC}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
