// Package outbox keeps every outgoing email as one .eml file in a local folder instead of
// sending it: the mail port without AWS, read back by people, tests and GET /_local/outbox.
package outbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/example/gdpr/internal/atomicfile"
	"github.com/example/gdpr/internal/clock"
	"github.com/example/gdpr/internal/mail"
	"github.com/example/gdpr/internal/secrets"
)

var _ mail.Sender = (*Outbox)(nil)

const (
	ext = ".eml"
	// nameTime sorts as text in time order: fixed width, UTC, nanoseconds kept.
	nameTime = "20060102T150405.000000000Z"
	// maxLine is where header fields are folded (RFC 5322 2.1.1).
	maxLine = 78
)

// Outbox is a folder of sent messages.
type Outbox struct {
	dir  string
	from *netmail.Address
	clk  clock.Clock
	rate float64
}

// DefaultSendRate is the rate the outbox answers as its send rate unless SetSendRate changes
// it: SES's sandbox rate is 1 per second, a production account's starts at 14; local runs
// want notices soon.
const DefaultSendRate = 50

var _ mail.RateSource = (*Outbox)(nil)

// SetSendRate sets what SendRate answers (messages per second, > 0), so that local runs pace
// bulk mail as an SES account of that rate would. It is not safe to call while sending.
func (o *Outbox) SetSendRate(perSecond float64) {
	if perSecond > 0 {
		o.rate = perSecond
	}
}

// SendRate answers the configured local send rate. The outbox itself takes any rate.
func (o *Outbox) SendRate(context.Context) (float64, error) { return o.rate, nil }

// Sent is one message as GET /_local/outbox lists it.
type Sent struct {
	ID      string    `json:"id"`
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	SentAt  time.Time `json:"sent_at"`
}

// New opens (and creates, private to its owner) the folder dir. from is the sender, e.g.
// "Privacy <privacy@example.org>"; the clock dates the messages.
func New(dir, from string, clk clock.Clock) (*Outbox, error) {
	addr, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, errors.New("outbox: sender is not an email address")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: create folder: %w", err)
	}
	return &Outbox{dir: dir, from: addr, clk: clk, rate: DefaultSendRate}, nil
}

// Send writes the message to a temporary file and renames it into place, so List never reads
// half a message. The file is named by time then id, so names sort in the order sent.
func (o *Outbox) Send(ctx context.Context, m mail.Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	id := secrets.NewID("", secrets.IDBytes)
	now := o.clk.Now().UTC()
	err := atomicfile.Write(filepath.Join(o.dir, now.Format(nameTime)+"-"+id+ext), func(w io.Writer) error {
		return o.write(w, id, now, m)
	})
	if err != nil {
		return "", fmt.Errorf("outbox: send %s: %w", id, err)
	}
	return id, nil
}

// write renders m as an RFC 5322 message in 7-bit ASCII: UTF-8 travels as encoded words in the
// subject and as quoted-printable in the body.
func (o *Outbox) write(f io.Writer, id string, now time.Time, m mail.Message) error {
	w := bufio.NewWriter(f)
	header := func(name, value string) { w.WriteString(fold(name+": "+value) + "\r\n") }
	header("From", o.from.String())
	header("To", m.To)
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+id+"@"+domain(o.from.Address)+">")
	header("MIME-Version", "1.0")
	if m.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		w.WriteString("\r\n")
		if err := writeQP(w, m.Text); err != nil {
			return err
		}
		return w.Flush()
	}
	mw := multipart.NewWriter(w)
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	w.WriteString("\r\n")
	// Least preferred first (RFC 2046 5.1.4): clients show the HTML, the text is the fallback.
	for _, p := range []struct{ ctype, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.ctype + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return err
		}
		if err := writeQP(pw, p.body); err != nil {
			return err
		}
	}
	if err := mw.Close(); err != nil {
		return err
	}
	return w.Flush()
}

func writeQP(w io.Writer, s string) error {
	qw := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qw, s); err != nil {
		return err
	}
	return qw.Close()
}

// fold breaks a header line at single spaces so that it stays within maxLine characters where
// the words allow. Unfolding turns each break back into the one space it replaced, and the
// encoder separates encoded words by single spaces, which decoding drops.
func fold(line string) string {
	words := strings.Split(line, " ")
	var b strings.Builder
	col := 0
	for i, word := range words {
		if i > 0 {
			if col+1+len(word) > maxLine && word != "" && words[i-1] != "" {
				b.WriteString("\r\n")
				col = 0
			}
			b.WriteByte(' ')
			col++
		}
		b.WriteString(word)
		col += len(word)
	}
	return b.String()
}

func domain(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

// List reads every message back, newest first.
func (o *Outbox) List(ctx context.Context) ([]Sent, error) {
	entries, err := os.ReadDir(o.dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: list: %w", err)
	}
	sent := []Sent{}
	for i := len(entries) - 1; i >= 0; i-- {
		name := entries[i].Name()
		if !strings.HasSuffix(name, ext) || entries[i].IsDir() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := o.read(filepath.Join(o.dir, name))
		if err != nil {
			return nil, fmt.Errorf("outbox: read %s: %w", name, err)
		}
		sent = append(sent, s)
	}
	return sent, nil
}

func (o *Outbox) read(path string) (Sent, error) {
	f, err := os.Open(path)
	if err != nil {
		return Sent{}, err
	}
	defer f.Close()
	msg, err := netmail.ReadMessage(bufio.NewReader(f))
	if err != nil {
		return Sent{}, err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Sent{}, fmt.Errorf("subject: %w", err)
	}
	date, err := msg.Header.Date()
	if err != nil {
		return Sent{}, err
	}
	id, _, _ := strings.Cut(strings.Trim(msg.Header.Get("Message-ID"), "<>"), "@")
	text, err := plainText(textproto.MIMEHeader(msg.Header), msg.Body)
	if err != nil {
		return Sent{}, err
	}
	return Sent{ID: id, To: msg.Header.Get("To"), Subject: subject, Text: text, SentAt: date.UTC()}, nil
}

// plainText finds the first text/plain part of an entity, however deeply nested, and decodes
// it, with line breaks as they were given to Send.
func plainText(h textproto.MIMEHeader, body io.Reader) (string, error) {
	mediatype, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return "", fmt.Errorf("content type: %w", err)
	}
	if strings.HasPrefix(mediatype, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return "", errNoText
			}
			if err != nil {
				return "", err
			}
			text, err := plainText(p.Header, p)
			if !errors.Is(err, errNoText) {
				return text, err
			}
		}
	}
	if mediatype != "text/plain" {
		return "", errNoText
	}
	switch cte := strings.ToLower(h.Get("Content-Transfer-Encoding")); cte {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "", "7bit", "8bit":
	default:
		return "", fmt.Errorf("unsupported transfer encoding %q", cte)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n"), nil
}

var errNoText = errors.New("no text/plain part")
