package gdprd_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/mototest"
)

// TestFlowPolicies publishes policy versions over HTTP on the embedded home: the stream
// record starts the run, every subject is told once (read back from the outbox), the public
// page shows the current and the next version, consents must name a published version, and
// reconsent follows a material version taking effect (the clock moved), not another one.
func TestFlowPolicies(t *testing.T) {
	s := start(t, gdprd.Config{})
	flowPolicies(t, localClient(t, s))
}

// TestAWSFlowPolicies is the same flow with gdprd on DynamoDB (its stream feeding
// NotifyFunction) and SES, emulated by moto_server; SES on a server of its own.
func TestAWSFlowPolicies(t *testing.T) {
	vars := motoEnv(t, "gdpr-policies")
	mailer := mototest.Start(t)
	t.Setenv("AWS_ENDPOINT_URL_SESV2", mailer.Endpoint)
	vars["AWS_ENDPOINT_URL_SESV2"] = mailer.Endpoint
	// moto's SES tells a send rate of 1 a second: the notices of this flow take seconds.
	dir := t.TempDir()
	s := start(t, gdprd.Config{DataDir: dir, Env: env(vars)})
	flowPolicies(t, client{url: s.URL(), keys: credentials(t, dir), mail: sesMail(mailer)})
}

type policyOut struct {
	Version     string `json:"version"`
	URL         string `json:"url"`
	EffectiveAt string `json:"effective_at"`
	Material    bool   `json:"material"`
}

type runOut struct {
	State                                    string
	Total, Sent, Pending, Failed, Suppressed int64
}

func policyBody(version, effective string, material bool) string {
	return fmt.Sprintf(`{"version":%q,"url":"https://example.org/privacy/%s","summary":"Device logs are kept for 60 days, not 90.",`+
		`"effective_at":%q,"material":%t}`, version, version, effective, material)
}

