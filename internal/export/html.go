package export

import (
	"bufio"
	"context"
	"html"
	"strconv"
	"strings"

	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/dsr"
)

// index.html is the package for a person: one self-contained page (no script, no fetch, the
// style inline), with a lang attribute, headings, tables with header cells and captions, and
// a layout that reflows on a phone. Every value is escaped. html/template is avoided for the
// reason internal/dsr's emails give: it makes the linker keep every exported method.

const pageStyle = `body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#111;background:#fff}
h1{font-size:1.6rem}h2{font-size:1.3rem;margin-top:2rem;border-bottom:1px solid #ccc}h3{font-size:1.1rem}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f3f3f3}caption{text-align:left;font-weight:600;padding:.3rem 0}
@media (max-width:40rem){body{font-size:15px;padding:.5rem}th,td{padding:.2rem .3rem}}`

type htmlw struct{ w *bufio.Writer }

func (h htmlw) raw(s string)  { h.w.WriteString(s) }
func (h htmlw) text(s string) { h.w.WriteString(html.EscapeString(s)) }

// el writes <tag>text</tag>, the text escaped.
func (h htmlw) el(tag, text string) {
	h.raw("<" + tag + ">")
	h.text(text)
	h.raw("</" + tag + ">")
}

// table writes a table with a caption, a header row and rows of escaped cells.
func (h htmlw) table(caption string, head []string, rows [][]string) {
	h.raw(`<div class="scroll"><table>`)
	h.el("caption", caption)
	h.raw("<thead><tr>")
	for _, c := range head {
		h.raw(`<th scope="col">`)
		h.text(c)
		h.raw("</th>")
	}
	h.raw("</tr></thead><tbody>")
	for _, r := range rows {
		h.raw("<tr>")
		for _, c := range r {
			h.el("td", c)
		}
		h.raw("</tr>")
	}
	h.raw("</tbody></table></div>\n")
}

