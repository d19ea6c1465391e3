package dsr_test

import (
	"testing"
	"time"

	"github.com/example/gdpr/internal/dsr"
)

func TestDueAt(t *testing.T) {
	day := func(s string) time.Time {
		t.Helper()
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, c := range []struct {
		name     string
		received string // 14:30 UTC on that day
		months   int
		holidays []string
		want     string // due at 23:59:59 UTC on that day
	}{
		{"MonthEndIntoShortFebruaryOnSaturday", "2026-01-31", 1, nil, "2026-03-02"},
		{"MonthEndIntoLeapFebruary", "2028-01-31", 1, nil, "2028-02-29"},
		{"ThirtyFirstIntoThirtyDayMonth", "2026-03-31", 1, nil, "2026-04-30"},
		{"ThirtiethIntoFebruary", "2027-01-30", 1, nil, "2027-03-01"},       // 28 Feb 2027 is a Sunday
		{"TwentyNinthIntoLeapFebruary", "2024-01-29", 1, nil, "2024-02-29"}, // Thursday
		{"LeapDayIntoMarch", "2028-02-29", 1, nil, "2028-03-29"},            // Wednesday
		{"TwentyEighthOfLeapFebruary", "2028-02-28", 1, nil, "2028-03-28"},  // Tuesday
		{"AcrossTheYearOntoSunday", "2026-12-31", 1, nil, "2027-02-01"},
		{"OrdinaryWeekday", "2026-05-12", 1, nil, "2026-06-12"}, // Friday
		{"OrdinaryThursday", "2026-04-14", 1, nil, "2026-05-14"},
		{"HolidayRolls", "2026-04-14", 1, []string{"2026-05-14"}, "2026-05-15"}, // to Friday
		{"HolidayBeforeWeekendRollsPastIt", "2026-04-15", 1, []string{"2026-05-15"}, "2026-05-18"},
		{"WeekendThenHolidayMonday", "2026-02-28", 1, []string{"2026-03-30"}, "2026-03-31"}, // Sat 28 Mar → Mon 30 (holiday) → Tue
		{"ChristmasAndBoxingDay", "2026-11-25", 1, []string{"2026-12-25", "2026-12-28"}, "2026-12-29"},
		{"ExtendedThreeMonthsFromMonthEnd", "2026-01-31", 3, nil, "2026-04-30"},
		{"ExtendedIntoLeapFebruary", "2027-11-30", 3, nil, "2028-02-29"},
		{"ExtendedOntoSunday", "2026-02-17", 3, nil, "2026-05-18"},
		{"ReceivedLateInTheDay", "2026-06-15", 1, nil, "2026-07-15"},
	} {
		t.Run(c.name, func(t *testing.T) {
			received := day(c.received).Add(14*time.Hour + 30*time.Minute)
			got := dsr.DueAt(received, c.months, c.holidays)
			want := day(c.want).Add(24*time.Hour - time.Second)
			if !got.Equal(want) {
				t.Fatalf("DueAt(%s, %d) = %s (%s), want %s (%s)", c.received, c.months, got, got.Weekday(), want, want.Weekday())
			}
			if got.Location() != time.UTC {
				t.Fatalf("DueAt is in %s, want UTC", got.Location())
			}
		})
	}
}

// TestDueAtProperties checks every day of eight years against the rule stated another way:
// the calendar date a month on (or that month's last day) when it is a weekday, else the
// Monday after it.
func TestDueAtProperties(t *testing.T) {
	for d := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC); d.Year() < 2032; d = d.AddDate(0, 0, 1) {
		first := time.Date(d.Year(), d.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		date := first.AddDate(0, 0, d.Day()-1)
		if date.Month() != first.Month() {
			date = first.AddDate(0, 1, -1) // the month is too short: its last day
		}
		switch date.Weekday() {
		case time.Saturday:
			date = date.AddDate(0, 0, 2)
		case time.Sunday:
			date = date.AddDate(0, 0, 1)
		}
		want := date.Add(24*time.Hour - time.Second)
		if got := dsr.DueAt(d, 1, nil); !got.Equal(want) {
			t.Fatalf("received %s: due %s, want %s", d.Format(time.DateOnly), got, want)
		}
	}
}
