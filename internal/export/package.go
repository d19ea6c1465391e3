package export

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/consent"
	"github.com/example/gdpr/internal/dsr"
	"github.com/example/gdpr/internal/objects"
	"github.com/example/gdpr/internal/subject"
	"github.com/example/gdpr/internal/tenant"
)

// SchemaVersion is the version of data.json and processing.json; a change that could break a
// reader of them gets a new one.
const SchemaVersion = 1

// Files of a package.
const (
	FileData       = "data.json"
	FileProcessing = "processing.json"
	FileIndex      = "index.html"
	FileDevices    = "devices.csv"
	FileConsents   = "consents.csv"
)

// recentDevices is how many device observations index.html lists; devices.csv has them all.
const recentDevices = 100

// Builder writes the package of a request from what the service holds about its subject.
// It reads through the owners of the data (consent for the profile, consent and devices, dsr
// for requests), a page at a time, and writes as it reads: its memory does not grow with the
// subject's data.
type Builder struct {
	Consent  *consent.Service
	Requests *dsr.Service
	Clock    clock.Clock
}

// Write writes r's package to w as a ZIP and returns how many items of each category it holds.
// An access request gets every file; a portability request data.json alone, with what the
// subject provided (Art. 20(1)): the profile and the consent decisions.
func (b *Builder) Write(ctx context.Context, w io.Writer, t tenant.Tenant, r dsr.Request) (Held, error) {
	z := zip.NewWriter(w)
	p := pkg{b: b, z: z, t: t, r: r, now: b.Clock.Now().UTC(), held: Held{}}
	var err error
	if r.Type == dsr.Portability {
		err = p.portable(ctx)
	} else {
		err = p.access(ctx)
	}
	if err != nil {
		return nil, err
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	return p.held, nil
}

// pkg is one package being written.
type pkg struct {
	b    *Builder
	z    *zip.Writer
	t    tenant.Tenant
	r    dsr.Request
	now  time.Time
	held Held

	profile *profileOut
	state   *consent.View
}

// file starts a compressed file of the archive and hands fn a buffered writer to it.
func (p *pkg) file(name string, fn func(w *bufio.Writer) error) error {
	f, err := p.z.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: p.now})
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if err := fn(bw); err != nil {
		return err
	}
	return bw.Flush()
}

func (p *pkg) access(ctx context.Context) (err error) {
	if err := p.readHeads(ctx); err != nil {
		return err
	}
	devices, err := newSpool(FileDevices)
	if err != nil {
		return err
	}
	consents, err := newSpool(FileConsents)
	if err != nil {
		devices.discard()
		return err
	}
	added := false
	defer func() {
		if !added {
			devices.discard()
			consents.discard()
		}
	}()
	f, err := p.z.CreateHeader(&zip.FileHeader{Name: FileData, Method: zip.Deflate, Modified: p.now})
	if err != nil {
		return err
	}
	aw := newAsyncWriter(f)
	bw := bufio.NewWriterSize(aw, 64<<10)
	err = p.data(ctx, bw, newCSV(bufio.NewWriterSize(devices, 64<<10)), newCSV(bufio.NewWriterSize(consents, 64<<10)))
	if err = errors.Join(err, bw.Flush(), aw.Close()); err != nil {
		return err
	}
	added = true
	if err := errors.Join(devices.addTo(p.z, p.now), consents.addTo(p.z, p.now)); err != nil {
		return err
	}
	for _, s := range []struct {
		name string
		fn   func(context.Context, *bufio.Writer) error
	}{
		{FileProcessing, p.processing},
		{FileIndex, p.index},
	} {
		if err := p.file(s.name, func(w *bufio.Writer) error { return s.fn(ctx, w) }); err != nil {
			return err
		}
	}
	return nil
}

