package consent

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/secrets"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/table"
)

// ProfileInput is a profile as a site sends it: it replaces the whole stored profile.
type ProfileInput struct {
	FirstName         string
	LastName          string
	Username          string
	Email             string
	Phone             string
	Company           string
	SecurityQuestions []SecurityAnswer
}

// SecurityAnswer is a security question with its answer in clear, as received; the answer is
// hashed before anything is stored and never returned.
type SecurityAnswer struct {
	Question string
	Answer   string
}

// Validate checks the profile's fields and normalizes the email. Messages name the rule,
// never the value. Errors: validation_failed.
func (p *ProfileInput) Validate() error {
	var fs []apperr.FieldError
	for _, f := range []struct{ name, value string }{
		{"first_name", p.FirstName}, {"last_name", p.LastName}, {"username", p.Username}, {"company", p.Company}, {"phone", p.Phone},
	} {
		if f.value == "" {
			continue
		}
		if ok, rule := subject.CheckProfileField(f.name, f.value); !ok {
			fs = append(fs, apperr.FieldError{Field: f.name, Message: rule})
		}
	}
	if p.Email != "" {
		e, err := subject.NormalizeEmail(p.Email)
		if err != nil {
			fs = append(fs, apperr.FieldError{Field: "email", Message: "must be a plain email address"})
		}
		p.Email = e
	}
	if len(p.SecurityQuestions) > 5 {
		fs = append(fs, apperr.FieldError{Field: "security_questions", Message: "must hold at most 5 questions"})
	}
	for i, q := range p.SecurityQuestions {
		if q.Question == "" || !subject.PlainText(q.Question, 200) {
			fs = append(fs, apperr.FieldError{Field: fmt.Sprintf("security_questions[%d].question", i), Message: "must be 1-200 characters, without control characters"})
		}
		if q.Answer == "" || !subject.PlainText(q.Answer, 200) {
			fs = append(fs, apperr.FieldError{Field: fmt.Sprintf("security_questions[%d].answer", i), Message: "must be 1-200 characters, without control characters"})
		}
	}
	if len(fs) > 0 {
		return apperr.Validation(fs...)
	}
	return nil
}

// PutProfile replaces a subject's profile. It is refused, storing nothing, unless terms is
// granted, and while processing is restricted; the transaction is conditional on the consent
// state read, so a withdrawal or restriction that lands first refuses it too. Security answers
// are stored only as argon2id hashes. Changing the email moves the email lookup in the same
// transaction. Errors: validation_failed, consent_required, ErrProcessingRestricted,
// ErrEmailInUse.
func (s *Service) PutProfile(ctx context.Context, tenantID, subjectID string, in ProfileInput) (subject.Profile, error) {
	fs := idFields(subjectID)
	if err := in.Validate(); err != nil {
		e, _ := apperr.From(err)
		fs = append(fs, e.Fields...)
	}
	if len(fs) > 0 {
		return subject.Profile{}, apperr.Validation(fs...)
	}
	t, err := s.tenants.Get(ctx, tenantID)
	if err != nil {
		return subject.Profile{}, err
	}
	w := subject.NewProfileWrite(s.secrets, tenantID, subjectID)
	var questions []subject.SecurityQuestion
	var out subject.Profile
	err = table.Retry(ctx, func() error {
		st, stateVersion, err := s.admit(ctx, tenantID, subjectID, PurposeTerms)
		if err != nil {
			return err
		}
		// Hashed once admitted, so a refused profile costs no slow hashing, and once only.
		if questions == nil {
			questions = make([]subject.SecurityQuestion, len(in.SecurityQuestions))
			for i, q := range in.SecurityQuestions {
				questions[i] = subject.SecurityQuestion{Question: q.Question, AnswerHash: HashAnswer(q.Answer)}
			}
		}
		old, version, err := subject.GetProfile(ctx, s.table, tenantID, subjectID)
		if err != nil && !errors.Is(err, subject.ErrNotFound) {
			return err
		}
		p := subject.Profile{
			SubjectID:         subjectID,
			FirstName:         in.FirstName,
			LastName:          in.LastName,
			Username:          in.Username,
			Email:             in.Email,
			Phone:             in.Phone,
			Company:           in.Company,
			SecurityQuestions: questions,
			UpdatedAt:         s.clock.Now(),
		}
		ws, err := w.Writes(old, version, p)
		if err != nil {
			return err
		}
		// The consent state read admits the profile; it is written back only to record the
		// subject's activity (stateWrite), else checked.
		sw, err := stateWrite(st, stateVersion, t, p.UpdatedAt)
		if err != nil {
			return err
		}
		ws = append([]table.Write{sw}, ws...)
		if err := s.transact(ctx, ws, w); err != nil {
			return err
		}
		out = p
		return nil
	})
	return withoutAnswers(out), err
}

// GetProfile returns a subject's profile without the answers' hashes. Errors: ErrNotFound.
func (s *Service) GetProfile(ctx context.Context, tenantID, subjectID string) (subject.Profile, error) {
	if subject.ValidateID(subjectID) != nil {
		return subject.Profile{}, ErrNotFound
	}
	p, _, err := subject.GetProfile(ctx, s.table, tenantID, subjectID)
	if err != nil {
		return subject.Profile{}, err
	}
	return withoutAnswers(p), nil
}

func withoutAnswers(p subject.Profile) subject.Profile {
	qs := make([]subject.SecurityQuestion, len(p.SecurityQuestions))
	for i, q := range p.SecurityQuestions {
		qs[i] = subject.SecurityQuestion{Question: q.Question}
	}
	p.SecurityQuestions = qs
	return p
}

// admit reads the state and refuses new subject data that purpose does not cover: no
// state, an erased subject or the purpose not granted (consent_required), or processing
// restricted (ErrProcessingRestricted). It returns the state and its version.
func (s *Service) admit(ctx context.Context, tenantID, subjectID, purpose string) (State, int64, error) {
	st, version, err := s.state(ctx, tenantID, subjectID)
	switch {
	case errors.Is(err, ErrNotFound):
		return State{}, 0, consentRequired(purpose)
	case err != nil:
		return State{}, 0, err
	case st.Erased || !st.granted(purpose):
		return State{}, 0, consentRequired(purpose)
	case st.Restricted:
		return State{}, 0, ErrProcessingRestricted
	}
	return st, version, nil
}

// contactEmailWrites keep a decision's email as the subject's contact address when the
// profile has none (see Record): the profile with the email and the email lookup.
func (s *Service) contactEmailWrites(ctx context.Context, tenantID, subjectID, email string, w *subject.ProfileWrite, now time.Time) ([]table.Write, error) {
	old, version, err := subject.GetProfile(ctx, s.table, tenantID, subjectID)
	if err != nil && !errors.Is(err, subject.ErrNotFound) {
		return nil, err
	}
	if old.Email != "" {
		return nil, nil
	}
	p := old
	p.Email, p.UpdatedAt = email, now
	return w.Writes(old, version, p)
}

// Argon2id parameters of security answers: OWASP's first recommended set (19 MiB of memory,
// 2 passes, 1 lane), a 16-byte random salt and a 32-byte key. About 20-40 ms per answer on one
// core, which makes guessing answers from a stolen table slow; the parameters are stored in
// each hash, so they can be raised without invalidating older hashes.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// HashAnswer hashes a security answer with argon2id, in the PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, salt and key in unpadded standard base64.
func HashAnswer(answer string) string {
	salt := secrets.Random(argonSaltLen)
	key := argon2.IDKey([]byte(answer), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}
