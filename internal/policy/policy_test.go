package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/policy"
)

func TestValidate(t *testing.T) {
	ok := policy.Input{Version: "2026-02", URL: "https://example.org/p", Summary: "What changes.\nAnd more.", EffectiveAt: time.Now()}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid input: %v", err)
	}
	for name, f := range map[string]func(in *policy.Input){
		"HTTPURL":        func(in *policy.Input) { in.URL = "http://example.org/p" },
		"URLCredentials": func(in *policy.Input) { in.URL = "https://u:p@example.org/p" },
		"Markup":         func(in *policy.Input) { in.Summary = "<b>bold</b>" },
		"Control":        func(in *policy.Input) { in.Summary = "bell\a" },
		"TooLong":        func(in *policy.Input) { in.Summary = strings.Repeat("a", 2001) },
		"TooManyLines":   func(in *policy.Input) { in.Summary = strings.Repeat("a\n", 21) + "a" },
		"Empty":          func(in *policy.Input) { in.Summary = "  " },
		"Version":        func(in *policy.Input) { in.Version = "a#b" },
		"NoTime":         func(in *policy.Input) { in.EffectiveAt = time.Time{} },
	} {
		t.Run(name, func(t *testing.T) {
			in := ok
			f(&in)
			e, isApp := apperr.From(in.Validate())
			if !isApp || e.Code != policy.CodeInvalidPolicy || e.Kind != apperr.Unprocessable || len(e.Fields) != 1 {
				t.Fatalf("err = %v; want one invalid_policy field", e)
			}
		})
	}
}

func TestTimeline(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tl := policy.NewTimeline([]policy.Policy{
		{Version: "v3", EffectiveAt: t0.Add(60 * day)},
		{Version: "v1", EffectiveAt: t0},
		{Version: "v2", EffectiveAt: t0.Add(30 * day), Material: true},
	})
	if p, _ := tl.InEffect(t0.Add(31 * day)); p.Version != "v2" {
		t.Fatalf("in effect %s, want v2", p.Version)
	}
	if p, _ := tl.Next(t0.Add(31 * day)); p.Version != "v3" {
		t.Fatalf("next %s, want v3", p.Version)
	}
	if _, ok := tl.InEffect(t0.Add(-day)); ok {
		t.Fatal("a version in effect before the first")
	}
	for _, c := range []struct {
		name         string
		now, termsAt time.Time
		termsVersion string
		reconsent    bool
	}{
		{"BeforeItTakesEffect", t0.Add(29 * day), t0.Add(day), "v1", false},
		{"AfterItTookEffect", t0.Add(31 * day), t0.Add(day), "v1", true},
		{"AcceptedWhileAnnounced", t0.Add(31 * day), t0.Add(day), "v2", false},
		{"AcceptedALaterOne", t0.Add(31 * day), t0.Add(day), "v3", false},
		{"DecidedAfter", t0.Add(31 * day), t0.Add(30*day + time.Second), "v1", false},
		{"UnknownVersion", t0.Add(31 * day), t0.Add(day), "legacy", true},
		{"NeverDecided", t0.Add(31 * day), time.Time{}, "", false},
		{"MinorLaterStillMaterial", t0.Add(61 * day), t0.Add(day), "v1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := tl.ReconsentRequired(c.now, c.termsAt, c.termsVersion); got != c.reconsent {
				t.Fatalf("ReconsentRequired = %v, want %v", got, c.reconsent)
			}
		})
	}
}
