package requestsapi_test

import (
	"net/http"
	"slices"
	"testing"
)

// FuzzRequestBodies sends arbitrary bodies to every route of the requests function that
// takes one: whatever the body, the answer is a client error or a success, never a 500, and
// always JSON.
func FuzzRequestBodies(f *testing.F) {
	e := newCostEnv(f, discard{})
	id := e.call(f, e.site(), rqSiteSubmit, nil, `{"type":"access","email":"fuzz@example.org"}`).want(f, 202, "").str("id")
	routes := []struct {
		key string
		c   caller
		p   []string
	}{
		{rqSubmit, e.anyone(), []string{e.tenant}},
		{rqSiteSubmit, e.site(), nil},
		{rqVerify, e.anyone(), []string{e.tenant, id}},
		{rqExtend, e.admin(), []string{id}},
		{rqReject, e.admin(), []string{id}},
	}
	for _, body := range []string{
		`{"type":"access","email":"ann@example.org"}`,
		`{"type":"rectification","email":"ann@example.org","rectification":{"phone":"+1 555 0100"}}`,
		`{"type":"restriction","subject_id":"u-1","email":"a@b.co","lift":true,"note":"n"}`,
		`{"code":"AAAAAAAAAAAAAAAAAAAAAA"}`,
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
		r := routes[int(route)%len(routes)]
		resp := e.call(t, r.c, r.key, nil, string(body), r.p...)
		if !slices.Contains(ok, resp.status) {
			t.Fatalf("%s: answer %d %s", r.key, resp.status, resp.raw)
		}
		if resp.status >= 400 && resp.headers["Content-Type"] != "application/problem+json" {
			t.Fatalf("%s: %d without problem+json", r.key, resp.status)
		}
	})
}
