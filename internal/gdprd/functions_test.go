package gdprd_test

import (
	"testing"

	gdpr "github.com/example/gdpr"
	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/samtemplate"
)

// TestFunctionsMatchTemplate: gdprd runs every function of template.yaml, each with the kind of
// builder its triggers need, and no function the template lacks.
func TestFunctionsMatchTemplate(t *testing.T) {
	tpl, err := samtemplate.Parse(gdpr.Template)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string][]string{}
	routes := tpl.Routes()
	if r, ok := tpl.DefaultRoute(); ok {
		routes = append(routes, r)
	}
	for _, r := range routes {
		kinds[r.Function] = append(kinds[r.Function], "http")
	}
	for _, s := range tpl.StreamTriggers() {
		kinds[s.Function] = append(kinds[s.Function], "stream")
	}
	for _, s := range tpl.Schedules() {
		kinds[s.Function] = append(kinds[s.Function], "schedule")
	}
	listed := map[string]bool{}
	for _, f := range gdprd.Functions {
		listed[f.ID] = true
		var kind string
		switch {
		case f.HTTP != nil:
			kind = "http"
		case f.Stream != nil:
			kind = "stream"
		case f.Schedule != nil:
			kind = "schedule"
		}
		ks := kinds[f.ID]
		if len(ks) == 0 {
			t.Errorf("%s is listed but has no trigger in template.yaml", f.ID)
		}
		for _, k := range ks {
			if k != kind {
				t.Errorf("%s is listed as a %s function; template.yaml gives it a %s trigger", f.ID, kind, k)
			}
		}
	}
	for _, f := range tpl.Functions() {
		if !listed[f.LogicalID] {
			t.Errorf("%s of template.yaml is not in gdprd.Functions", f.LogicalID)
		}
	}
	if len(listed) != len(gdprd.Functions) {
		t.Errorf("a function is listed twice: %d ids for %d entries", len(listed), len(gdprd.Functions))
	}
}
