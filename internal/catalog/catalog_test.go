package catalog_test

import (
	"fmt"
	"html"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/example/gdpr/internal/catalog"
)

var spec = catalog.Spec{
	Default:      "en",
	Messages:     []string{"hello"},
	Fields:       []string{"name", "when", "note", "code"},
	NotInSubject: []string{"note"},
	Phrases:      []string{"date", "greeting"},
	Dates:        []string{"date"},
	Markup:       map[string]func(string) string{"code": func(e string) string { return "<b>" + e + "</b>" }},
}

const phrases = `# the words of the test
date = {weekday} {day} {month} {year}
greeting = Hello
weekday.sunday = Sunday
weekday.monday = Monday
weekday.tuesday = Tuesday
weekday.wednesday = Wednesday
weekday.thursday = Thursday
weekday.friday = Friday
weekday.saturday = Saturday
month.january = January
month.february = February
month.march = March
month.april = April
month.may = May
month.june = June
month.july = July
month.august = August
month.september = September
month.october = October
month.november = November
month.december = December
`

const hello = "Subject: {name}, on {when}\n\nDear {name},\nyour code is {code}.\n\n{note}\n\nBye.\n"

func fsWith(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys["msgs/"+name] = &fstest.MapFile{Data: []byte(text)}
	}
	return fsys
}

// load returns MustLoad's panic, or the catalog.
func load(fsys fstest.MapFS) (c *catalog.Catalog, refused string) {
	defer func() {
		if r := recover(); r != nil {
			refused = fmt.Sprint(r)
		}
	}()
	return catalog.MustLoad(fsys, "msgs", spec), ""
}

// TestLoadRefuses: every kind of mistake in a catalog stops the load, saying where.
func TestLoadRefuses(t *testing.T) {
	for _, c := range []struct{ name, file, text, want string }{
		{"unknown placeholder", "en/hello.txt", "Subject: hi\n\nDear {nmae}.\n", "msgs/en: hello.txt: paragraph 1: unknown placeholder {nmae}"},
		{"unclosed placeholder", "en/hello.txt", "Subject: hi\n\nDear {name.\n", "a { without }"},
		{"field refused in a subject", "en/hello.txt", "Subject: {note}\n\nDear.\n", "{note} cannot be shown in a subject"},
		{"no subject", "en/hello.txt", "Dear.\n", `"Subject: ..."`},
		{"no text", "en/hello.txt", "Subject: hi\n", "no text after the subject"},
		{"unknown phrase", "en/phrases.txt", phrases + "farewell = Bye\n", `unknown phrase "farewell"`},
		{"missing phrase", "en/phrases.txt", strings.Replace(phrases, "greeting = Hello\n", "", 1), `phrase "greeting" is missing`},
		{"placeholder in a phrase", "en/phrases.txt", strings.Replace(phrases, "= Hello", "= Hello {name}", 1), `"greeting" cannot have placeholders`},
		{"unknown date field", "en/phrases.txt", strings.Replace(phrases, "{year}", "{era}", 1), "date: unknown placeholder {era}"},
		{"unknown message", "en/bye.txt", "Subject: bye\n\nBye.\n", "bye.txt is no message"},
		{"no default locale", "fr/hello.txt", hello, `no folder for the default locale "en"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"en/phrases.txt": phrases, "en/hello.txt": hello}
			if strings.HasPrefix(c.file, "fr/") {
				files = map[string]string{"fr/phrases.txt": phrases}
			}
			files[c.file] = c.text
			if _, refused := load(fsWith(files)); !strings.Contains(refused, c.want) {
				t.Errorf("load: %q, want it refused with %q", refused, c.want)
			}
		})
	}
	if _, refused := load(fsWith(map[string]string{"en/phrases.txt": phrases, "en/hello.txt": hello})); refused != "" {
		t.Fatalf("the good catalog refused: %s", refused)
	}
}

var tag = regexp.MustCompile(`<[^>]*>`)

// TestRenderSameWords: the HTML part says the words of the text part, values escaped, the
// marked-up field set apart, line breaks kept, and an empty paragraph left out of both.
func TestRenderSameWords(t *testing.T) {
	c, refused := load(fsWith(map[string]string{"en/phrases.txt": phrases, "en/hello.txt": hello}))
	if refused != "" {
		t.Fatal(refused)
	}
	for _, note := range []string{"<script>x</script> & \"more\"\nsecond line", ""} {
		values := map[string]string{"name": "Ann & <Bob>", "code": "12<34", "note": note}
		m, err := c.Render("xx", "hello", func(l *catalog.Locale, name string) (string, error) {
			if name == "when" {
				return l.Date("date", time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)), nil
			}
			return values[name], nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := "Ann & <Bob>, on Saturday 31 January 2026"; m.Subject != want {
			t.Errorf("subject %q, want %q", m.Subject, want)
		}
		paras := []string{"Dear Ann & <Bob>,\nyour code is 12<34.", note, "Bye."}
		if note == "" {
			paras = []string{paras[0], paras[2]}
		}
		if want := strings.Join(paras, "\n\n") + "\n"; m.Text != want {
			t.Errorf("text %q, want %q", m.Text, want)
		}
		body, _, _ := strings.Cut(m.HTML[strings.Index(m.HTML, "<body>")+len("<body>\n"):], "</body>")
		var words []string
		for p := range strings.SplitSeq(strings.TrimSuffix(body, "\n"), "\n<p>") {
			words = append(words, html.UnescapeString(tag.ReplaceAllString(strings.ReplaceAll(p, "<br>\n", "\n"), "")))
		}
		if got, want := strings.Join(words, "\n\n")+"\n", m.Text; got != want {
			t.Errorf("HTML says %q, text %q", got, want)
		}
		for _, want := range []string{"<b>12&lt;34</b>", "Ann &amp; &lt;Bob&gt;", `<html lang="en">`, "<title>Ann &amp; &lt;Bob&gt;, on Saturday 31 January 2026</title>"} {
			if !strings.Contains(m.HTML, want) {
				t.Errorf("HTML lacks %q:\n%s", want, m.HTML)
			}
		}
		if note != "" && !strings.Contains(m.HTML, "&lt;script&gt;x&lt;/script&gt; &amp; &#34;more&#34;<br>\nsecond line") {
			t.Errorf("note not escaped or its line break lost:\n%s", m.HTML)
		}
	}
	if _, err := c.Render("en", "bye", func(*catalog.Locale, string) (string, error) { return "", nil }); err == nil {
		t.Error("an unknown message rendered")
	}
}
