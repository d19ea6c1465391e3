package gdprd_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/gdpr/internal/gdprd"
	"github.com/example/gdpr/internal/sites"
)

// siteReceiver is a marketplace site on loopback: it checks every call's Standard Webhooks
// signature with the secret it was registered with, and refuses the first calls while down.
type siteReceiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	down   int // calls still to refuse with 503
	calls  []siteCall
}

type siteCall struct {
	id   string
	body map[string]any
	ok   bool
}

func (s *siteReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	at, err := strconv.ParseInt(ts, 10, 64)
	want, serr := sites.Sign(s.secret, id, at, body)
	if err != nil || serr != nil || r.Header.Get("webhook-signature") != want {
		s.t.Errorf("a call with a bad signature (id %q)", id)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		s.t.Errorf("a call whose body is not JSON: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ok := s.down == 0
	s.calls = append(s.calls, siteCall{id: id, body: v, ok: ok})
	if !ok {
		s.down--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *siteReceiver) seen() []siteCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]siteCall(nil), s.calls...)
}

// TestFlowErasureTellsSites: an erasure reaches a registered marketplace site that is down for
// two calls. The request waits (processing, no attempt spent) while the deliveries job retries
// with the same webhook-id, completes once the site confirms, and its receipt names the site.
func TestFlowErasureTellsSites(t *testing.T) {
	s := start(t, gdprd.Config{})
	c := localClient(t, s)
	site := &siteReceiver{t: t, down: 2}
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)

	var sys struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	c.admin(t, "POST", "/v1/systems", `{"name":"shop.example.org","url":"`+srv.URL+`/wp-json/gdpr/v1/events","events":["erasure"]}`).
		must(t, http.StatusCreated, &sys)
	site.secret = sys.Secret

	sub, email := "u-site", "shopper@example.org"
	c.site(t, "POST", "/v1/consents", decision(sub, email, true, false, false)).must(t, http.StatusCreated, nil)
	c.site(t, "PUT", "/v1/subjects/"+sub+"/profile", `{"first_name":"Ann","email":"`+email+`"}`).must(t, http.StatusOK, nil)

	rc := c.submit(t, "erasure", email)
	c.verify(t, rc.ID, c.verificationCode(t, email, rc.ID)).must(t, http.StatusOK, nil)
	waitFor(t, "the first call to the site", func() bool { return len(site.seen()) == 1 })
	waitFor(t, "the request waiting for the site", func() bool {
		r := c.record(t, rc.ID)
		return r.Status == "processing" && hasEvent(r, "waiting")
	})

	// The job retries what is due; the first retry waits at least a minute.
	now := time.Now().UTC()
	confirmed := func() bool { calls := site.seen(); return len(calls) > 0 && calls[len(calls)-1].ok }
	for i := 1; i <= 3 && !confirmed(); i++ {
		now = now.Add(7 * time.Hour) // past any backoff of the first attempts (≤ 6 h)
		c.setClock(t, now.Format(time.RFC3339))
		call(t, "POST", c.url+"/_local/jobs/deliveries", "", nil).must(t, http.StatusOK, nil)
		waitFor(t, "a retry", func() bool { return len(site.seen()) >= i+1 })
	}
	waitFor(t, "the erasure completed", func() bool { return c.record(t, rc.ID).Status == "completed" })

	calls := site.seen()
	if len(calls) != 3 || !calls[2].ok || calls[0].ok || calls[1].ok {
		t.Fatalf("site calls %+v, want two refused then one confirmed", calls)
	}
	for _, cl := range calls {
		if cl.id != calls[0].id {
			t.Fatalf("webhook-id changed between retries: %q, %q", calls[0].id, cl.id)
		}
	}
	b := calls[2].body
	if b["type"] != "subject.erasure" || b["request_id"] != rc.ID || b["subject_id"] != sub || b["tenant"] != c.keys.Tenant {
		t.Fatalf("delivery body %v", b)
	}
	raw, _ := json.Marshal(b)
	if strings.Contains(string(raw), email) || strings.Contains(string(raw), "Ann") {
		t.Fatalf("the delivery carries more personal data than the site needs: %s", raw)
	}
	c.mailWith(t, email, rc.ID, "We erased:", "shop.example.org")

	var rec struct {
		Deliveries []struct {
			SystemID string `json:"system_id"`
			State    string `json:"state"`
			Attempts int    `json:"attempts"`
		} `json:"deliveries"`
	}
	c.admin(t, "GET", "/v1/requests/"+rc.ID, "").must(t, http.StatusOK, &rec)
	if len(rec.Deliveries) != 1 || rec.Deliveries[0].State != "confirmed" || rec.Deliveries[0].Attempts != 3 || rec.Deliveries[0].SystemID != sys.ID {
		t.Fatalf("deliveries %+v", rec.Deliveries)
	}
	// Nothing more happens: no second receipt, no further call.
	call(t, "POST", c.url+"/_local/jobs/deliveries", "", nil).must(t, http.StatusOK, nil)
	if n := len(site.seen()); n != 3 {
		t.Fatalf("%d calls after completion", n)
	}
}

func hasEvent(r requestRecord, event string) bool {
	for _, e := range r.Timeline {
		if e.Event == event {
			return true
		}
	}
	return false
}
