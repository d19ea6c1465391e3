package sites_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/example/gdpr/internal/sites"
)

// resolveTo is a resolver that answers addr for every name: no DNS is asked.
func resolveTo(addr ...string) sites.Lookup {
	return func(context.Context, string) ([]netip.Addr, error) {
		out := make([]netip.Addr, len(addr))
		for i, a := range addr {
			out[i] = netip.MustParseAddr(a)
		}
		return out, nil
	}
}

// refused lists an address of every class no site of a deployment may be at.
var refused = map[string]string{
	"loopback":                      "127.0.0.1",
	"loopback, elsewhere in 127/8":  "127.1.2.3",
	"loopback IPv6":                 "::1",
	"private 10/8":                  "10.1.2.3",
	"private 172.16/12":             "172.20.0.9",
	"private 192.168/16":            "192.168.1.1",
	"unique local IPv6":             "fc00::1",
	"link-local":                    "169.254.10.20",
	"metadata":                      "169.254.169.254",
	"metadata IPv6":                 "fd00:ec2::254",
	"link-local IPv6":               "fe80::1",
	"carrier-grade NAT":             "100.64.0.1",
	"unspecified":                   "0.0.0.0",
	"unspecified IPv6":              "::",
	"this network":                  "0.1.2.3",
	"multicast":                     "224.0.0.251",
	"multicast IPv6":                "ff02::1",
	"broadcast":                     "255.255.255.255",
	"reserved":                      "240.0.0.1",
	"IPv4-mapped loopback":          "::ffff:127.0.0.1",
	"IPv4-mapped private":           "::ffff:10.0.0.1",
	"IPv4-mapped metadata":          "::ffff:169.254.169.254",
	"NAT64 of a private address":    "64:ff9b::a00:1",
	"6to4 of a private address":     "2002:a00:1::1",
	"benchmarking":                  "198.18.0.1",
	"IETF protocol assignments":     "192.0.0.8",
	"IPv4-mapped carrier-grade NAT": "::ffff:100.64.0.1",
}

func TestRefused(t *testing.T) {
	for class, a := range refused {
		addr := netip.MustParseAddr(a)
		if !sites.Refused(addr, false) {
			t.Errorf("%s (%s) is allowed in a deployment", class, a)
		}
		loop := addr.Unmap().IsLoopback()
		if got := sites.Refused(addr, true); got == loop {
			t.Errorf("%s (%s) on the local server: refused = %v", class, a, got)
		}
	}
	for _, a := range []string{"93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34"} {
		if sites.Refused(netip.MustParseAddr(a), false) {
			t.Errorf("public %s is refused", a)
		}
	}
}

func TestValidateURL(t *testing.T) {
	for _, c := range []struct {
		url          string
		deploy, home bool // accepted in a deployment, on the local server
	}{
		{"https://shop.example.org/wp-json/gdpr/v1/events", true, true},
		{"https://shop.example.org:8443/index.php?option=com_gdpr", true, true},
		{"https://93.184.216.34/hook", true, true},
		{"http://shop.example.org/hook", false, false},
		{"http://127.0.0.1:8080/hook", false, true},
		{"http://localhost:8080/hook", false, true},
		{"http://127.0.0.1/hook", false, false},
		{"http://10.0.0.7:8080/hook", false, false},
		{"https://127.0.0.1/hook", false, true},
		{"https://localhost/hook", false, true},
		{"https://app.localhost/hook", false, true},
		{"https://[::1]/hook", false, true},
		{"https://[::ffff:127.0.0.1]/hook", false, true},
		{"https://169.254.169.254/latest/meta-data", false, false},
		{"https://[fd00:ec2::254]/", false, false},
		{"https://10.0.0.7/hook", false, false},
		{"https://100.64.1.1/hook", false, false},
		{"https://0.0.0.0/hook", false, false},
		{"https://user:pw@shop.example.org/hook", false, false},
		{"https://shop.example.org/hook#x", false, false},
		{"ftp://shop.example.org/hook", false, false},
		{"/relative", false, false},
		{"", false, false},
		{"https://" + strings.Repeat("a", 2050) + ".org/", false, false},
	} {
		for _, home := range []bool{false, true} {
			_, err := sites.ValidateURL(c.url, home)
			want := c.deploy
			if home {
				want = c.home
			}
			if (err == nil) != want {
				t.Errorf("ValidateURL(%q, local=%v) = %v, want accepted %v", c.url, home, err, want)
			}
			if err != nil && !hasCode(err, "invalid_url") {
				t.Errorf("ValidateURL(%q) = %v, want invalid_url", c.url, err)
			}
		}
	}
}

// TestDialerRefusesResolved: a host name is checked on the address it resolves to at the
// time of the call, for every refused class; no connection is made.
func TestDialerRefusesResolved(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for class, a := range refused {
		d := sites.Dialer{Lookup: resolveTo(a)}
		if c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("shop.example.test", port)); err == nil {
			c.Close()
			t.Errorf("%s: dialled %s", class, a)
		}
		// The address itself, not a name, is refused the same way.
		if c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort(a, port)); err == nil {
			c.Close()
			t.Errorf("%s: dialled the literal %s", class, a)
		}
	}
	// A name resolving to a public and a refused address is dialled at the public one only.
	d := sites.Dialer{Lookup: resolveTo("127.0.0.1")}
	if _, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("shop.example.test", port)); err == nil || !strings.Contains(err.Error(), "address not allowed") {
		t.Fatalf("loopback in a deployment: %v", err)
	}
	select {
	case <-accepted:
		t.Fatal("a refused address was connected to")
	default:
	}
	// The local server reaches loopback.
	local := sites.Dialer{Local: true, Lookup: resolveTo("127.0.0.1")}
	c, err := local.DialContext(context.Background(), "tcp", net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatalf("local dial of loopback: %v", err)
	}
	c.Close()
	<-accepted
	// A lookup failure is the lookup's error.
	fail := sites.Dialer{Lookup: func(context.Context, string) ([]netip.Addr, error) { return nil, errors.New("no such host") }}
	if _, err := fail.DialContext(context.Background(), "tcp", "nowhere.test:443"); err == nil {
		t.Fatal("dial of an unresolvable name succeeded")
	}
}