func flowPolicies(t *testing.T, c client) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	c.setClock(t, t0.Format(time.RFC3339))
	emails := map[string]string{"u-p1": "p1@example.org", "u-p2": "p2@example.org", "u-p3": "p3@example.org"}
	consentTo := func(t *testing.T, id, version string) response {
		t.Helper()
		body := fmt.Sprintf(`{"subject_id":%q,"email":%q,"policy_version":%q,"purposes":{"terms":true},"method":"web_form"}`, id, emails[id], version)
		return c.site(t, "POST", "/v1/consents", body)
	}
	reconsent := func(t *testing.T, id string) bool {
		t.Helper()
		var v consentState
		c.site(t, "GET", "/v1/consents/"+id, "").must(t, http.StatusOK, &v)
		if !v.LoginAllowed {
			t.Fatalf("%s: login_allowed = false; the reconsent state must not change the gate", id)
		}
		return v.ReconsentRequired
	}
	waitDone := func(t *testing.T, version string) runOut {
		t.Helper()
		var st runOut
		waitFor(t, "the run of "+version+" done", func() bool {
			c.admin(t, "GET", "/v1/policies/"+version+"/notifications", "").must(t, http.StatusOK, &st)
			return st.State == "done"
		})
		return st
	}
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
	const day = 24 * time.Hour

	step(t, "ConsentsBeforePublication", func(t *testing.T) {
		for _, id := range []string{"u-p1", "u-p2"} {
			consentTo(t, id, "anything-goes").must(t, http.StatusCreated, nil)
		}
		c.public(t, "GET", "/v1/public/"+c.keys.Tenant+"/policy", "").code(t, http.StatusNotFound, "no_policy_published")
	})
	step(t, "PublishRefusals", func(t *testing.T) {
		c.admin(t, "POST", "/v1/policies", policyBody("2026-02", at(10*day), true)).code(t, http.StatusUnprocessableEntity, "notice_period_too_short")
		bad := `{"version":"2026-02","url":"http://example.org/p","summary":"<b>x</b>","effective_at":"` + at(40*day) + `"}`
		c.admin(t, "POST", "/v1/policies", bad).code(t, http.StatusUnprocessableEntity, "invalid_policy")
		c.site(t, "POST", "/v1/policies", policyBody("2026-02", at(40*day), true)).code(t, http.StatusForbidden, "forbidden")
		c.admin(t, "GET", "/v1/policies/2026-02", "").code(t, http.StatusNotFound, "policy_not_found")
	})
	step(t, "PublishAndNotify", func(t *testing.T) {
		var p policyOut
		c.admin(t, "POST", "/v1/policies", policyBody("2026-02", at(31*day), true)).must(t, http.StatusCreated, &p)
		if p.Version != "2026-02" || !p.Material || p.EffectiveAt != at(31*day) {
			t.Fatalf("published %+v", p)
		}
		c.admin(t, "POST", "/v1/policies", policyBody("2026-02", at(40*day), false)).code(t, http.StatusConflict, "policy_version_exists")
		st := waitDone(t, "2026-02")
		if st.Total != 2 || st.Sent != 2 || st.Pending != 0 || st.Failed != 0 || st.Suppressed != 0 {
			t.Fatalf("run %+v; want both subjects told", st)
		}
		for _, id := range []string{"u-p1", "u-p2"} {
			c.mailWith(t, emails[id], "2026-02", "Device logs are kept for 60 days, not 90.", "https://example.org/privacy/2026-02")
		}
	})
	step(t, "PublicPolicy", func(t *testing.T) {
		var pp struct {
			Current *policyOut `json:"current"`
			Next    *policyOut `json:"next"`
		}
		c.public(t, "GET", "/v1/public/"+c.keys.Tenant+"/policy", "").must(t, http.StatusOK, &pp)
		if pp.Current != nil || pp.Next == nil || pp.Next.Version != "2026-02" {
			t.Fatalf("public policy %+v; want none in effect and 2026-02 next", pp)
		}
	})
	step(t, "ConsentsAfterPublication", func(t *testing.T) {
		consentTo(t, "u-p3", "anything-goes").code(t, http.StatusNotFound, "unknown_policy_version")
		consentTo(t, "u-p3", "2026-02").must(t, http.StatusCreated, nil) // accepts the announced version
	})
	step(t, "ReconsentAfterMaterialChange", func(t *testing.T) {
		if reconsent(t, "u-p1") {
			t.Fatal("reconsent_required before the version takes effect")
		}
		c.setClock(t, at(32*day))
		if !reconsent(t, "u-p1") || !reconsent(t, "u-p2") {
			t.Fatal("reconsent_required = false once the material version took effect")
		}
		if reconsent(t, "u-p3") {
			t.Fatal("reconsent_required for a subject who accepted the version before it took effect")
		}
		consentTo(t, "u-p1", "2026-02").must(t, http.StatusCreated, nil)
		if reconsent(t, "u-p1") {
			t.Fatal("reconsent_required after a new consent to the version")
		}
		var pp struct {
			Current *policyOut `json:"current"`
			Next    *policyOut `json:"next"`
		}
		c.public(t, "GET", "/v1/public/"+c.keys.Tenant+"/policy", "").must(t, http.StatusOK, &pp)
		if pp.Current == nil || pp.Current.Version != "2026-02" || pp.Next != nil {
			t.Fatalf("public policy %+v; want 2026-02 in effect, nothing next", pp)
		}
	})
	step(t, "NoReconsentAfterMinorChange", func(t *testing.T) {
		c.admin(t, "POST", "/v1/policies", policyBody("2026-03", at(63*day), false)).must(t, http.StatusCreated, nil)
		waitDone(t, "2026-03")
		c.setClock(t, at(64*day))
		if reconsent(t, "u-p1") || reconsent(t, "u-p3") {
			t.Fatal("reconsent_required after a version that is not material took effect")
		}
		if !reconsent(t, "u-p2") {
			t.Fatal("u-p2 never consented to 2026-02: reconsent_required must stay true")
		}
		var page struct {
			Items []policyOut `json:"items"`
		}
		c.admin(t, "GET", "/v1/policies", "").must(t, http.StatusOK, &page)
		if len(page.Items) != 2 || page.Items[0].Version != "2026-02" || page.Items[1].Version != "2026-03" {
			t.Fatalf("versions %+v", page.Items)
		}
	})
	step(t, "JobContinuesNothingLeft", func(t *testing.T) {
		var out struct {
			Job  string   `json:"job"`
			Runs []jobRun `json:"runs"`
		}
		call(t, "POST", c.url+"/_local/jobs/notifications", "", nil).must(t, http.StatusOK, &out)
		if out.Job != "notifications" || len(out.Runs) != 0 {
			t.Fatalf("job %+v; want no run left", out)
		}
	})
}

type jobRun struct {
	Tenant, Version, State string
}