func (p *pkg) portable(ctx context.Context) error {
	if err := p.readHeads(ctx); err != nil {
		return err
	}
	return p.file(FileData, func(w *bufio.Writer) error {
		j := jsonw{w: w}
		p.header(&j)
		j.raw(`,"profile":`)
		j.value(p.profile)
		j.raw(",\n\"consent_decisions\":[")
		n := 0
		err := p.b.Consent.EachEntry(ctx, p.t.ID, p.r.SubjectID, func(e consent.Entry) error {
			j.elem(n, decisionOf(e))
			n++
			return j.err
		})
		p.held[catLedger] = int64(n)
		j.raw("\n]}\n")
		return errors.Join(err, j.err)
	})
}

// readHeads reads the subject's single items: the profile and the consent state.
func (p *pkg) readHeads(ctx context.Context) error {
	pr, err := p.b.Consent.GetProfile(ctx, p.t.ID, p.r.SubjectID)
	switch {
	case err == nil:
		out := profileOf(pr)
		p.profile = &out
		p.held[catProfile] = 1
	case !errors.Is(err, subject.ErrNotFound):
		return err
	}
	v, err := p.b.Consent.Get(ctx, p.t.ID, p.r.SubjectID)
	switch {
	case err == nil:
		p.state = &v
		p.held[catConsent] = 1
	case !errors.Is(err, consent.ErrNotFound):
		return err
	}
	return nil
}

// header writes the opening of data.json: what the export is.
func (p *pkg) header(j *jsonw) {
	j.raw(`{"schema_version":` + strconv.Itoa(SchemaVersion) + `,"export":`)
	j.value(map[string]any{"type": p.r.Type, "tenant": p.t.ID, "request_id": p.r.ID, "generated_at": p.now})
	j.raw(`,"subject_id":`)
	j.value(p.r.SubjectID)
}

// data writes data.json of an access request, every category held, and the CSV files of
// the lists as it goes: each list is read once.
func (p *pkg) data(ctx context.Context, w *bufio.Writer, devices, consents *csvw) error {
	j := jsonw{w: w}
	p.header(&j)
	j.raw(",\n\"profile\":")
	j.value(p.profile)
	j.raw(",\n\"consent\":")
	j.value(p.state)
	j.raw(",\n\"consent_ledger\":[")
	consents.row(consentHeader...)
	n := 0
	err := p.b.Consent.EachEntry(ctx, p.t.ID, p.r.SubjectID, func(e consent.Entry) error {
		j.elem(n, e)
		n++
		consentRow(consents, e)
		return errors.Join(j.err, consents.err())
	})
	if err = errors.Join(err, consents.close()); err != nil {
		return err
	}
	p.held[catLedger] = int64(n)
	j.raw("\n],\n\"devices\":[")
	devices.row(deviceHeader...)
	n = 0
	err = p.b.Consent.EachDevice(ctx, p.t.ID, p.r.SubjectID, func(d consent.StoredDevice) error {
		j.elem(n, deviceOf(d))
		n++
		devices.row(d.ID, stamp(d.SeenAt), stamp(d.ReceivedAt), stamp(d.ExpiresAt), d.IP, d.Location, d.Browser, d.DeviceType, d.Language, d.UserAgent, d.Fingerprint)
		return errors.Join(j.err, devices.err())
	})
	if err = errors.Join(err, devices.close()); err != nil {
		return err
	}
	p.held[catDevices] = int64(n)
	j.raw("\n],\n\"requests\":[")
	n = 0
	err = p.b.Requests.OfSubject(ctx, p.t.ID, p.r.SubjectID, func(r dsr.Request) error {
		contact, err := p.b.Requests.Contact(r)
		if err != nil {
			return err
		}
		j.elem(n, requestOf(r, contact))
		n++
		return j.err
	})
	if err != nil {
		return err
	}
	p.held[catRequest] = int64(n)
	p.held[catExports] = 1 // this one
	j.raw("\n]}\n")
	return j.err
}

var deviceHeader = []string{"id", "seen_at", "received_at", "expires_at", "ip", "location", "browser", "device_type", "language", "user_agent", "fingerprint"}

