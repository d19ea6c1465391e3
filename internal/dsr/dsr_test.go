package dsr_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/subject"
)

func TestRejectionValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		j    dsr.Rejection
		ok   bool
	}{
		{"Excessive", dsr.Rejection{Reason: dsr.Excessive}, true},
		{"OtherWithDetail", dsr.Rejection{Reason: dsr.OtherReason, Detail: "Explained."}, true},
		{"OtherWithoutDetail", dsr.Rejection{Reason: dsr.OtherReason, Detail: "  "}, false},
		{"UnknownReason", dsr.Rejection{Reason: "lazy"}, false},
		{"DetailTooLong", dsr.Rejection{Reason: dsr.Excessive, Detail: strings.Repeat("x", 1001)}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.j.Validate(); (err == nil) != c.ok {
				t.Fatalf("Validate = %v, want ok %v", err, c.ok)
			}
		})
	}
}

// FuzzInput feeds the submission decoder and its validation arbitrary bodies: they never
// panic, every failure is a client error, and whatever passes keeps the rules.
func FuzzInput(f *testing.F) {
	for _, s := range []string{
		`{"type":"access","email":"ann@example.org"}`,
		`{"type":"rectification","email":"Ann@Example.org","subject_id":"u-42","rectification":{"phone":"+44 20 7946 0000","first_name":"Ann"}}`,
		`{"type":"restriction","subject_id":"u-1","lift":true,"note":"x"}`,
		`{"type":"erasure","email":"a@b.c","lift":false}`,
		`{"type":"access","rectification":{}}`,
		`{"type":"objection","email":"\u00e9@example.org"}`,
		`{"type":1}`, `[]`, `null`, `{"type":"access"} {}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, public bool) {
		var in dsr.Input
		if err := httpapi.DecodeJSON(body, &in); err != nil {
			if apperr.KindOf(err) != apperr.Invalid {
				t.Fatalf("decode: %v is not a client error", err)
			}
			return
		}
		if err := in.Validate(public); err != nil {
			ae, ok := apperr.From(err)
			if !ok || ae.Code != apperr.CodeValidation || len(ae.Fields) == 0 {
				t.Fatalf("Validate: %v, want validation_failed with fields", err)
			}
			return
		}
		switch {
		case !slices.Contains(dsr.Types, in.Type):
			t.Fatalf("type %q passed", in.Type)
		case (in.Type == dsr.Rectification) != (in.Rectification != nil):
			t.Fatalf("rectification %v with type %s passed", in.Rectification != nil, in.Type)
		case in.Lift != nil && in.Type != dsr.Restriction:
			t.Fatal("lift passed with another type")
		case public && in.Email == "", in.Email == "" && in.SubjectID == "":
			t.Fatal("no email passed")
		case in.SubjectID != "" && subject.ValidateID(in.SubjectID) != nil:
			t.Fatal("bad subject id passed")
		}
		if in.Email != "" {
			if e, err := subject.NormalizeEmail(in.Email); err != nil || e != in.Email {
				t.Fatalf("email %q not normalized", in.Email)
			}
		}
	})
}

// TestRectificationFollowsProfileRules: a rectification cannot store what the profile intake
// refuses, because both use subject.CheckProfileField.
func TestRectificationFollowsProfileRules(t *testing.T) {
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name   string
		fields dsr.ProfileFields
		field  string
	}{
		{"ControlCharacter", dsr.ProfileFields{FirstName: str("Ann\x07")}, "rectification.first_name"},
		{"TooLong", dsr.ProfileFields{Company: str(strings.Repeat("c", 201))}, "rectification.company"},
		{"Phone", dsr.ProfileFields{Phone: str("call me")}, "rectification.phone"},
		{"Empty", dsr.ProfileFields{LastName: str("  ")}, "rectification.last_name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := dsr.Input{Type: dsr.Rectification, Email: "ann@example.org", Rectification: &tc.fields}
			e, ok := apperr.From(in.Validate(true))
			if !ok || len(e.Fields) != 1 || e.Fields[0].Field != tc.field {
				t.Fatalf("got %v, want one error on %s", e, tc.field)
			}
		})
	}
	ok := dsr.Input{Type: dsr.Rectification, Email: "ann@example.org", Rectification: &dsr.ProfileFields{Phone: str("+44 20 7946 0000")}}
	if err := ok.Validate(true); err != nil {
		t.Fatalf("a valid rectification was refused: %v", err)
	}
}
