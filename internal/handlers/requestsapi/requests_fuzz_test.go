package requestsapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/gdpr/internal/mail"
)

// lastMail is a mail sender that keeps only the newest message, so that a long fuzz run
// reads each input's code without listing a growing outbox.
type lastMail struct {
	mu   sync.Mutex
	last mail.Message
}

func (l *lastMail) Send(_ context.Context, m mail.Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = m
	return "1", nil
}

func (l *lastMail) code(t *testing.T) string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := rqCodeLine.FindStringSubmatch(l.last.Text)
	if c == nil {
		t.Fatalf("no verification code line in %q", l.last.Text)
	}
	return c[1]
}

// FuzzRequestBodies sends arbitrary bodies to every route of the requests function that
// takes one: whatever the body, the answer is a client error or a success, never a 500, and
// always JSON; and a client error wrote nothing, except the wrong code a verification counts.
//
// Each input gets a request of its own, pending verification, and an hour of its own, so that
// neither the rate limit, nor the verification lock, nor a request closed by an earlier input
// stops the fuzzer short of the handlers. "$CODE" in a body becomes that request's code, so
// the seeds reach a successful verification too.
func FuzzRequestBodies(f *testing.F) {
	sender := &lastMail{}
	e := newCostEnv(f, sender)
	var n int
	routes := []struct {
		key string
		c   caller
		p   func(id string) []string
	}{
		{rqSubmit, e.anyone(), func(string) []string { return []string{e.tenant} }},
		{rqSiteSubmit, e.site(), func(string) []string { return nil }},
		{rqVerify, e.anyone(), func(id string) []string { return []string{e.tenant, id} }},
		{rqExtend, e.admin(), func(id string) []string { return []string{id} }},
		{rqReject, e.admin(), func(id string) []string { return []string{id} }},
	}
	for _, body := range []string{
		`{"type":"access","email":"ann@example.org"}`,
		`{"type":"rectification","email":"ann@example.org","rectification":{"phone":"+1 555 0100"}}`,
		`{"type":"restriction","subject_id":"u-1","email":"a@b.co","lift":true,"note":"n"}`,
		`{"code":"AAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"code":"$CODE"}`,
		`{"code":" $CODE\n"}`,
		`{"reason":"Busy."}`,
		`{"reason":"other","detail":"Because."}`,
		`{"reason":"excessive"}`,
		`{}`, `[]`, `null`, `"x"`, `{"type":"access"}{"x":1}`, "{\"type\":\"\xff\"}",
	} {
		for r := range routes {
			f.Add(uint8(r), []byte(body))
		}
	}
	ok := []int{http.StatusOK, http.StatusAccepted, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict,
		http.StatusGone, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusLocked, http.StatusTooManyRequests}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		n++
		e.clock.Set(rqStart.Add(time.Duration(n) * time.Hour)) // a rate-limit window of its own
		id := e.call(t, e.anyone(), rqSubmit, nil, fmt.Sprintf(`{"type":"access","email":"fuzz-%d@example.org"}`, n), e.tenant).want(t, http.StatusAccepted, "").str("id")
		in := strings.ReplaceAll(string(body), "$CODE", sender.code(t))

		r := routes[int(route)%len(routes)]
		e.count.Reset()
		resp := e.call(t, r.c, r.key, nil, in, r.p(id)...)
		if !slices.Contains(ok, resp.status) {
			t.Fatalf("%s: answer %d %s", r.key, resp.status, resp.raw)
		}
		if resp.status < 400 {
			return
		}
		if resp.headers["Content-Type"] != "application/problem+json" {
			t.Fatalf("%s: %d without problem+json", r.key, resp.status)
		}
		c := e.count.Counts()
		wrote := c.Put + c.Delete + c.Transact
		if r.key == rqVerify && resp.str("code") == "invalid_code" {
			wrote -= min(c.Put, 1) // the wrong code is counted: one put of the request
		}
		if wrote != 0 {
			t.Fatalf("%s: %d %s wrote to the table (%s)", r.key, resp.status, resp.str("code"), c)
		}
	})
}
