package sites

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/example/gdpr/internal/apperr"
)

// MaxURL bounds a site's URL, in bytes.
const MaxURL = 2048

// refusedPrefixes are the address blocks no site of a deployment may be at, beyond what
// netip's predicates name (loopback, private, link-local, multicast, unspecified): a call
// there would reach this service's own network or the cloud's metadata service.
var refusedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),         // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),     // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),      // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),     // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),       // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),      // NAT64: reaches IPv4 addresses behind it
	netip.MustParsePrefix("64:ff9b:1::/48"),    // local-use NAT64
	netip.MustParsePrefix("2002::/16"),         // 6to4: embeds an IPv4 address
	netip.MustParsePrefix("fd00:ec2::254/128"), // the EC2 metadata service over IPv6 (also in fc00::/7)
}

// Refused tells whether a site may not be called at addr: loopback (unless local), private,
// link-local (the metadata service 169.254.169.254 among them), carrier-grade NAT,
// unspecified, multicast and reserved addresses, also written as IPv4-mapped IPv6.
func Refused(addr netip.Addr, local bool) bool {
	addr = addr.Unmap()
	switch {
	case !addr.IsValid():
		return true
	case addr.IsLoopback():
		return !local
	case addr.IsPrivate(), addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast(), addr.IsInterfaceLocalMulticast(),
		addr.IsMulticast(), addr.IsUnspecified():
		return true
	}
	for _, p := range refusedPrefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func invalidURL(why string) error {
	e := apperr.New(apperr.Unprocessable, CodeInvalidURL, "The URL is not allowed: %s.", why)
	e.Fields = []apperr.FieldError{{Field: "url", Message: why}}
	return e
}

// ValidateURL checks a site's URL: https to a public address; the local server also takes
// http://127.0.0.1:PORT and http://localhost:PORT. A host name is checked again on every
// call, on the address it resolves to then (Dialer). Errors: invalid_url.
func ValidateURL(raw string, local bool) (*url.URL, error) {
	if raw == "" || len(raw) > MaxURL || !utf8.ValidString(raw) {
		return nil, invalidURL("must be an absolute URL of at most 2048 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return nil, invalidURL("must be an absolute URL")
	}
	if u.User != nil {
		return nil, invalidURL("must not carry a user name or password")
	}
	if u.Fragment != "" {
		return nil, invalidURL("must not have a fragment")
	}
	host := strings.ToLower(u.Hostname())
	loopbackName := host == "localhost" || host == "127.0.0.1"
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && local && loopbackName && u.Port() != "":
	case u.Scheme == "http" && local:
		return nil, invalidURL("must be https, or http://127.0.0.1:PORT or http://localhost:PORT")
	default:
		return nil, invalidURL("must be https")
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		if !local {
			return nil, invalidURL("must not name this machine")
		}
		return u, nil
	}
	if a, err := netip.ParseAddr(host); err == nil && Refused(a, local) {
		return nil, invalidURL("must be a public address")
	}
	if host == "" || strings.ContainsAny(host, " %") {
		return nil, invalidURL("must name a host")
	}
	return u, nil
}

// Lookup resolves a host name to its addresses.
type Lookup func(ctx context.Context, host string) ([]netip.Addr, error)

// Dialer connects to sites, only ever at addresses Refused allows: the check runs on the
// addresses a name resolves to at the time of the call, so a name that resolved to a public
// address at registration and to 127.0.0.1 now (DNS rebinding) is refused.
type Dialer struct {
	Local bool
	// Lookup resolves names; net.DefaultResolver when nil. Tests resolve without DNS.
	Lookup Lookup
}

// errRefusedAddress reports a call to an address no site may be at.
var errRefusedAddress = errors.New("sites: address not allowed")

// DialContext dials the first allowed address of addr's host.
func (d Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		lookup := d.Lookup
		if lookup == nil {
			lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
				return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			}
		}
		if addrs, err = lookup(ctx, host); err != nil {
			return nil, err
		}
	}
	nd := net.Dialer{
		Timeout: CallTimeout,
		// Checked again on the very address dialled: nothing between the check above and
		// the connection can change it.
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || Refused(ap.Addr(), d.Local) {
				return errRefusedAddress
			}
			return nil
		},
	}
	var last error = errRefusedAddress
	for _, a := range addrs {
		if Refused(a, d.Local) {
			continue
		}
		c, err := nd.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

// Client returns the HTTP client of deliveries: dialled by d, no proxy (a proxy would be
// the address checked), redirects not followed (a redirect could point anywhere), each call
// bounded by CallTimeout.
func Client(d Dialer) *http.Client {
	return &http.Client{
		Timeout: CallTimeout,
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            d.DialContext,
			ForceAttemptHTTP2:      true,
			TLSHandshakeTimeout:    CallTimeout,
			ResponseHeaderTimeout:  CallTimeout,
			MaxResponseHeaderBytes: 16 << 10,
			MaxIdleConns:           10,
			IdleConnTimeout:        30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// reason says why a call failed, for operators: a short fixed phrase, never the error's text
// (which may quote the site's answer or address).
func reason(err error) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, errRefusedAddress):
		return "address not allowed"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("no answer within %s", CallTimeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &dnsErr):
		return "host name does not resolve"
	case strings.Contains(err.Error(), "tls:"), strings.Contains(err.Error(), "x509:"):
		return "TLS handshake failed"
	}
	return "connection failed"
}
