package gdprd

import (
	"fmt"
	"net/url"
	"strings"
)

// A route is one HttpApi route of template.yaml, compiled for matching request paths as
// API Gateway matches them.
type route struct {
	key      string // the route key, e.g. "GET /v1/consents/{subject_id}"
	method   string // upper case, or ANY
	segments []segment
	function string // logical id of the function it invokes
}

type segment struct {
	literal string
	param   string
	greedy  bool // {name+}: the rest of the path
}

func compileRoute(method, path string) (route, error) {
	if !strings.HasPrefix(path, "/") {
		return route{}, fmt.Errorf("route path %q does not start with /", path)
	}
	r := route{key: method + " " + path, method: method}
	parts := strings.Split(path[1:], "/")
	for i, p := range parts {
		name, isParam := strings.CutPrefix(p, "{")
		if !isParam {
			if strings.ContainsAny(p, "{}") {
				return route{}, fmt.Errorf("route path %q: braces inside a segment", path)
			}
			r.segments = append(r.segments, segment{literal: p})
			continue
		}
		name, ok := strings.CutSuffix(name, "}")
		if !ok || name == "" {
			return route{}, fmt.Errorf("route path %q: malformed parameter %q", path, p)
		}
		s := segment{param: name}
		if n, greedy := strings.CutSuffix(name, "+"); greedy {
			if i != len(parts)-1 {
				return route{}, fmt.Errorf("route path %q: greedy parameter before the end", path)
			}
			s.param, s.greedy = n, true
		}
		r.segments = append(r.segments, s)
	}
	return r, nil
}

// match returns the path parameters when the escaped request path matches. Parameter values
// are decoded, literal segments compared as sent.
func (r *route) match(escapedPath string) (map[string]string, bool) {
	if !strings.HasPrefix(escapedPath, "/") {
		return nil, false
	}
	parts := strings.Split(escapedPath[1:], "/")
	var params map[string]string
	set := func(name, raw string) bool {
		v, err := url.PathUnescape(raw)
		if err != nil || v == "" {
			return false
		}
		if params == nil {
			params = map[string]string{}
		}
		params[name] = v
		return true
	}
	for i, s := range r.segments {
		if s.greedy {
			if i >= len(parts) {
				return nil, false
			}
			return params, set(s.param, strings.Join(parts[i:], "/"))
		}
		if i >= len(parts) {
			return nil, false
		}
		if s.param == "" {
			if parts[i] != s.literal {
				return nil, false
			}
		} else if !set(s.param, parts[i]) {
			return nil, false
		}
	}
	return params, len(parts) == len(r.segments)
}

// moreSpecific tells whether r wins over o when both match a request: segment by segment, a
// literal beats a parameter, which beats a greedy parameter; then a method beats ANY.
func (r *route) moreSpecific(o *route) bool {
	for i := 0; i < len(r.segments) && i < len(o.segments); i++ {
		a, b := rank(r.segments[i]), rank(o.segments[i])
		if a != b {
			return a > b
		}
	}
	if len(r.segments) != len(o.segments) {
		return len(r.segments) > len(o.segments)
	}
	return r.method != "ANY" && o.method == "ANY"
}

func rank(s segment) int {
	switch {
	case s.greedy:
		return 0
	case s.param != "":
		return 1
	default:
		return 2
	}
}

// router picks the route of a request.
type router struct{ routes []route }

func (rt *router) add(r route) error {
	for _, o := range rt.routes {
		if o.key == r.key {
			return fmt.Errorf("route %s is defined twice", r.key)
		}
	}
	rt.routes = append(rt.routes, r)
	return nil
}

// find returns the most specific route for method and path. A path that matches only routes
// of other methods finds nothing, as in API Gateway (which then uses the $default route).
func (rt *router) find(method, escapedPath string) (*route, map[string]string, bool) {
	var best *route
	var bestParams map[string]string
	for i := range rt.routes {
		r := &rt.routes[i]
		if r.method != method && r.method != "ANY" {
			continue
		}
		params, ok := r.match(escapedPath)
		if !ok {
			continue
		}
		if best == nil || r.moreSpecific(best) {
			best, bestParams = r, params
		}
	}
	return best, bestParams, best != nil
}
