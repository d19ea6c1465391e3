package dsr

import (
	"slices"
	"time"
)

// Periods of Art. 12(3), in months from receipt: one to answer, and two further months when
// the controller extends it, which makes three from receipt.
const (
	AnswerMonths   = 1
	ExtendedMonths = 3
)

// DueAt is the end of a period of months starting at received, as Regulation (EEC, Euratom)
// No 1182/71 counts it (Art. 3(2)(c) and 3(4)): the last second (UTC) of the day with the same
// date months later; the last day of that month when it has no such date (31 Jan + 1 month →
// 28 or 29 Feb); and when that day is a Saturday, a Sunday or one of holidays (YYYY-MM-DD),
// the next day that is none of them.
func DueAt(received time.Time, months int, holidays []string) time.Time {
	r := received.UTC()
	y, m, d := r.Date()
	target := time.Date(y, m+time.Month(months), 1, 0, 0, 0, 0, time.UTC)
	if last := daysIn(target.Year(), target.Month()); d > last {
		d = last
	}
	day := time.Date(target.Year(), target.Month(), d, 0, 0, 0, 0, time.UTC)
	for !workingDay(day, holidays) {
		day = day.AddDate(0, 0, 1)
	}
	return day.Add(24*time.Hour - time.Second)
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func workingDay(day time.Time, holidays []string) bool {
	switch day.Weekday() {
	case time.Saturday, time.Sunday:
		return false
	}
	return !slices.Contains(holidays, day.Format(time.DateOnly))
}
