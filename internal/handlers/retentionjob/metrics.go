package retentionjob

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// WithMetrics writes the counts of each run's Report to w as one CloudWatch embedded metric
// format line (EMF: a JSON object that CloudWatch Logs turns into metrics, so the function
// needs no cloudwatch:PutMetricData), in namespace, with the dimension Job. In Lambda, w is
// stdout, which goes to the function's log group. Metric names are the report's: a section
// and a kind ("deleted.devices", "expired.requests", "deadlines.overdue"). A failed run writes
// no line: the function's Errors metric counts it.
func WithMetrics(h Handler, namespace string, w io.Writer, now func() time.Time) Handler {
	return func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		out, err := h(ctx, in)
		if err != nil {
			return out, err
		}
		var rep Report
		if err := json.Unmarshal(out, &rep); err != nil {
			return nil, fmt.Errorf("handlers: retention: metrics of %s: %w", out, err)
		}
		line, err := emf(rep, namespace, now())
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			return nil, fmt.Errorf("handlers: retention: metrics: %w", err)
		}
		return out, nil
	}
}

// emf is the report as one EMF object.
func emf(rep Report, namespace string, at time.Time) ([]byte, error) {
	values := map[string]any{"tenants": rep.Tenants, "unfinished": 0}
	if !rep.Finished {
		values["unfinished"] = 1
	}
	for section, counts := range map[string]map[string]int{"deleted": rep.Deleted, "expired": rep.Expired, "deadlines": rep.Deadlines} {
		for kind, n := range counts {
			values[section+"."+kind] = n
		}
	}
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	var metrics []metric
	for _, name := range slices.Sorted(maps.Keys(values)) {
		metrics = append(metrics, metric{Name: name, Unit: "Count"})
	}
	values["Job"] = rep.Job
	values["_aws"] = map[string]any{
		"Timestamp": at.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  namespace,
			"Dimensions": [][]string{{"Job"}},
			"Metrics":    metrics,
		}},
	}
	return json.Marshal(values)
}
