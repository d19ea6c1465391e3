package gdprd

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
)

// A request with both Content-Length and Transfer-Encoding is refused and its connection
// closed (RFC 9112 §6.3: such a message "ought to be handled as an error"; it is how requests
// are smuggled past a proxy that reads the other length). net/http drops Content-Length
// before a handler sees the request, so each connection's bytes are followed through the
// message framing as they are read, and ServeHTTP asks whether its request had both.

// watchListener wraps each accepted connection in a watchedConn.
type watchListener struct{ net.Listener }

func (l watchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &watchedConn{Conn: c}, nil
}

type connKey struct{}

// connContext puts the connection where ServeHTTP finds it (http.Server.ConnContext).
func connContext(ctx context.Context, c net.Conn) context.Context {
	if w, ok := c.(*watchedConn); ok {
		return context.WithValue(ctx, connKey{}, w)
	}
	return ctx
}

type watchedConn struct {
	net.Conn
	mu     sync.Mutex
	frame  framing
	served int // requests handed to ServeHTTP so far
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.frame.feed(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// ambiguousLength tells whether the next request ServeHTTP serves on this connection had both
// a Content-Length and a Transfer-Encoding. HTTP/1.1 serves a connection's requests one after
// the other, in the order they were read, so the n-th call is about the n-th header block.
func ambiguousLength(ctx context.Context) bool {
	c, ok := ctx.Value(connKey{}).(*watchedConn)
	if !ok {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.served
	c.served++
	return i < len(c.frame.both) && c.frame.both[i]
}

// maxLine bounds a header or chunk-size line (net/http's own header limit is 1 MiB in all).
const maxLine = 1 << 20

type frameState int

const (
	inHeaders frameState = iota
	inBody               // a Content-Length body
	inChunkSize
	inChunk // chunk data and its CRLF
	inTrailer
)

// framing follows the message framing of the bytes read on a connection: header blocks,
// then bodies by Content-Length or chunks (RFC 9112 §6-7), recording for each request whether
// it named both lengths. A message it cannot follow is one net/http refuses too (and closes
// the connection on), so it stops there.
type framing struct {
	state       frameState
	line        []byte
	remain      int64
	startLine   bool // the request line of the current block has been read
	cl, te      bool
	length      int64
	both        []bool
	unfollowed  bool
	teUnchunked bool
}

func (f *framing) feed(p []byte) {
	for len(p) > 0 && !f.unfollowed {
		if f.state == inBody || f.state == inChunk {
			n := min(int64(len(p)), f.remain)
			p, f.remain = p[n:], f.remain-n
			if f.remain == 0 {
				if f.state == inBody {
					f.state = inHeaders
				} else {
					f.state = inChunkSize
				}
			}
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			f.line = append(f.line, p...)
			f.unfollowed = len(f.line) > maxLine
			return
		}
		f.line = append(f.line, p[:i]...)
		p = p[i+1:]
		f.onLine(string(bytes.TrimSuffix(f.line, []byte("\r"))))
		f.line = f.line[:0]
	}
}

func (f *framing) onLine(line string) {
	switch f.state {
	case inHeaders:
		switch {
		case !f.startLine:
			// Empty lines before a request line are ignored (RFC 9112 §2.2).
			if line != "" {
				f.startLine, f.cl, f.te, f.teUnchunked, f.length = true, false, false, false, 0
			}
		case line == "":
			f.both = append(f.both, f.cl && f.te)
			f.startLine = false
			switch {
			case f.te && f.teUnchunked:
				f.unfollowed = true
			case f.te:
				f.state = inChunkSize
			case f.length > 0:
				f.state, f.remain = inBody, f.length
			}
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				return
			}
			value = strings.TrimSpace(value)
			switch {
			case strings.EqualFold(strings.TrimSpace(name), "Content-Length"):
				n, err := strconv.ParseInt(value, 10, 64)
				f.cl, f.length = true, n
				f.unfollowed = err != nil || n < 0
			case strings.EqualFold(strings.TrimSpace(name), "Transfer-Encoding"):
				f.te = true
				f.teUnchunked = f.teUnchunked || !strings.EqualFold(value, "chunked")
			}
		}
	case inChunkSize:
		size, _, _ := strings.Cut(line, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		switch {
		case err != nil || n < 0:
			f.unfollowed = true
		case n == 0:
			f.state = inTrailer
		default:
			f.state, f.remain = inChunk, n+2 // the data and its CRLF
		}
	case inTrailer:
		if line == "" {
			f.state = inHeaders
		}
	}
}
