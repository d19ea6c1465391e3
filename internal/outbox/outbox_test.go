package outbox_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/mail/mailtest"
	"github.com/example/gdpr/internal/outbox"
)

const from = "Privacy Team <privacy@example.org>"

func newOutbox(t *testing.T) (*outbox.Outbox, string, *clock.Settable) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "outbox")
	clk := &clock.Settable{}
	o, err := outbox.New(dir, from, clk)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return o, dir, clk
}

func TestConformance(t *testing.T) {
	o, dir, _ := newOutbox(t)
	mailtest.Run(t, mailtest.Harness{
		Sender: o,
		Sent: func(t *testing.T) []mailtest.Record {
			t.Helper()
			sent, err := o.List(context.Background())
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			var records []mailtest.Record
			for _, s := range sent {
				body := s.Text
				if html, ok := readEML(t, emlPath(t, dir, s.ID)).parts["text/html"]; ok {
					body = strings.ReplaceAll(html, "\r\n", "\n")
				}
				records = append(records, mailtest.Record{ID: s.ID, To: s.To, Subject: s.Subject, Body: body})
			}
			return records
		},
	})
}

func TestNew(t *testing.T) {
	if _, err := outbox.New(t.TempDir(), "not an address", clock.System{}); err == nil {
		t.Fatal("sender not an address: no error")
	}
}

