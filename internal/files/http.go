package files

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/example/gdpr/internal/objects"
)

// ServeHTTP answers GET and HEAD on LinkPath+key for links made by URL. Mount it at LinkPath
// without stripping the prefix: the key is read from the full path.
//
// A tampered or expired link gets 403 and an object deleted since gets 404; the bodies are
// plain text that never names the key, which holds tenant and request ids.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, LinkPath)
	if !ok {
		http.Error(w, "Not found.", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	expires, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil {
		http.Error(w, "This link is not valid.", http.StatusForbidden)
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(q.Get("sig"))
	if err != nil || !hmac.Equal(sig, s.sign(key, expires)) {
		http.Error(w, "This link is not valid.", http.StatusForbidden)
		return
	}
	if !s.clk.Now().Before(time.Unix(expires, 0)) {
		http.Error(w, "This link has expired.", http.StatusForbidden)
		return
	}
	// URL signs only valid keys; checking again keeps a leaked secret from reaching outside
	// the folder.
	if objects.ValidateKey(key) != nil {
		http.Error(w, "This link is not valid.", http.StatusForbidden)
		return
	}
	f, err := s.open(key)
	if errors.Is(err, objects.ErrNotFound) {
		http.Error(w, "This file no longer exists.", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", s.contentType(key))
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", st.ModTime(), f)
}
