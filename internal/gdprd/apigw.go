package gdprd

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/httpapi"
	"github.com/example/gdpr/internal/secrets"
)

// What API Gateway would name this API. No client depends on them; handlers may log them.
const (
	accountID = "000000000000"
	apiID     = "gdprd"
	stage     = "$default"
)

// newRequestID makes an id shaped like API Gateway's (base64 of random bytes).
func newRequestID() string {
	return base64.StdEncoding.EncodeToString(secrets.Random(12))
}

// readBody reads at most one byte more than handlers accept, so an oversized body reaches
// the handler as oversized (it answers 413) without being read whole.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, httpapi.MaxBody+1))
}

// httpEvent is the payload format 2.0 event API Gateway sends for r on route rt.
func httpEvent(r *http.Request, rt *route, params map[string]string, body []byte, reqID string, now time.Time) events.APIGatewayV2HTTPRequest {
	headers := make(map[string]string, len(r.Header)+4)
	var cookies []string
	for name, vals := range r.Header {
		name = strings.ToLower(name)
		if name == "cookie" {
			// Payload 2.0 moves cookies out of the headers into their own list.
			for _, v := range vals {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[name] = strings.Join(vals, ",")
	}
	headers["host"] = r.Host
	if _, ok := headers["content-length"]; !ok && r.ContentLength > 0 {
		headers["content-length"] = strconv.FormatInt(r.ContentLength, 10)
	}
	ip := sourceIP(r.RemoteAddr)
	headers["x-forwarded-for"] = ip
	headers["x-forwarded-proto"] = "http"
	if _, port, err := net.SplitHostPort(r.Host); err == nil {
		headers["x-forwarded-port"] = port
	}

	var query map[string]string
	for name, vals := range r.URL.Query() {
		if query == nil {
			query = map[string]string{}
		}
		query[name] = strings.Join(vals, ",")
	}

	path := r.URL.EscapedPath()
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              rt.key,
		RawPath:               path,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     rt.key,
			AccountID:    accountID,
			Stage:        stage,
			RequestID:    reqID,
			APIID:        apiID,
			DomainName:   r.Host,
			DomainPrefix: strings.SplitN(r.Host, ".", 2)[0],
			Time:         now.Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      path,
				Protocol:  r.Proto,
				SourceIP:  ip,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return ev
}

func sourceIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// writeResponse writes a function's answer as API Gateway does.
func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse, reqID string) {
	h := w.Header()
	for name, v := range resp.Headers {
		h.Set(name, v)
	}
	for name, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(name, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	if h.Get("X-Request-Id") == "" {
		h.Set("X-Request-Id", reqID)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			gatewayError(w, http.StatusInternalServerError, reqID)
			return
		}
		body = b
	}
	if resp.Body != "" && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write(body)
}

// gatewayError answers as API Gateway itself does when a function fails (500 Internal Server
// Error) or the request cannot be read (400): these bodies are API Gateway's, not the
// service's, in AWS too.
func gatewayError(w http.ResponseWriter, status int, reqID string) {
	body := fmt.Sprintf(`{"message":%q}`, http.StatusText(status))
	h := w.Header()
	for name := range h {
		if name != "Connection" { // a refusal that closes the connection says so
			h.Del(name)
		}
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Request-Id", reqID)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
}