func TestSend(t *testing.T) {
	ctx := context.Background()

	t.Run("ValidMIME", func(t *testing.T) {
		o, dir, clk := newOutbox(t)
		at := time.Date(2026, 11, 28, 16, 47, 0, 0, time.UTC)
		clk.Set(at)
		m := mail.Message{
			To:      "ann@example.org",
			Subject: "Änderung der Datenschutzerklärung ab 1. Januar — bitte lesen Sie die Zusammenfassung ✓",
			Text:    "Grüße!\n" + strings.Repeat("Die neue Fassung gilt ab dem 1. Januar. ", 5) + "\nEnde.\n",
			HTML:    "<p>Grüße!</p>\n<p>" + strings.Repeat("Die neue Fassung gilt ab dem 1. Januar. ", 5) + "</p>",
		}
		id, err := o.Send(ctx, m)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		e := readEML(t, emlPath(t, dir, id))
		h := e.msg.Header
		for name, want := range map[string]string{
			"From":         `"Privacy Team" <privacy@example.org>`,
			"To":           m.To,
			"MIME-Version": "1.0",
			"Message-ID":   "<" + id + "@example.org>",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		if got, err := h.Date(); err != nil || !got.Equal(at) {
			t.Errorf("Date = %v (%v), want %v", got, err, at)
		}
		if got, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); err != nil || got != m.Subject {
			t.Errorf("Subject = %q (%v), want %q", got, err, m.Subject)
		}
		if got, want := strings.Join(e.order, " "), "text/plain text/html"; got != want {
			t.Errorf("parts %s, want %s", got, want)
		}
		if got := e.parts["text/plain"]; got != strings.ReplaceAll(m.Text, "\n", "\r\n") {
			t.Errorf("text part = %q", got)
		}
		if got := e.parts["text/html"]; got != strings.ReplaceAll(m.HTML, "\n", "\r\n") {
			t.Errorf("html part = %q", got)
		}
	})

	t.Run("TextOnlyIsNotMultipart", func(t *testing.T) {
		o, dir, _ := newOutbox(t)
		id, err := o.Send(ctx, mail.Message{To: "ann@example.org", Subject: "Code", Text: "Verification code: 123456"})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		e := readEML(t, emlPath(t, dir, id))
		if got, want := strings.Join(e.order, " "), "text/plain"; got != want {
			t.Fatalf("parts %s, want %s", got, want)
		}
		if got, want := e.parts["text/plain"], "Verification code: 123456"; got != want {
			t.Fatalf("text = %q, want %q", got, want)
		}
	})

	t.Run("Private", func(t *testing.T) {
		o, dir, _ := newOutbox(t)
		id, err := o.Send(ctx, mail.Message{To: "ann@example.org", Subject: "S", Text: "T"})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		for _, path := range []string{dir, emlPath(t, dir, id)} {
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if perm := info.Mode().Perm(); perm&0o077 != 0 {
				t.Errorf("%s: mode %v, want no access for group or others", filepath.Base(path), perm)
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Fatalf("%d files in the outbox, want the one message", len(entries))
		}
	})
}

func TestList(t *testing.T) {
	ctx := context.Background()

	t.Run("NewestFirst", func(t *testing.T) {
		o, _, clk := newOutbox(t)
		base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		var want []string
		for _, at := range []time.Time{base, base.Add(time.Minute), base.Add(-time.Hour), base.Add(2 * time.Minute)} {
			clk.Set(at)
			id, err := o.Send(ctx, mail.Message{To: "ann@example.org", Subject: at.Format(time.RFC3339), Text: "T"})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			want = append(want, id+" "+at.Format(time.RFC3339))
		}
		want = []string{want[3], want[1], want[0], want[2]}
		sent, err := o.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		var got []string
		for _, s := range sent {
			got = append(got, s.ID+" "+s.SentAt.Format(time.RFC3339))
			if s.Subject != s.SentAt.Format(time.RFC3339) {
				t.Errorf("message of %s says sent at %s", s.Subject, s.SentAt)
			}
		}
		if strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Fatalf("got  %v\nwant %v", got, want)
		}
	})

	t.Run("JSON", func(t *testing.T) {
		o, _, clk := newOutbox(t)
		clk.Set(time.Date(2026, 11, 28, 16, 47, 0, 0, time.UTC))
		id, err := o.Send(ctx, mail.Message{To: "ann@example.org", Subject: "Grüße", Text: "Zoë\n", HTML: "<p>Zoë</p>"})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		sent, err := o.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		b, err := json.Marshal(sent)
		if err != nil {
			t.Fatal(err)
		}
		want := `[{"id":"` + id + `","to":"ann@example.org","subject":"Grüße","text":"Zoë\n","sent_at":"2026-11-28T16:47:00Z"}]`
		if string(b) != want {
			t.Fatalf("got  %s\nwant %s", b, want)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		o, _, _ := newOutbox(t)
		sent, err := o.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if b, _ := json.Marshal(sent); string(b) != "[]" {
			t.Fatalf("got %s, want []", b)
		}
	})
}

// eml is one message file parsed independently of the outbox's own reader.
type eml struct {
	msg   *netmail.Message
	order []string          // media types of the leaf parts, in file order
	parts map[string]string // decoded leaf part by media type, line breaks as in the file
}

// readEML parses a message file, failing the test on anything that is not plain RFC 5322 and
// MIME: bytes outside 7-bit ASCII, bare line feeds, overlong lines, unknown encodings.
func readEML(t *testing.T, path string) eml {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(raw), "\r\n") {
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d has a bare CR or LF", i+1)
		}
		if len(line) > 78 {
			t.Fatalf("line %d is %d characters long: %q", i+1, len(line), line)
		}
		for _, c := range []byte(line) {
			if c >= 0x80 || c < 0x20 && c != '\t' {
				t.Fatalf("line %d has byte %#x outside printable 7-bit ASCII", i+1, c)
			}
		}
	}
	msg, err := netmail.ReadMessage(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("not RFC 5322: %v", err)
	}
	e := eml{msg: msg, parts: map[string]string{}}
	var walk func(ctype, cte string, body io.Reader)
	walk = func(ctype, cte string, body io.Reader) {
		mediatype, params, err := mime.ParseMediaType(ctype)
		if err != nil {
			t.Fatalf("Content-Type %q: %v", ctype, err)
		}
		if strings.HasPrefix(mediatype, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatalf("multipart: %v", err)
				}
				walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
			}
		}
		if got, want := params["charset"], "utf-8"; got != want {
			t.Fatalf("%s charset %q, want %q", mediatype, got, want)
		}
		if cte != "quoted-printable" {
			t.Fatalf("%s transfer encoding %q, want quoted-printable", mediatype, cte)
		}
		b, err := io.ReadAll(quotedprintable.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", mediatype, err)
		}
		e.order = append(e.order, mediatype)
		e.parts[mediatype] = string(b)
	}
	walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return e
}

// emlPath finds the file of message id, whose name must sort by time then id.
func emlPath(t *testing.T, dir, id string) string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*-"+id+".eml"))
	if err != nil || len(paths) != 1 {
		t.Fatalf("files of message %s: %v %v", id, paths, err)
	}
	return paths[0]
}
