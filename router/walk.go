package router

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Route describes one registered route.
type Route struct {
	// Method is the route's method, "" for a pattern that takes every method.
	Method string
	// Pattern is the pattern as registered, with the prefixes of Route.
	Pattern string
	// Middlewares counts the middleware of With, Group and Route around the
	// handler (not the router-wide middleware of Use).
	Middlewares int
}

// Routes lists the routes in the order they were registered.
func (r *Router) Routes() []Route {
	routes := make([]Route, 0, len(r.mux.routes))
	for _, rt := range r.mux.routes {
		routes = append(routes, Route{Method: rt.pat.method, Pattern: rt.pat.str, Middlewares: rt.middlewares})
	}
	return routes
}

// Walk calls fn for every route in the order they were registered, and
// stops at the first error, which it returns.
func (r *Router) Walk(fn func(Route) error) error {
	for _, rt := range r.Routes() {
		if err := fn(rt); err != nil {
			return err
		}
	}
	return nil
}

// Path builds the path that pattern matches with the given wildcard
// values, passed as name, value pairs, each escaped as a path segment
// needs ({name...} keeps its slashes). It is the reverse of routing:
//
//	Path("GET /users/{id}", "id", "42") == "/users/42"
func Path(pattern string, values ...string) (string, error) {
	p, err := parsePattern(pattern)
	if err != nil {
		return "", fmt.Errorf("router: pattern %q: %v", pattern, err)
	}
	if len(values)%2 != 0 {
		return "", errors.New("router: Path takes name, value pairs")
	}
	vals := make(map[string]string, len(values)/2)
	for i := 0; i < len(values); i += 2 {
		vals[values[i]] = values[i+1]
	}
	var b strings.Builder
	for _, s := range p.segs {
		b.WriteByte('/')
		switch s.kind {
		case segStatic:
			b.WriteString(url.PathEscape(s.text))
		case segParam, segMulti:
			if s.text == "" {
				continue // a trailing slash
			}
			v, ok := vals[s.text]
			switch {
			case !ok:
				return "", fmt.Errorf("router: pattern %q: no value for {%s}", pattern, s.text)
			case v == "" && s.kind == segParam:
				return "", fmt.Errorf("router: pattern %q: empty value for {%s}", pattern, s.text)
			}
			delete(vals, s.text)
			if s.kind == segParam {
				b.WriteString(url.PathEscape(v))
				continue
			}
			for i, part := range strings.Split(v, "/") {
				if i > 0 {
					b.WriteByte('/')
				}
				b.WriteString(url.PathEscape(part))
			}
		}
	}
	for name := range vals {
		return "", fmt.Errorf("router: pattern %q has no wildcard {%s}", pattern, name)
	}
	return b.String(), nil
}