var consentHeader = []string{"seq", "receipt_id", "recorded_at", "policy_version", "method", "purposes", "gpc", "evidence_ip", "evidence_user_agent", "evidence_locale", "request_id", "prev_hash", "hash"}

func consentRow(c *csvw, e consent.Entry) {
	var ev consent.Evidence
	if e.Evidence != nil {
		ev = *e.Evidence
	}
	c.row(strconv.FormatInt(e.Seq, 10), e.ReceiptID, stamp(e.RecordedAt), e.PolicyVersion, string(e.Method), purposeList(e.Purposes),
		strconv.FormatBool(e.GPC), ev.IP, ev.UserAgent, ev.Locale, e.RequestID, e.PrevHash, e.Hash)
}

func (p *pkg) processing(_ context.Context, w *bufio.Writer) error {
	b, err := json.MarshalIndent(NewProcessing(p.t, p.held), "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// purposeList is a decision's purposes as "name=true; name=false", sorted by name.
func purposeList(m map[string]bool) string {
	parts := make([]string, 0, len(m))
	for _, name := range sortedKeys(m) {
		parts = append(parts, name+"="+strconv.FormatBool(m[name]))
	}
	return strings.Join(parts, "; ")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// jsonw writes JSON by hand around values marshalled one at a time, so that a list of any
// length is never held whole. The first error sticks.
type jsonw struct {
	w   *bufio.Writer
	err error
}

func (j *jsonw) raw(s string) {
	if j.err == nil {
		_, j.err = j.w.WriteString(s)
	}
}

func (j *jsonw) value(v any) {
	if j.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		j.err = err
		return
	}
	_, j.err = j.w.Write(b)
}

// elem writes the i-th element of a list, one a line.
func (j *jsonw) elem(i int, v any) {
	if i == 0 {
		j.raw("\n")
	} else {
		j.raw(",\n")
	}
	j.value(v)
}

// csvw writes RFC 4180 rows (encoding/csv: quoted where needed, CRLF line ends) with every
// cell neutralised against formula injection.
type csvw struct{ w *csv.Writer }

func newCSV(w io.Writer) *csvw {
	c := csv.NewWriter(w)
	c.UseCRLF = true
	return &csvw{w: c}
}

func (c *csvw) row(cells ...string) {
	for i, s := range cells {
		cells[i] = Neutralise(s)
	}
	_ = c.w.Write(cells) // the error sticks in the writer: see err
}

func (c *csvw) err() error { return c.w.Error() }

func (c *csvw) close() error {
	c.w.Flush()
	return c.w.Error()
}

// Neutralise keeps a spreadsheet from reading a cell as a formula: a cell that starts with
// = + - @, a tab or a carriage return gets a leading apostrophe, as OWASP advises. The value
// stays readable, and data.json keeps it exactly.
func Neutralise(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// Store writes r's package into st under ObjectKey as it is made: the archive flows through
// a pipe into st.Put, so neither side holds more than its buffers. A failure on either side
// fails both, and the objects port then keeps nothing of the package (a failed Put leaves no
// object). It returns what the package holds and its size in bytes.
func (b *Builder) Store(ctx context.Context, st objects.Store, t tenant.Tenant, r dsr.Request) (Held, int64, error) {
	pr, pw := io.Pipe()
	type result struct {
		held Held
		err  error
	}
	done := make(chan result, 1)
	cw := &countingWriter{w: pw}
	go func() {
		held, err := b.Write(ctx, cw, t, r)
		pw.CloseWithError(err) // nil: the reader sees the end of the archive
		done <- result{held, err}
	}()
	err := st.Put(ctx, ObjectKey(t.ID, r.ID), "application/zip", pr)
	// A Put that ended early stops the writer at its next write.
	pr.CloseWithError(errPutEnded)
	res := <-done
	if res.err != nil && !errors.Is(res.err, errPutEnded) {
		return nil, 0, fmt.Errorf("export: write package: %w", res.err)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("export: store package: %w", err)
	}
	return res.held, cw.n, nil
}

var errPutEnded = errors.New("export: the objects port stopped reading")

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
