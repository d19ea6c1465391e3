package gdprd

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// timing tells when a schedule fires next after a moment.
type timing interface {
	next(after time.Time) time.Time
}

// every fires at a fixed interval, as rate(...) does.
type every time.Duration

func (e every) next(after time.Time) time.Time { return after.Add(time.Duration(e)) }

// parseSchedule reads a rate(...) or cron(...) expression.
func parseSchedule(expr string) (timing, error) {
	if strings.HasPrefix(expr, "cron(") {
		return parseCron(expr)
	}
	d, err := parseRate(expr)
	if err != nil {
		return nil, err
	}
	return every(d), nil
}

// cron is an EventBridge cron expression, in UTC: minutes, hours, day of month, month, day
// of week (1 = Sunday) and year, each a set of allowed values. The L, W and # forms are
// refused as values (an error at start, not a silent difference).
type cron struct {
	minute, hour, dom, month, dow, year map[int]bool
}

var (
	monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	dayNames   = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
)

func parseCron(expr string) (*cron, error) {
	inner, ok := strings.CutPrefix(expr, "cron(")
	if ok {
		inner, ok = strings.CutSuffix(inner, ")")
	}
	f := strings.Fields(inner)
	if !ok || len(f) != 6 {
		return nil, fmt.Errorf("%q is not cron(minutes hours day-of-month month day-of-week year)", expr)
	}
	if (f[2] == "?") == (f[4] == "?") {
		return nil, fmt.Errorf("%q: exactly one of day-of-month and day-of-week must be ?", expr)
	}
	c := &cron{}
	var err error
	fields := []struct {
		dst      *map[int]bool
		lo, hi   int
		names    map[string]int
		question bool
	}{
		{&c.minute, 0, 59, nil, false},
		{&c.hour, 0, 23, nil, false},
		{&c.dom, 1, 31, nil, true},
		{&c.month, 1, 12, monthNames, false},
		{&c.dow, 1, 7, dayNames, true},
		{&c.year, 1970, 2199, nil, false},
	}
	for i, fd := range fields {
		if *fd.dst, err = cronField(f[i], fd.lo, fd.hi, fd.names, fd.question); err != nil {
			return nil, fmt.Errorf("%q: field %d: %w", expr, i+1, err)
		}
	}
	return c, nil
}

func cronField(s string, lo, hi int, names map[string]int, question bool) (map[int]bool, error) {
	set := map[int]bool{}
	if s == "?" {
		if !question {
			return nil, fmt.Errorf("? is only for the day fields")
		}
		for v := lo; v <= hi; v++ {
			set[v] = true
		}
		return set, nil
	}
	value := func(v string) (int, error) {
		if n, ok := names[strings.ToUpper(v)]; ok {
			return n, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("%q is not a value from %d to %d", v, lo, hi)
		}
		return n, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%q: bad increment", part)
			}
			step = n
		}
		from, to := lo, hi
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if from, err = value(a); err != nil {
				return nil, err
			}
			if to, err = value(b); err != nil {
				return nil, err
			}
			if from > to {
				return nil, fmt.Errorf("%q: range ends before it starts", part)
			}
		default:
			v, err := value(rng)
			if err != nil {
				return nil, err
			}
			from = v
			if !hasStep {
				to = v
			}
		}
		for v := from; v <= to; v += step {
			set[v] = true
		}
	}
	return set, nil
}

// next is the first whole minute after after (in UTC) that the expression allows.
func (c *cron) next(after time.Time) time.Time {
	t := after.UTC().Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		switch {
		case !c.year[t.Year()]:
			t = time.Date(t.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC)
		case !c.month[int(t.Month())]:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		case !c.dom[t.Day()] || !c.dow[int(t.Weekday())+1]:
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
		case !c.hour[t.Hour()]:
			t = t.Truncate(time.Hour).Add(time.Hour)
		case !c.minute[t.Minute()]:
			t = t.Add(time.Minute)
		default:
			return t
		}
	}
	// Nothing within five years (e.g. a past year): never, for a local server's lifetime.
	return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
}
