package gdprd_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/mototest"
	"github.com/example/gdpr/internal/tenant"
)

// approvalFlow: with approval_required ["erasure"], a verified erasure waits as
// awaiting_approval and nothing of the subject is erased — while another request, behind it
// on the change feed, goes through RightsFunction to completion — until the operator
// approves it; then the feed brings it to RightsFunction, which erases the subject. Through
// scan (every item of the table, as text): the request's item never holds the subject's
// address in clear while it is open, nor sealed once erased.
func approvalFlow(t *testing.T, c client, scan func(t *testing.T) []string) {
	sub, email := "u-held", "held.subject@example.org"
	step(t, "Setup", func(t *testing.T) {
		c.site(t, "POST", "/v1/consents", decision(sub, email, true, false, false)).must(t, http.StatusCreated, nil)
		c.site(t, "PUT", "/v1/subjects/"+sub+"/profile", `{"first_name":"Hilde","email":"`+email+`"}`).must(t, http.StatusOK, nil)
		patchSettings(t, c.url, c.keys.AdminKey, `{"approval_required":["erasure"]}`).must(t, http.StatusOK, nil)
		// Past the functions' cache of the settings.
		c.setClock(t, time.Now().Add(tenant.CacheTTL+time.Second).UTC().Format(time.RFC3339))
	})
	var id string
	step(t, "Waits", func(t *testing.T) {
		id = c.submit(t, "erasure", email).ID
		var v verified
		c.verify(t, id, c.verificationCode(t, email, id)).must(t, http.StatusOK, &v)
		if v.Status != "awaiting_approval" || v.AccessToken == "" {
			t.Fatalf("verification answered %+v, want awaiting_approval with a token", v)
		}
		// A request verified after it, of a type not listed, is fulfilled by the same function.
		other := c.submit(t, "objection", "nobody.known@example.org").ID
		c.verify(t, other, c.verificationCode(t, "nobody.known@example.org", other)).must(t, http.StatusOK, nil)
		waitFor(t, "the later objection completed", func() bool { return c.record(t, other).Status == "completed" })
		if rec := c.record(t, id); rec.Status != "awaiting_approval" {
			t.Fatalf("erasure %s before approval", rec.Status)
		}
		c.site(t, "GET", "/v1/subjects/"+sub+"/profile", "").must(t, http.StatusOK, nil)
		item := requestItem(t, scan(t), id)
		if strings.Contains(item, email) || !strings.Contains(item, "sealed_contact") {
			t.Fatalf("the open request's item holds the address in clear, or no sealed one:\n%s", item)
		}
	})
	step(t, "Approved", func(t *testing.T) {
		var rec requestRecord
		c.admin(t, "POST", "/v1/requests/"+id+"/approve", "").must(t, http.StatusOK, &rec)
		if rec.Status != "verified" {
			t.Fatalf("approve answered %s", rec.Status)
		}
		waitFor(t, "the erasure completed", func() bool { return c.record(t, id).Status == "completed" })
		var steps []string
		for _, e := range c.record(t, id).Timeline {
			steps = append(steps, e.Event+"/"+e.Actor)
		}
		if got, want := strings.Join(steps[:5], " "), "received/subject verification_sent/system awaiting_approval/subject verified/operator processing/system"; got != want {
			t.Fatalf("timeline %s\nwant     %s …", got, want)
		}
		c.site(t, "GET", "/v1/subjects/"+sub+"/profile", "").code(t, http.StatusNotFound, "subject_not_found")
		c.mailWith(t, email, id, "We erased:")
		c.admin(t, "POST", "/v1/requests/"+id+"/approve", "").code(t, http.StatusConflict, "invalid_transition")
		if item := requestItem(t, scan(t), id); strings.Contains(item, "sealed_contact") {
			t.Fatalf("the erased request keeps its sealed contact:\n%s", item)
		}
		for _, item := range scan(t) {
			if strings.Contains(item, email) {
				t.Fatalf("an item holds the erased subject's address:\n%s", item)
			}
		}
	})
}

// requestItem is the REQUEST item of request id among items: of the items in the request's
// partition, the one with a timeline.
func requestItem(t *testing.T, items []string, id string) string {
	t.Helper()
	for _, it := range items {
		if strings.Contains(it, "#R#"+id) && strings.Contains(it, "timeline") {
			return it
		}
	}
	t.Fatalf("no REQUEST item of %s", id)
	return ""
}

func TestFlowErasureApproval(t *testing.T) {
	s := start(t, gdprd.Config{})
	approvalFlow(t, localClient(t, s), sqliteItems(s))
}

func TestAWSFlowErasureApproval(t *testing.T) {
	vars := motoEnv(t, "gdpr-approval")
	mailer := mototest.Start(t)
	t.Setenv("AWS_ENDPOINT_URL_SESV2", mailer.Endpoint)
	vars["AWS_ENDPOINT_URL_SESV2"] = mailer.Endpoint
	dir := t.TempDir()
	s := start(t, gdprd.Config{DataDir: dir, Env: env(vars)})
	approvalFlow(t, client{url: s.URL(), keys: credentials(t, dir), mail: sesMail(mailer)}, dynamoItems("gdpr-approval"))
}
