package gdprd

import (
	"testing"
	"time"
)

func TestCron(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct{ expr, after, want string }{
		{"cron(0 * * * ? *)", "2026-11-28T16:47:00Z", "2026-11-28T17:00:00Z"},
		{"cron(0/15 * * * ? *)", "2026-11-28T16:47:00Z", "2026-11-28T17:00:00Z"},
		{"cron(0/15 * * * ? *)", "2026-11-28T16:30:00Z", "2026-11-28T16:45:00Z"},
		{"cron(5,35 3 * * ? *)", "2026-11-28T03:10:00Z", "2026-11-28T03:35:00Z"},
		{"cron(0 2 1 * ? *)", "2026-11-28T16:47:00Z", "2026-12-01T02:00:00Z"},
		{"cron(0 9 ? * MON-FRI *)", "2026-11-28T16:47:00Z", "2026-11-30T09:00:00Z"}, // a Saturday
		{"cron(0 9 ? * 1 *)", "2026-11-28T16:47:00Z", "2026-11-29T09:00:00Z"},       // 1 is Sunday
		{"cron(0 0 29 FEB ? *)", "2026-11-28T16:47:00Z", "2028-02-29T00:00:00Z"},
		{"cron(30 10 31 12 ? 2027)", "2026-11-28T16:47:00Z", "2027-12-31T10:30:00Z"},
		{"cron(0 0 1 1 ? 2020)", "2026-11-28T16:47:00Z", "9999-01-01T00:00:00Z"},
	} {
		t.Run(tc.expr+" after "+tc.after, func(t *testing.T) {
			c, err := parseCron(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := c.next(at(tc.after)), at(tc.want); !got.Equal(want) {
				t.Fatalf("next = %v, want %v", got, want)
			}
		})
	}
	for _, expr := range []string{
		"cron(0 * * * *)",       // five fields
		"cron(0 * * * * *)",     // no ?
		"cron(0 * ? * ? *)",     // two ?
		"cron(60 * * * ? *)",    // out of range
		"cron(0 * L * ? *)",     // last day
		"cron(0 * 15W * ? *)",   // weekday
		"cron(0 * ? * 6#3 *)",   // third Friday
		"cron(0 ? * * ? *)",     // ? outside the day fields
		"cron(0 5-1 * * ? *)",   // backward range
		"cron(*/0 * * * ? *)",   // zero increment
		"rate(5 minutes) extra", // not cron
	} {
		t.Run(expr, func(t *testing.T) {
			if _, err := parseCron(expr); err == nil {
				t.Fatal("no error")
			}
		})
	}
	t.Run("Rate", func(t *testing.T) {
		tm, err := parseSchedule("rate(2 hours)")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := tm.next(at("2026-11-28T16:47:00Z")), at("2026-11-28T18:47:00Z"); !got.Equal(want) {
			t.Fatalf("next = %v, want %v", got, want)
		}
	})
}
