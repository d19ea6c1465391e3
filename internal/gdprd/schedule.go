package gdprd

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/example/gdpr/internal/samtemplate"
)

// A job is one schedule of template.yaml bound to its function.
type job struct {
	schedule samtemplate.Schedule
	// name is the "job" member of the schedule's Input: what POST /_local/jobs/{name} and
	// `gdprctl jobs run` call it.
	name string
	fn   *function
	// lock is the function's: a function with reserved concurrency 1 (the retention job)
	// must not run twice at once, and no job here needs more.
	lock *sync.Mutex
}

// jobs binds every schedule whose function is built. Schedules of functions not built are
// returned by name in missing.
func bindJobs(tmpl *samtemplate.Template, fns map[string]*function) (jobs []*job, missing []string) {
	locks := map[string]*sync.Mutex{}
	for _, s := range tmpl.Schedules() {
		fn, ok := fns[s.Function]
		if !ok || fn.kind != KindSchedule {
			missing = append(missing, s.Function+"."+s.Name)
			continue
		}
		if locks[s.Function] == nil {
			locks[s.Function] = &sync.Mutex{}
		}
		j := &job{schedule: s, fn: fn, lock: locks[s.Function]}
		var in struct {
			Job string `json:"job"`
		}
		if s.Input != nil && json.Unmarshal(s.Input, &in) == nil {
			j.name = in.Job
		}
		jobs = append(jobs, j)
	}
	return jobs, missing
}

// findJob returns the job called name.
func findJob(jobs []*job, name string) (*job, bool) {
	for _, j := range jobs {
		if j.name != "" && j.name == name {
			return j, true
		}
	}
	return nil, false
}

// run invokes the job's function once with what the schedule sends and returns its answer.
func (j *job) run(ctx context.Context, now time.Time) (json.RawMessage, error) {
	j.lock.Lock()
	defer j.lock.Unlock()
	in := j.schedule.Input
	if in == nil {
		in = scheduledEvent(j.schedule, now)
	}
	out, err := j.fn.invoke(ctx, in)
	if err != nil {
		return nil, err
	}
	if !json.Valid(out) {
		return nil, fmt.Errorf("%s: answer is not JSON", j.fn.id)
	}
	return out, nil
}

// scheduledEvent is the EventBridge envelope a schedule without Input delivers.
func scheduledEvent(s samtemplate.Schedule, now time.Time) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"version":     "0",
		"id":          newRequestID(),
		"detail-type": "Scheduled Event",
		"source":      "aws.events",
		"account":     accountID,
		"time":        now.UTC().Format(time.RFC3339),
		"region":      "local",
		"resources":   []string{"arn:aws:events:local:" + accountID + ":rule/" + s.Function + "-" + s.Name},
		"detail":      map[string]any{},
	})
	return b
}

// parseRate reads rate(N minute|minutes|hour|hours|day|days), as EventBridge writes it.
func parseRate(expr string) (time.Duration, error) {
	inner, ok := strings.CutPrefix(expr, "rate(")
	if !ok {
		return 0, fmt.Errorf("%q is not a rate expression", expr)
	}
	inner, ok = strings.CutSuffix(inner, ")")
	fields := strings.Fields(inner)
	if !ok || len(fields) != 2 {
		return 0, fmt.Errorf("%q is not rate(N unit)", expr)
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q: the value must be a positive integer", expr)
	}
	// EventBridge wants the singular for 1 and the plural otherwise.
	units := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}
	unit := fields[1]
	if n != 1 {
		var plural bool
		if unit, plural = strings.CutSuffix(unit, "s"); !plural {
			return 0, fmt.Errorf("%q: the unit must be plural for a value other than 1", expr)
		}
	}
	d, ok := units[unit]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit", expr)
	}
	return time.Duration(n) * d, nil
}
