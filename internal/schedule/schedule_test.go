package schedule_test

import (
	"testing"

	"github.com/example/gdpr/internal/schedule"
)

func TestCheck(t *testing.T) {
	if err := schedule.Check([]byte(`{"job":"retention"}`), "retention"); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{`{"job":"deliveries"}`, `{}`, `{"job":"retention","x":1}`, `[]`, ``, `{"job":"retention"} {}`} {
		if err := schedule.Check([]byte(in), "retention"); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
