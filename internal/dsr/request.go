package dsr

import (
	"regexp"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/expiry"
	"github.com/example/gdpr/internal/table"
)

// Event is one line of a request's timeline. Detail never holds personal data.
type Event struct {
	At     time.Time `json:"at"`
	Event  string    `json:"event"`
	Actor  string    `json:"actor"`
	Detail string    `json:"detail,omitempty"`
}

// Reasons an operator may give for refusing a request (Art. 12(4) and 12(5)).
const (
	ManifestlyUnfounded = "manifestly_unfounded"
	Excessive           = "excessive"
	IdentityUnverified  = "identity_unverified"
	OtherReason         = "other"
)

// RejectReasons lists every reason.
var RejectReasons = []string{ManifestlyUnfounded, Excessive, IdentityUnverified, OtherReason}

// Rejection is why a request was refused. Detail is the operator's explanation, emailed to
// the subject.
type Rejection struct {
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// Request is a data subject request as stored. Status and Type are top-level attributes of
// the item so that stream filter criteria can select on them.
type Request struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Type   Type   `json:"type"`
	Status Status `json:"status"`
	// SubjectID is the matching subject; "" when none matched, and once the subject is erased.
	SubjectID string `json:"subject_id,omitempty"`
	// Pseudonym stands for the subject once it is erased (see Anonymize).
	Pseudonym string `json:"pseudonym,omitempty"`
	// SealedContact is where the subject is written to — the address on file for the
	// matching subject, or the address given when none matched — sealed for this request
	// alone (see Service.Contact), so the table never holds it in clear; "" when there is
	// none, and once erased. Never shown to operators or logged.
	SealedContact string         `json:"sealed_contact,omitempty"`
	Rectification *ProfileFields `json:"rectification,omitempty"`
	Lift          bool           `json:"lift,omitempty"`
	Note          string         `json:"note,omitempty"`

	ReceivedAt      time.Time  `json:"received_at"`
	DueAt           time.Time  `json:"due_at"`
	Extended        bool       `json:"extended"`
	ExtensionReason string     `json:"extension_reason,omitempty"`
	VerifiedAt      *time.Time `json:"verified_at,omitempty"`
	// CompletedAt is when the request closed as completed, rejected or failed.
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	Rejection   *Rejection `json:"rejection,omitempty"`
	Failure     string     `json:"failure,omitempty"`
	Timeline    []Event    `json:"timeline"`

	// Fulfilment (see Claim): how often it was taken up, and the steps done so far.
	Attempts int      `json:"attempts,omitempty"`
	Steps    []string `json:"steps,omitempty"`
	// Waiting names what a processing request waits for outside its work (see Wait), e.g.
	// the marketplace sites' confirmations; "" while its work runs or may run.
	Waiting string `json:"waiting,omitempty"`

	// Deadline watch (reminders.go): the tenant's reminder days when the request was
	// received, the DPO notices claimed or sent, and whether the due date passed unanswered.
	ReminderDays []int       `json:"reminder_days,omitempty"`
	DPONotices   []DPONotice `json:"dpo_notices,omitempty"`
	Overdue      bool        `json:"overdue,omitempty"`

	// Verification: SHA-256 hashes of the secrets, never the secrets.
	CodeHash      string    `json:"code_hash,omitempty"`
	CodeExpiresAt time.Time `json:"code_expires_at,omitzero"`
	WrongCodes    int       `json:"wrong_codes,omitempty"`
	Locked        bool      `json:"locked,omitempty"`
	TokenHash     string    `json:"token_hash,omitempty"`
}

// record is a request as the table keeps it, with its index attributes: GSI1 lists all of a
// tenant's requests by due date, GSI2 those of one status; the expiry index holds requests
// that wait for verification until they expire (and their codes until these expire), and
// unanswered ones until their next reminder or their due date (see deadline).
type record struct {
	Request
	GSI1PK string `json:"gsi1pk"`
	GSI1SK string `json:"gsi1sk"`
	GSI2PK string `json:"gsi2pk"`
	GSI2SK string `json:"gsi2sk"`
	expiry.Attrs
}

// Index names and key shapes of template.yaml's table.
const (
	indexAll    = "GSI1"
	indexStatus = "GSI2"
	skRequest   = "REQUEST"
)

func requestKey(tenant, id string) table.Key {
	return table.Key{PK: PK(tenant, id), SK: skRequest}
}

// PK is the partition of one request: the REQUEST item, and items that belong to the
// request alone (its export record).
func PK(tenant, id string) string { return "T#" + tenant + "#R#" + id }

// KindRequests names requests' deadlines on the expiry index.
const KindRequests = "requests"

func allPK(tenant string) string { return "T#" + tenant + "#RQ" }

func statusPK(tenant string, s Status) string { return "T#" + tenant + "#RQS#" + string(s) }

// dueKey sorts by due date, then id; RFC 3339 in UTC has a fixed width, so text order is time order.
func dueKey(due time.Time, id string) string { return due.UTC().Format(time.RFC3339) + "#" + id }

// item is the request as written at the time at.
func (r *Request) item(version int64, at time.Time) (table.Item, error) {
	k := requestKey(r.Tenant, r.ID)
	rec := record{
		Request: *r,
		GSI1PK:  allPK(r.Tenant), GSI1SK: dueKey(r.DueAt, r.ID),
		GSI2PK: statusPK(r.Tenant, r.Status), GSI2SK: dueKey(r.DueAt, r.ID),
	}
	// Deadlines, not TTLs: the retention job hands them back to this package and the record
	// itself is kept. One item has one place on the index, so it holds the next only.
	if kind, due, ok := r.deadline(); ok {
		// Never on a day the sweep may have finished: a deadline already past when it is
		// written (a reminder of a request verified late) is due at once.
		rec.Attrs = expiry.Deadline(r.Tenant, kind, k, latest(due, at))
	}
	return table.NewItem(k, version, rec)
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

var validID = regexp.MustCompile(`^req_[A-Za-z0-9_-]{1,60}$`)

// ValidateID checks a request id as a path names it.
func ValidateID(id string) error {
	if !validID.MatchString(id) {
		return apperr.Validation(apperr.FieldError{Field: "id", Message: "must be a request id (req_ and letters, digits, _ or -)"})
	}
	return nil
}

// isRequestKey tells whether k addresses a request of tenant, and which.
func isRequestKey(tenant string, k table.Key) (string, bool) {
	prefix := "T#" + tenant + "#R#"
	if k.SK != skRequest || len(k.PK) <= len(prefix) || k.PK[:len(prefix)] != prefix {
		return "", false
	}
	return k.PK[len(prefix):], true
}

func decodeRequest(it table.Item) (Request, error) {
	var rec record
	if err := it.Decode(&rec); err != nil {
		return Request{}, err
	}
	return rec.Request, nil
}

// event appends a line to the timeline.
func (r *Request) event(at time.Time, name, actor, detail string) {
	r.Timeline = append(r.Timeline, Event{At: at, Event: name, Actor: actor, Detail: detail})
}

// move changes the status, or refuses a transition the life cycle does not allow.
func (r *Request) move(to Status, at time.Time, actor, detail string) error {
	if !CanMove(r.Status, to) {
		return invalidTransition(r.Status, to)
	}
	r.Status = to
	switch to {
	case Completed, Rejected, Failed:
		r.CompletedAt = &at
	default:
		r.CompletedAt = nil
	}
	if to != PendingVerification {
		r.CodeHash, r.CodeExpiresAt = "", time.Time{}
	}
	r.event(at, string(to), actor, detail)
	return nil
}
