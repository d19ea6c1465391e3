package sites_test

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/example/gdpr/internal/sites"
)

// FuzzValidateURL: whatever a deployment accepts is https, carries no credentials, and
// names no refused address literally.
func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{"https://shop.example.org/hook", "http://127.0.0.1:8080/", "https://[::ffff:10.0.0.1]/",
		"https://0x7f.1/", "https://2130706433/", "https://user@host/", "https://LOCALHOST./"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := sites.ValidateURL(raw, false)
		if err != nil {
			return
		}
		if u.Scheme != "https" || u.User != nil {
			t.Fatalf("accepted %q", raw)
		}
		host := strings.ToLower(u.Hostname())
		if a, err := netip.ParseAddr(host); err == nil && sites.Refused(a, false) {
			t.Fatalf("accepted a refused address in %q", raw)
		}
		if host == "localhost" || strings.HasSuffix(host, ".localhost") {
			t.Fatalf("accepted this machine in %q", raw)
		}
		if _, err := url.Parse(raw); err != nil {
			t.Fatalf("accepted an unparsable %q", raw)
		}
	})
}
