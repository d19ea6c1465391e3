package gdprd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// A filter is one Lambda event filter pattern: the subset of EventBridge's pattern language
// that event source mappings accept. A record is delivered when any of the function's
// filters matches its JSON form, and dropped (counted as processed) otherwise, as Lambda does.
//
// Supported: nested objects; arrays of exact values (strings, numbers compared as numbers,
// booleans, null); {"prefix"}, {"suffix"}, {"equals-ignore-case"}, {"wildcard"} (with *),
// {"exists": bool}, {"anything-but": value | [values] | {"prefix"} | {"suffix"}} and
// {"numeric": [op, n, ...]}. Anything else is refused when the filter is compiled, so a
// pattern that AWS would read differently fails at start, not silently.
type filter map[string]any

func compileFilter(pattern string) (filter, error) {
	v, err := decodeJSON([]byte(pattern))
	if err != nil {
		return nil, fmt.Errorf("filter pattern: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("filter pattern is not a JSON object")
	}
	if err := checkFilter(obj); err != nil {
		return nil, fmt.Errorf("filter pattern: %w", err)
	}
	return filter(obj), nil
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func checkFilter(obj map[string]any) error {
	for key, want := range obj {
		switch w := want.(type) {
		case map[string]any:
			if err := checkFilter(w); err != nil {
				return fmt.Errorf("%s.%w", key, err)
			}
		case []any:
			if len(w) == 0 {
				return fmt.Errorf("%s: empty list of values", key)
			}
			for _, m := range w {
				if err := checkMatcher(m); err != nil {
					return fmt.Errorf("%s: %w", key, err)
				}
			}
		default:
			return fmt.Errorf("%s: a field's pattern must be an object or a list", key)
		}
	}
	return nil
}

func checkMatcher(m any) error {
	op, ok := m.(map[string]any)
	if !ok {
		return nil // an exact value
	}
	if len(op) != 1 {
		return errors.New("a matcher object holds one operator")
	}
	for name, arg := range op {
		switch name {
		case "prefix", "suffix", "equals-ignore-case", "wildcard":
			if _, ok := arg.(string); !ok {
				return fmt.Errorf("%s takes a string", name)
			}
		case "exists":
			if _, ok := arg.(bool); !ok {
				return errors.New("exists takes true or false")
			}
		case "anything-but":
			switch a := arg.(type) {
			case map[string]any:
				if len(a) != 1 {
					return errors.New("anything-but takes one operator")
				}
				for inner, s := range a {
					if _, ok := s.(string); !ok || (inner != "prefix" && inner != "suffix") {
						return errors.New("anything-but takes a value, a list, prefix or suffix")
					}
				}
			case []any:
				for _, e := range a {
					if _, ok := e.(map[string]any); ok {
						return errors.New("anything-but lists hold values only")
					}
				}
			}
		case "numeric":
			if _, err := numericTerms(arg); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unsupported operator %q", name)
		}
	}
	return nil
}

// match tells whether the event (decoded with UseNumber) matches the filter.
func (f filter) match(event map[string]any) bool {
	for key, want := range f {
		val, present := event[key]
		switch w := want.(type) {
		case map[string]any:
			sub, _ := val.(map[string]any) // absent or not an object: nothing inside matches
			if !filter(w).match(sub) {
				return false
			}
		case []any:
			if !matchField(w, val, present) {
				return false
			}
		}
	}
	return true
}

// matchField: a field matches when any matcher matches it, or, when the field is an array,
// any of its elements.
func matchField(matchers []any, val any, present bool) bool {
	vals := []any{val}
	if arr, ok := val.([]any); ok {
		vals = arr
	}
	for _, m := range matchers {
		if op, ok := m.(map[string]any); ok {
			if e, ok := op["exists"]; ok {
				if e.(bool) == present {
					return true
				}
				continue
			}
		}
		if !present {
			continue
		}
		for _, v := range vals {
			if matchValue(m, v) {
				return true
			}
		}
	}
	return false
}

func matchValue(m, v any) bool {
	op, ok := m.(map[string]any)
	if !ok {
		return equal(m, v)
	}
	for name, arg := range op {
		s, isString := v.(string)
		switch name {
		case "prefix":
			return isString && strings.HasPrefix(s, arg.(string))
		case "suffix":
			return isString && strings.HasSuffix(s, arg.(string))
		case "equals-ignore-case":
			return isString && strings.EqualFold(s, arg.(string))
		case "wildcard":
			return isString && wildcard(arg.(string), s)
		case "anything-but":
			return !anyOf(arg, v)
		case "numeric":
			return numeric(arg, v)
		}
	}
	return false
}

func anyOf(arg, v any) bool {
	switch a := arg.(type) {
	case []any:
		for _, e := range a {
			if equal(e, v) {
				return true
			}
		}
		return false
	case map[string]any:
		return matchValue(a, v)
	default:
		return equal(a, v)
	}
}

func equal(want, v any) bool {
	switch w := want.(type) {
	case json.Number:
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		a, errA := w.Float64()
		b, errB := n.Float64()
		return errA == nil && errB == nil && a == b
	case nil:
		return v == nil
	case string, bool:
		return want == v
	}
	return false
}

type numericTerm struct {
	op string
	n  float64
}

func numericTerms(arg any) ([]numericTerm, error) {
	list, ok := arg.([]any)
	if !ok || len(list) == 0 || len(list)%2 != 0 {
		return nil, errors.New("numeric takes pairs of operator and number")
	}
	terms := make([]numericTerm, 0, len(list)/2)
	for i := 0; i < len(list); i += 2 {
		op, _ := list[i].(string)
		switch op {
		case "=", "<", "<=", ">", ">=":
		default:
			return nil, fmt.Errorf("numeric operator %q", list[i])
		}
		num, ok := list[i+1].(json.Number)
		if !ok {
			return nil, errors.New("numeric takes numbers")
		}
		n, err := num.Float64()
		if err != nil {
			return nil, err
		}
		terms = append(terms, numericTerm{op: op, n: n})
	}
	return terms, nil
}

func numeric(arg, v any) bool {
	var x float64
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			return false
		}
		x = f
	default:
		return false
	}
	terms, _ := numericTerms(arg) // checked when compiled
	for _, t := range terms {
		ok := false
		switch t.op {
		case "=":
			ok = x == t.n
		case "<":
			ok = x < t.n
		case "<=":
			ok = x <= t.n
		case ">":
			ok = x > t.n
		case ">=":
			ok = x >= t.n
		}
		if !ok {
			return false
		}
	}
	return true
}

// wildcard matches s against a pattern where * stands for any run of characters.
func wildcard(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}
