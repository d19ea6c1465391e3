// Package web is the two pages people use: the privacy center of a tenant's data subjects
// (GET /privacy/{tenant}) and the operator console (GET /console). They are static files
// embedded in the binary, plain HTML, CSS and JavaScript modules with no build step, that call
// the service's own API from the browser: no rule lives here, and nothing is read from any
// store or from any other origin. MetaFunction serves them, in AWS and in gdprd alike.
package web

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/example/gdpr/internal/apperr"
	"github.com/example/gdpr/internal/httpapi"
)

//go:embed static
var static embed.FS

// Headers every page and asset carries. The policy allows this origin alone and no inline
// script or style, so an injected tag runs nothing; no page may frame them (clickjacking),
// and no link tells another site which page (and so which tenant or request) it came from.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
	"X-Frame-Options":        "DENY",
	// Pages and assets change together when the service is deployed, and their names carry no
	// version: a browser keeps them but asks each time whether they changed (ETag, 304).
	"Cache-Control": "no-cache",
}

// mediaTypes are the types of the files the pages are made of.
var mediaTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".json": "application/json; charset=utf-8",
	".svg":  "image/svg+xml",
}

// file is one embedded file as it is served.
type file struct {
	body, mediaType, etag string
}

// Routes serves the pages and their assets. The files are read and hashed once, here.
func Routes() ([]httpapi.Route, error) {
	files := map[string]file{}
	err := fs.WalkDir(static, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(name)
		if err != nil {
			return err
		}
		mt, ok := mediaTypes[path.Ext(name)]
		if !ok {
			return fmt.Errorf("web: %s: no media type for its extension", name)
		}
		sum := sha256.Sum256(b)
		files[strings.TrimPrefix(name, "static/")] = file{body: string(b), mediaType: mt,
			etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	page := func(name string) func(context.Context, *httpapi.Request) (httpapi.Response, error) {
		f, ok := files[name]
		if !ok {
			panic("web: no page " + name)
		}
		return func(_ context.Context, r *httpapi.Request) (httpapi.Response, error) { return serve(r, f), nil }
	}
	return []httpapi.Route{
		// The tenant is read by the page from its own path; the API it calls tells whether the
		// tenant exists, so this route reads nothing and answers the same page for every name.
		{Key: "GET /privacy/{tenant}", Access: httpapi.Public, Handle: page("privacy.html")},
		{Key: "GET /console", Access: httpapi.Public, Handle: page("console.html")},
		{Key: "GET /assets/{file}", Access: httpapi.Public, Handle: func(_ context.Context, r *httpapi.Request) (httpapi.Response, error) {
			f, ok := files["assets/"+r.Path("file")]
			if !ok {
				return httpapi.Response{}, apperr.New(apperr.NotFound, "file_not_found", "The pages have no such file.")
			}
			return serve(r, f), nil
		}},
	}, nil
}

// serve answers f, or 304 when the browser's copy is f.
func serve(r *httpapi.Request, f file) httpapi.Response {
	h := make(map[string]string, len(securityHeaders)+1)
	for k, v := range securityHeaders {
		h[k] = v
	}
	h["ETag"] = f.etag
	if match := r.Header("If-None-Match"); match != "" && etagMatches(match, f.etag) {
		return httpapi.Response{Status: http.StatusNotModified, Headers: h}
	}
	return httpapi.Response{Status: http.StatusOK, Headers: h, Body: httpapi.Raw{Type: f.mediaType, Data: f.body}}
}

// etagMatches reads an If-None-Match list (RFC 9110, 13.1.2: weak comparison).
func etagMatches(list, etag string) bool {
	for tag := range strings.SplitSeq(list, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == etag || tag == "*" {
			return true
		}
	}
	return false
}
