package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/gdpr/internal/apperr"
)

// Request is one call as a route handler sees it.
type Request struct {
	Event     *events.APIGatewayV2HTTPRequest
	RequestID string
	// Tenant is the caller's tenant: from the key, or from the path on public routes.
	Tenant string
	// Role is the caller's role; RoleNone on public routes.
	Role Role

	raw []byte
	api *API
}

// Path returns a path parameter.
func (r *Request) Path(name string) string { return r.Event.PathParameters[name] }

// Query returns a query string parameter.
func (r *Request) Query(name string) string { return r.Event.QueryStringParameters[name] }

// Header returns a request header. API Gateway lower-cases header names in HTTP API events.
func (r *Request) Header(name string) string {
	if v, ok := r.Event.Headers[strings.ToLower(name)]; ok {
		return v
	}
	return r.Event.Headers[name]
}

// Bearer returns the token of the request's "Authorization: Bearer <token>" header.
func (r *Request) Bearer() (string, bool) { return BearerToken(r.Header("Authorization")) }

// BearerToken parses an Authorization header value of the Bearer scheme (any letter case).
func BearerToken(v string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// SourceIP is the caller's address as API Gateway saw it.
func (r *Request) SourceIP() string { return r.Event.RequestContext.HTTP.SourceIP }

// Body returns the raw request body.
func (r *Request) Body() []byte { return r.raw }

func (r *Request) body() ([]byte, error) {
	// Refuse by the encoded length first: API Gateway passes bodies of up to 10 MB.
	if len(r.Event.Body) > base64.StdEncoding.EncodedLen(MaxBody) {
		return nil, apperr.New(apperr.TooLarge, apperr.CodeTooLarge, "The body is larger than %d bytes.", MaxBody)
	}
	b := []byte(r.Event.Body)
	if r.Event.IsBase64Encoded {
		var err error
		if b, err = base64.StdEncoding.DecodeString(r.Event.Body); err != nil {
			return nil, apperr.New(apperr.Invalid, apperr.CodeInvalidJSON, "The body is not valid base64.")
		}
	}
	if len(b) > MaxBody {
		return nil, apperr.New(apperr.TooLarge, apperr.CodeTooLarge, "The body is larger than %d bytes.", MaxBody)
	}
	return b, nil
}

// checkMediaType refuses a body that is not of the route's media type (JSON, UTF-8): a
// browser sends text/plain and form bodies cross-site without asking first (no CORS
// preflight), JSON only after one.
func checkMediaType(r *Request, route Route) error {
	if len(r.raw) == 0 {
		return nil
	}
	want := route.MediaType
	if want == "" {
		want = "application/json"
	}
	mt, params, err := mime.ParseMediaType(r.Header("Content-Type"))
	if err != nil || mt != want || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		return apperr.New(apperr.UnsupportedMedia, apperr.CodeMediaType, "The body must be sent as Content-Type: %s (UTF-8).", want)
	}
	return nil
}

// Decode reads the body as one JSON value into v, refusing unknown fields, wrong types and
// trailing data. Its errors name fields and offsets, never the values sent.
func (r *Request) Decode(v any) error {
	if len(bytes.TrimSpace(r.raw)) == 0 {
		return apperr.New(apperr.Invalid, apperr.CodeInvalidJSON, "The body is empty; a JSON object is required.")
	}
	return DecodeJSON(r.raw, v)
}

// DecodeOptional is Decode for bodies that may be absent: an empty body leaves v as it is.
func (r *Request) DecodeOptional(v any) error {
	if len(bytes.TrimSpace(r.raw)) == 0 {
		return nil
	}
	return DecodeJSON(r.raw, v)
}

// DecodeJSON is the strict decoder every request body goes through. Fuzz targets call it
// with the route's body type.
func DecodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, v)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apperr.New(apperr.Invalid, apperr.CodeInvalidJSON, "The body holds more than one JSON value.")
	}
	return nil
}

func jsonError(err error, v any) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return apperr.New(apperr.Invalid, apperr.CodeInvalidJSON, "Malformed JSON at byte %d.", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return apperr.New(apperr.Invalid, apperr.CodeInvalidJSON, "The body must be a JSON object.")
		}
		e := apperr.New(apperr.Invalid, apperr.CodeInvalidJSON, "Field %s has the wrong type.", field)
		e.Fields = []apperr.FieldError{{Field: field, Message: "must be " + jsonType(typ.Type.Kind().String())}}
		return e
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return apperr.New(apperr.Invalid, apperr.CodeInvalidJSON, "The JSON body ends too early.")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// The name is the client's: it may be personal data (a map meant for an address
		// sent as an object). Only a name the request's type has somewhere is named back.
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if !fieldNames(v)[name] {
			return apperr.New(apperr.Invalid, apperr.CodeInvalidJSON, "The body has an unknown field.")
		}
		e := apperr.New(apperr.Invalid, apperr.CodeInvalidJSON, "Unknown field %q here.", name)
		e.Fields = []apperr.FieldError{{Field: name, Message: "is not a field of this request at this place"}}
		return e
	default:
		return apperr.New(apperr.Invalid, apperr.CodeInvalidJSON, "The body is not valid JSON for this request.")
	}
}

// knownFields caches fieldNames by type: request types are few and fixed.
var knownFields sync.Map // reflect.Type → map[string]bool

// fieldNames is every JSON member name of v's type, at any depth.
func fieldNames(v any) map[string]bool {
	t := reflect.TypeOf(v)
	if names, ok := knownFields.Load(t); ok {
		return names.(map[string]bool)
	}
	names := map[string]bool{}
	addFieldNames(t, names, map[reflect.Type]bool{})
	knownFields.Store(t, names)
	return names
}

func addFieldNames(t reflect.Type, names map[string]bool, seen map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return
	}
	seen[t] = true
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
			continue
		case f.Anonymous && name == "":
			addFieldNames(f.Type, names, seen)
			continue
		case name == "":
			name = f.Name
		}
		names[name] = true
		addFieldNames(f.Type, names, seen)
	}
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	default:
		return "of another type"
	}
}

// Page limits of list routes.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Limit returns the ?limit= parameter, DefaultLimit when absent.
func (r *Request) Limit() (int, error) {
	s := r.Query("limit")
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, apperr.Validation(apperr.FieldError{Field: "limit", Message: fmt.Sprintf("must be an integer from 1 to %d", MaxLimit)})
	}
	return n, nil
}

// Cursor opens the ?cursor= parameter of a list. scope names the list (e.g. the route and
// its filters) so that a cursor of one list cannot be used on another. "" when absent.
func (r *Request) Cursor(scope string) (string, error) {
	c := r.Query("cursor")
	if c == "" {
		return "", nil
	}
	raw, ok := r.api.cursor.open(r.Tenant, scope, c)
	if !ok {
		return "", apperr.New(apperr.Invalid, apperr.CodeInvalidCursor, "The cursor is not one this list issued.")
	}
	return raw, nil
}

// List answers a page of a list: {"items":[...],"next_cursor":"..."}, sealing the table's
// cursor so that clients can neither read nor forge it.
func (r *Request) List(items any, next, scope string) (Response, error) {
	body := struct {
		Items      any    `json:"items"`
		NextCursor string `json:"next_cursor,omitempty"`
	}{Items: items}
	if next != "" {
		body.NextCursor = r.api.cursor.seal(r.Tenant, scope, next)
	}
	return JSON(200, body)
}
