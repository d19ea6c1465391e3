// Package schedule is what a scheduled job receives: the Input its schedule in template.yaml
// gives it, `{"job":"<name>"}`, the same in AWS (EventBridge Scheduler passes Input as the
// event) and locally (gdprd's timers and POST /_local/jobs/{name}).
package schedule

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Check refuses an input that is not exactly {"job": job}: a schedule wired to the wrong
// function fails loudly instead of running a job it did not mean.
func Check(input json.RawMessage, job string) error {
	var in struct {
		Job string `json:"job"`
	}
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.Job != job || dec.More() {
		return fmt.Errorf("schedule: input is not {\"job\":%q}", job)
	}
	return nil
}