// pairs writes a two-column table of names and values.
func (h htmlw) pairs(caption string, rows [][2]string) {
	h.raw(`<div class="scroll"><table>`)
	h.el("caption", caption)
	h.raw("<tbody>")
	for _, r := range rows {
		h.raw(`<tr><th scope="row">`)
		h.text(r[0])
		h.raw("</th>")
		h.el("td", r[1])
		h.raw("</tr>")
	}
	h.raw("</tbody></table></div>\n")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (p *pkg) index(ctx context.Context, w *bufio.Writer) error {
	proc := NewProcessing(p.t, p.held)
	h := htmlw{w}
	h.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">" +
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">" +
		"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">")
	h.el("title", "Your personal data held for "+p.t.ID)
	h.raw("<style>" + pageStyle + "</style></head><body><main>\n")
	h.el("h1", "Your personal data held for "+p.t.ID)
	h.el("p", "This archive answers your request "+p.r.ID+", made on "+stamp(p.r.ReceivedAt)+". It was made on "+
		stamp(p.now)+". The same data is in data.json (for programs), devices.csv and consents.csv (for spreadsheets); "+
		"processing.json describes how the data is processed.")

	h.el("h2", "Your data")
	h.el("h3", "Profile")
	if p.profile == nil {
		h.el("p", "No profile is held about you.")
	} else {
		pr := p.profile
		var qs []string
		for _, q := range pr.SecurityQuestions {
			qs = append(qs, q.Question)
		}
		h.pairs("Profile", [][2]string{
			{"First name", pr.FirstName}, {"Last name", pr.LastName}, {"Username", pr.Username}, {"Email", pr.Email},
			{"Phone", pr.Phone}, {"Company", pr.Company},
			{"Security questions (answers are stored only as a one-way hash)", strings.Join(qs, " / ")},
			{"Last updated", stamp(pr.UpdatedAt)},
		})
	}

	h.el("h3", "Consent")
	if p.state == nil {
		h.el("p", "No consent decision is held about you.")
	} else {
		var rows [][]string
		for _, name := range sortedKeys(p.state.Purposes) {
			ps := p.state.Purposes[name]
			rows = append(rows, []string{name, yesNo(ps.Granted), stamp(ps.At)})
		}
		h.table("Your current decisions, policy version "+p.state.PolicyVersion, []string{"Purpose", "Granted", "Decided at"}, rows)
		h.pairs("Flags", [][2]string{{"Processing restricted", yesNo(p.state.Restricted)}, {"Objected to direct marketing", yesNo(p.state.Objected)}})
	}
	var ledger [][]string
	err := p.b.Consent.EachEntry(ctx, p.t.ID, p.r.SubjectID, func(e consent.Entry) error {
		ip := ""
		if e.Evidence != nil {
			ip = e.Evidence.IP
		}
		ledger = append(ledger, []string{strconv.FormatInt(e.Seq, 10), stamp(e.RecordedAt), e.PolicyVersion, purposeList(e.Purposes), string(e.Method), yesNo(e.GPC), ip, e.ReceiptID})
		if len(ledger) == recentDevices {
			// A long history is in consents.csv; the page stays a page.
			h.table("Consent history", []string{"#", "Recorded at", "Policy", "Decisions", "How", "GPC", "IP address", "Receipt"}, ledger)
			ledger = ledger[:0]
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(ledger) > 0 {
		h.table("Consent history", []string{"#", "Recorded at", "Policy", "Decisions", "How", "GPC", "IP address", "Receipt"}, ledger)
	}

	h.el("h3", "Device observations")
	n := p.held[catDevices]
	recent, err := p.b.Consent.RecentDevices(ctx, p.t.ID, p.r.SubjectID, recentDevices)
	if err != nil {
		return err
	}
	h.el("p", strconv.FormatInt(n, 10)+" device observations are held about you; the newest "+strconv.Itoa(len(recent))+
		" are below, and all of them are in devices.csv.")
	if len(recent) > 0 {
		var rows [][]string
		for _, d := range recent {
			rows = append(rows, []string{stamp(d.SeenAt), d.IP, d.Location, d.Browser, d.DeviceType, d.Language, d.UserAgent, d.Fingerprint})
		}
		h.table("Newest device observations", []string{"Seen at", "IP address", "Location", "Browser", "Device", "Language", "User agent", "Fingerprint"}, rows)
	}

	h.el("h3", "Your requests")
	var reqs [][]string
	err = p.b.Requests.OfSubject(ctx, p.t.ID, p.r.SubjectID, func(r dsr.Request) error {
		completed := ""
		if r.CompletedAt != nil {
			completed = stamp(*r.CompletedAt)
		}
		reqs = append(reqs, []string{r.ID, string(r.Type), string(r.Status), stamp(r.ReceivedAt), stamp(r.DueAt), completed})
		return nil
	})
	if err != nil {
		return err
	}
	h.table("Requests", []string{"Request", "Type", "Status", "Received", "Due", "Closed"}, reqs)

	p.describe(h, proc)
	h.raw("</main></body></html>\n")
	return nil
}

// describe writes the Art. 15(1) information of processing.json for a person.
func (p *pkg) describe(h htmlw, proc Processing) {
	h.el("h2", "How your data is processed")
	if proc.Contact != "" {
		h.el("p", "Questions about your data: "+proc.Contact)
	}
	var rows [][]string
	for _, pu := range proc.Purposes {
		var cats []string
		for _, c := range pu.Categories {
			cats = append(cats, proc.categoryName(c))
		}
		rows = append(rows, []string{pu.Name, pu.Description, pu.Article, yesNo(pu.RequiredToLogIn), strings.Join(cats, ", ")})
	}
	h.table("Purposes and their legal basis (Art. 15(1)(a))", []string{"Purpose", "What for", "Legal basis", "Needed to log in", "Data used"}, rows)

	rows = nil
	for _, c := range proc.Categories {
		rows = append(rows, []string{c.Name, strings.Join(c.Fields, ", "), yesNo(c.Held), strconv.FormatInt(c.Count, 10), c.Source})
	}
	h.table("Categories of data (Art. 15(1)(b)) and where they come from (Art. 15(1)(g))", []string{"Category", "What it holds", "Held about you", "Items", "Source"}, rows)

	rows = nil
	for _, r := range proc.Recipients {
		var cats []string
		for _, c := range r.Categories {
			cats = append(cats, proc.categoryName(c))
		}
		rows = append(rows, []string{r.Name, r.Role, strings.Join(cats, ", ")})
	}
	h.table("Who receives the data (Art. 15(1)(c))", []string{"Recipient", "Role", "Data"}, rows)

	rows = nil
	for _, r := range proc.Retention {
		rows = append(rows, []string{proc.categoryName(r.Category), r.Period})
	}
	h.table("How long it is kept (Art. 15(1)(d))", []string{"Category", "Kept for"}, rows)

	rows = nil
	for _, r := range proc.Rights {
		rows = append(rows, []string{strings.ReplaceAll(r.Right, "_", " "), r.Article, r.How})
	}
	h.table("Your rights (Art. 15(1)(e) and (f))", []string{"Right", "Article", "How"}, rows)

	h.el("h3", "Automated decisions (Art. 15(1)(h))")
	for _, d := range proc.Automated {
		h.pairs(d.Name, [][2]string{
			{"Applies to you", yesNo(d.Applies)},
			{"How it decides", d.Logic},
			{"What it uses", strings.Join(d.Inputs, ", ")},
			{"What it means for you", d.Significance},
			{"Your safeguards", d.Safeguards},
		})
	}
}
