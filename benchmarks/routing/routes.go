package routing

import (
	"bufio"
	"embed"
	"fmt"
	"strings"
)

// The route tables, one `METHOD PATH` per line; '#' starts a comment line.
//
//go:embed testdata/*.txt
var tableFiles embed.FS

// TableNames are the tables in testdata/, in the order the benchmarks use.
var TableNames = []string{"static", "github", "gplus", "parse"}

// A Route is one line of a table.
type Route struct {
	Method string
	// Path in the tables' syntax: a segment ":name" is a parameter.
	Path string
	// Params are the parameter names, in path order.
	Params []string
}

// A Table is a named list of routes.
type Table struct {
	Name   string
	Routes []Route
}

// LoadTable reads testdata/<name>.txt.
func LoadTable(name string) (Table, error) {
	data, err := tableFiles.ReadFile("testdata/" + name + ".txt")
	if err != nil {
		return Table{}, err
	}
	t := Table{Name: name}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rt, err := ParseRoute(line)
		if err != nil {
			return Table{}, fmt.Errorf("%s.txt:%d: %v", name, n, err)
		}
		t.Routes = append(t.Routes, rt)
	}
	if err := sc.Err(); err != nil {
		return Table{}, err
	}
	return t, nil
}

// MustLoadTable is LoadTable for the embedded tables, which are known good.
func MustLoadTable(name string) Table {
	t, err := LoadTable(name)
	if err != nil {
		panic(err)
	}
	return t
}

// ParseRoute parses "METHOD /path/:param".
func ParseRoute(line string) (Route, error) {
	method, path, ok := strings.Cut(line, " ")
	path = strings.TrimSpace(path)
	if !ok || method == "" || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t") {
		return Route{}, fmt.Errorf("want `METHOD /path`, got %q", line)
	}
	rt := Route{Method: method, Path: path}
	for seg := range strings.SplitSeq(path[1:], "/") {
		if name, ok := strings.CutPrefix(seg, ":"); ok {
			if name == "" {
				return Route{}, fmt.Errorf("%q: parameter without a name", line)
			}
			rt.Params = append(rt.Params, name)
		} else if strings.ContainsAny(seg, ":*{}") {
			return Route{}, fmt.Errorf("%q: segment %q: only whole-segment :name parameters are supported", line, seg)
		}
	}
	return rt, nil
}

// mapSegments rewrites each ":name" segment of the route's path with f.
func (rt Route) mapSegments(f func(name string) string) string {
	if len(rt.Params) == 0 {
		return rt.Path
	}
	segs := strings.Split(rt.Path, "/")
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			segs[i] = f(name)
		}
	}
	return strings.Join(segs, "/")
}

// BracePath is the path in chi's and ServeMux's syntax: ":name" becomes
// "{name}". A path ending in "/" (only "/" in these tables) gets "{$}" in
// ServeMux syntax, see MuxPattern.
func (rt Route) BracePath() string {
	return rt.mapSegments(func(name string) string { return "{" + name + "}" })
}

// MuxPattern is the route as a net/http.ServeMux pattern, "METHOD /a/{b}".
// A trailing slash in ServeMux means "this subtree"; the tables mean the
// exact path, so "/" becomes "/{$}".
func (rt Route) MuxPattern() string {
	p := rt.BracePath()
	if strings.HasSuffix(p, "/") {
		p += "{$}"
	}
	return rt.Method + " " + p
}

// SampleValue is the value a request built by SamplePath carries for the
// parameter name: the name and "-1", so that every parameter of a route
// has its own value, and a router answering with the name instead of the
// value is caught.
func SampleValue(name string) string { return name + "-1" }

// SamplePath is a request path for the route: each parameter replaced by
// SampleValue(name).
func (rt Route) SamplePath() string {
	return rt.mapSegments(SampleValue)
}
