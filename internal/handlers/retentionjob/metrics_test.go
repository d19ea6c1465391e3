package retentionjob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestWithMetrics: a run's counts are written as one embedded metric format line that names
// every count as a metric of the namespace, with its value at the top level; a failed run
// writes nothing.
func TestWithMetrics(t *testing.T) {
	rep := newReport()
	rep.Tenants = 2
	rep.Deleted["exports"] = 3
	rep.Deadlines["overdue"] = 1
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	h := WithMetrics(func(context.Context, json.RawMessage) (json.RawMessage, error) { return json.Marshal(rep) },
		"gdpr/prod", &out, func() time.Time { return at })
	answer, err := h(context.Background(), json.RawMessage(`{"job":"retention"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := json.Marshal(rep); !bytes.Equal(answer, want) {
		t.Fatalf("answer changed: %s", answer)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines, want one: %q", len(lines), out.String())
	}
	var line struct {
		AWS struct {
			Timestamp         int64 `json:"Timestamp"`
			CloudWatchMetrics []struct {
				Namespace  string     `json:"Namespace"`
				Dimensions [][]string `json:"Dimensions"`
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Job      string  `json:"Job"`
		Overdue  float64 `json:"deadlines.overdue"`
		Exports  float64 `json:"deleted.exports"`
		Requests float64 `json:"expired.requests"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &values); err != nil {
		t.Fatal(err)
	}
	if len(line.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("directives %+v", line.AWS.CloudWatchMetrics)
	}
	d := line.AWS.CloudWatchMetrics[0]
	if line.AWS.Timestamp != at.UnixMilli() || d.Namespace != "gdpr/prod" || len(d.Dimensions) != 1 || d.Dimensions[0][0] != "Job" || line.Job != "retention" {
		t.Fatalf("line %s", lines[0])
	}
	if line.Overdue != 1 || line.Exports != 3 || line.Requests != 0 {
		t.Fatalf("values %s", lines[0])
	}
	// Every metric has its value, and every count is a metric (13 counts, tenants, unfinished).
	for _, m := range d.Metrics {
		if _, ok := values[m.Name].(float64); !ok || m.Unit != "Count" {
			t.Fatalf("metric %q has no number in %s", m.Name, lines[0])
		}
	}
	if len(d.Metrics) != len(rep.Deleted)+len(rep.Expired)+len(rep.Deadlines)+2 {
		t.Fatalf("%d metrics: %+v", len(d.Metrics), d.Metrics)
	}

	out.Reset()
	failing := WithMetrics(func(context.Context, json.RawMessage) (json.RawMessage, error) { return nil, errors.New("down") },
		"gdpr/prod", &out, time.Now)
	if _, err := failing(context.Background(), nil); err == nil || out.Len() != 0 {
		t.Fatalf("failed run: %v, wrote %q", err, out.String())
	}
}
