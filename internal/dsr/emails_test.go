package dsr_test

import (
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/example/gdpr/internal/audit"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/sqlite/sqlitetest"
)

// TestEmails reads every message back: plain text and HTML with the same facts, no template
// left-overs, the operator's words escaped in HTML, nothing but ids and dates in subjects.
func TestEmails(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	yes := true
	r := e.submit(t, dsr.Input{Type: dsr.Restriction, Lift: &yes, Email: "ann@example.org"}, public)
	if _, err := e.svc.Extend(ctx, e.tenant, r.ID, `We need <b>two</b> systems & "more".`, audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Reject(ctx, e.tenant, r.ID, dsr.Rejection{Reason: dsr.OtherReason, Detail: "<script>x</script>"}, audit.ActorOperator); err != nil {
		t.Fatal(err)
	}
	sent := e.mail.all()
	if len(sent) != 3 {
		t.Fatalf("%d emails, want 3", len(sent))
	}
	for i, want := range []struct{ subject, text, html string }{
		{"Confirm your request for the lifting of the restriction", "Verification code: ", "Verification code: <strong"},
		{"We need more time", `We need <b>two</b> systems & "more".`, "We need &lt;b&gt;two&lt;/b&gt; systems &amp; &#34;more&#34;."},
		{"We cannot act on your request", "Reason: the reasons explained below.\n\n<script>x</script>\n", "&lt;script&gt;x&lt;/script&gt;"},
	} {
		m := sent[i]
		t.Logf("--- %s\n%s", m.Subject, m.Text)
		if !strings.HasPrefix(m.Subject, want.subject) || strings.Contains(m.Subject, "ann@") {
			t.Errorf("subject %q, want it to start %q", m.Subject, want.subject)
		}
		if !strings.Contains(m.Text, want.text) || !strings.Contains(m.HTML, want.html) {
			t.Errorf("%s: text or HTML lacks its content:\n%s\n%s", m.Subject, m.Text, m.HTML)
		}
		for _, part := range []string{m.Subject, m.Text, m.HTML} {
			if strings.Contains(part, "<no value>") || strings.Contains(part, "{") || strings.Contains(part, "%!") {
				t.Errorf("template left-over in %q", part)
			}
		}
		if !strings.Contains(m.Text, r.ID) || !strings.Contains(m.HTML, r.ID) || strings.HasPrefix(m.Text, "\n") {
			t.Errorf("%s: no request reference, or a leading blank line", m.Subject)
		}
	}
}

// TestEmailsEveryType sends each message for every request type, the lifting of a
// restriction and every rejection reason, with values full of markup, and reads each back.
// It is the test that renders the whole catalog; a catalog that does not load fails every
// test of the package before this one runs.
func TestEmailsEveryType(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	const markup = "<script>alert(\"x\")</script> & 'more'\nsecond line"
	typeNames := map[string]string{}   // verification subject → case that sent it
	reasonLines := map[string]string{} // "Reason:" line → rejection reason
	yes, first := true, "Ann"
	var inputs []dsr.Input
	for _, ty := range dsr.Types {
		inputs = append(inputs, dsr.Input{Type: ty})
	}
	inputs = append(inputs, dsr.Input{Type: dsr.Restriction, Lift: &yes})
	for _, in := range inputs {
		name := string(in.Type)
		if in.Lift != nil {
			name += "_lift"
		}
		if in.Type == dsr.Rectification {
			in.Rectification = &dsr.ProfileFields{FirstName: &first}
		}
		for _, reason := range dsr.RejectReasons {
			t.Run(name+"/"+reason, func(t *testing.T) {
				detail := markup
				if reason == dsr.ManifestlyUnfounded {
					detail = "" // the detail's paragraph is left out
				}
				before := len(e.mail.all())
				in.Email = "ann@example.org"
				r := e.submit(t, in, site)
				if _, err := e.svc.Extend(ctx, e.tenant, r.ID, markup, audit.ActorOperator); err != nil {
					t.Fatal(err)
				}
				if _, err := e.svc.Reject(ctx, e.tenant, r.ID, dsr.Rejection{Reason: reason, Detail: detail}, audit.ActorOperator); err != nil {
					t.Fatal(err)
				}
				sent := e.mail.all()[before:]
				if got, want := len(sent), 3; got != want {
					t.Fatalf("%d emails, want %d", got, want)
				}
				for _, m := range sent {
					checkEmail(t, m, r.ID)
				}
				verification, extension, rejection := sent[0], sent[1], sent[2]

				code := codeIn(t, verification)
				if !strings.Contains(verification.HTML, ">"+code+"</strong>") || strings.Contains(verification.Subject, code) {
					t.Errorf("code not set apart in HTML, or shown in the subject:\n%s", verification.HTML)
				}
				if prev, ok := typeNames[verification.Subject]; ok && prev != name {
					t.Errorf("%s and %s have the same subject %q", prev, name, verification.Subject)
				}
				typeNames[verification.Subject] = name

				for _, want := range []string{markup, "received on Saturday 31 January 2026", "answer by Thursday 30 April 2026"} {
					if !strings.Contains(extension.Text, want) {
						t.Errorf("extension lacks %q:\n%s", want, extension.Text)
					}
				}
				if !strings.Contains(extension.HTML, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;more&#39;<br>\nsecond line") {
					t.Errorf("extension reason not escaped in HTML:\n%s", extension.HTML)
				}

				line := reasonLine.FindString(rejection.Text)
				if prev, ok := reasonLines[line]; line == "" || ok && prev != reason {
					t.Errorf("reason line %q, the same for %s and %s", line, prev, reason)
				}
				reasonLines[line] = reason
				if got, want := strings.Contains(rejection.Text, markup), detail != ""; got != want {
					t.Errorf("detail shown: %v, want %v:\n%s", got, want, rejection.Text)
				}
				for _, want := range []string{"supervisory authority", "judicial remedy"} {
					if !strings.Contains(rejection.Text, want) {
						t.Errorf("rejection lacks %q:\n%s", want, rejection.Text)
					}
				}
			})
		}
	}
	if got, want := len(typeNames), len(inputs); got != want {
		t.Errorf("%d distinct verification subjects, want one per type: %v", got, typeNames)
	}
	if got, want := len(reasonLines), len(dsr.RejectReasons); got != want {
		t.Errorf("%d distinct reason lines, want one per reason: %v", got, reasonLines)
	}
}

var reasonLine = regexp.MustCompile(`(?m)^Reason: .+$`)

// tag matches any markup. Values and catalog words are escaped, so the only tags in an HTML
// part are those the renderer writes.
var tag = regexp.MustCompile(`<[^>]*>`)

var rendererTags = map[string]bool{
	"<!DOCTYPE html>": true, `<html lang="en">`: true, "</html>": true,
	"<head>": true, `<meta charset="utf-8">`: true, "<title>": true, "</title>": true, "</head>": true,
	"<body>": true, "</body>": true, "<p>": true, "</p>": true, "<br>": true,
	`<strong style="font-family: monospace; font-size: 1.2em">`: true, "</strong>": true,
}

// checkEmail fails unless the HTML part is the text part, word for word, in the renderer's
// own tags, and the subject shows neither the address nor markup.
func checkEmail(t *testing.T, m mail.Message, id string) {
	t.Helper()
	for _, tg := range tag.FindAllString(m.HTML, -1) {
		if !rendererTags[tg] {
			t.Errorf("%s: tag %s in the HTML part", m.Subject, tg)
		}
	}
	if !strings.HasPrefix(m.HTML, "<!DOCTYPE html>\n<html lang=\"en\">\n") || !strings.HasSuffix(m.HTML, "</body>\n</html>\n") {
		t.Errorf("%s: not a whole HTML document:\n%s", m.Subject, m.HTML)
	}
	_, head, _ := strings.Cut(m.HTML, "<title>")
	title, body, _ := strings.Cut(head, "</title>")
	_, body, _ = strings.Cut(body, "<body>\n")
	body, _, _ = strings.Cut(body, "</body>")
	plain := strings.NewReplacer("</p>\n<p>", "\n\n", "<br>\n", "\n").Replace(body)
	if got, want := html.UnescapeString(tag.ReplaceAllString(plain, "")), m.Text; got != want {
		t.Errorf("%s: the HTML part says\n%q\nthe text part\n%q", m.Subject, got, want)
	}
	if got, want := html.UnescapeString(title), m.Subject; got != want {
		t.Errorf("title %q, subject %q", got, want)
	}
	if strings.ContainsAny(m.Subject, "<>&@") || strings.Contains(m.Text, "\n\n\n") || strings.Contains(m.HTML, "<p></p>") {
		t.Errorf("%s: markup or an address in the subject, or an empty paragraph:\n%s", m.Subject, m.Text)
	}
	if !strings.Contains(m.Text, id) || strings.ContainsAny(m.Subject+m.Text, "{}") {
		t.Errorf("%s: no request reference, or a placeholder left:\n%s", m.Subject, m.Text)
	}
}

func openSQLite(t *testing.T) store {
	t.Helper()
	db := sqlitetest.MustOpen(t)
	return store{table: db, feed: db}
}
