package router_test

import (
	"fmt"
	"net/http/httptest"
	pathpkg "path"
	"slices"
	"strings"
	"testing"

	"github.com/molt-http/molt/router"
)

// refRoute is a pattern as the reference matcher sees it: its segments.
type refRoute struct {
	pattern string
	segs    []string
}

// refMatch is the reference: it tries every route on its own and keeps
// the one whose segment kinds, read from the left, rank best (static <
// {param} < {$} < rest-of-path), which is the router's documented
// precedence. It returns the pattern and the wildcard values, or "".
func refMatch(routes []refRoute, path string) (string, map[string]string) {
	parts := strings.Split(path[1:], "/")
	best, bestRank, bestVals := "", []int(nil), map[string]string(nil)
	for _, rt := range routes {
		rank, vals, ok := refMatchOne(rt.segs, parts)
		if ok && (bestRank == nil || slices.Compare(rank, bestRank) < 0) {
			best, bestRank, bestVals = rt.pattern, rank, vals
		}
	}
	return best, bestVals
}

func refMatchOne(segs, parts []string) ([]int, map[string]string, bool) {
	vals := map[string]string{}
	var rank []int
	for i, s := range segs {
		last := i == len(segs)-1
		switch {
		case s == "" || strings.HasSuffix(s, "...}"): // the rest of the path
			if i >= len(parts) {
				return nil, nil, false
			}
			if s != "" {
				vals[s[1:len(s)-4]] = strings.Join(parts[i:], "/")
			}
			return append(rank, 3), vals, true
		case s == "{$}":
			if i != len(parts)-1 || parts[i] != "" {
				return nil, nil, false
			}
			return append(rank, 2), vals, true
		case i >= len(parts):
			return nil, nil, false
		case strings.HasPrefix(s, "{"):
			if parts[i] == "" {
				return nil, nil, false
			}
			vals[s[1:len(s)-1]] = parts[i]
			rank = append(rank, 1)
		default:
			if parts[i] != s {
				return nil, nil, false
			}
			rank = append(rank, 0)
		}
		if last && len(parts) != len(segs) {
			return nil, nil, false
		}
	}
	return rank, vals, true
}

// refClean is path.Clean keeping a trailing slash.
func refClean(p string) string {
	c := pathpkg.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// FuzzMatch checks the router against refMatch on random route sets and
// paths built from a small alphabet, so that overlaps are frequent. The
// long segments reach the word-at-a-time label compare: labels and paths
// of 8 bytes and more that differ only after the eighth byte.
func FuzzMatch(f *testing.F) {
	f.Add([]byte{1, 2, 3, 9, 4, 5, 6, 7, 8, 0, 1, 2})
	f.Add([]byte("routes and paths"))
	f.Add([]byte{0, 3, 0, 3, 3, 3, 5, 6, 0, 0, 1, 1, 4, 4, 2, 2})
	patternSegs := []string{"a", "b", "c", "{}", "{}", "{...}", "{$}", "", "abcdefghi", "abcdefgh"}
	pathSegs := []string{"a", "b", "c", "x", "a", "b", ".", "..", "", "abcdefghi", "abcdefghj", "abcdefgh"}
	f.Fuzz(func(t *testing.T, data []byte) {
		next := fuzzBytes(data)
		r := router.New(router.RedirectTrailingSlash(false))
		var routes []refRoute
		for n := next()%6 + 1; n > 0; n-- {
			pattern, segs := fuzzPattern(next, patternSegs)
			registered := func() (ok bool) {
				defer func() {
					if v := recover(); v != nil {
						if !strings.Contains(fmt.Sprint(v), "conflicts with") {
							t.Fatalf("registering %q: %v", pattern, v)
						}
					}
				}()
				r.Handle(pattern, reply(names(pattern)...))
				return true
			}()
			if registered {
				routes = append(routes, refRoute{pattern, segs})
			}
		}
		for n := next()%4 + 1; n > 0; n-- {
			var parts []string
			for i, k := 0, next()%4+1; i < k; i++ {
				parts = append(parts, pathSegs[next()%len(pathSegs)])
			}
			if next()%3 == 0 {
				parts = append(parts, "") // a trailing slash
			}
			path := "/" + strings.Join(parts, "/")
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
			if clean := refClean(path); clean != path {
				if w.Code != 308 || w.Header().Get("Location") != clean {
					t.Fatalf("routes %v, GET %s: %d to %q, want 308 to %q", routes, path, w.Code, w.Header().Get("Location"), clean)
				}
				continue
			}
			want, vals := refMatch(routes, path)
			if want == "" {
				if w.Code != 404 {
					t.Fatalf("routes %v, GET %s: %d %q, want 404", routes, path, w.Code, w.Body.String())
				}
				continue
			}
			wantBody := want
			for _, name := range names(want) {
				wantBody += fmt.Sprintf(" %s=%s", name, vals[name])
			}
			if w.Code != 200 || w.Body.String() != wantBody {
				t.Fatalf("routes %v, GET %s: %d %q, want %q", routes, path, w.Code, w.Body.String(), wantBody)
			}
		}
	})
}

// fuzzBytes returns a function that hands out data one byte at a time, as
// an int, and 0 once data is used up: the fuzz targets' source of choices.
func fuzzBytes(data []byte) func() int {
	return func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
}

// fuzzPattern builds a path pattern of one to three segments drawn from
// segs, where "{}" becomes a named wildcard and "{...}" a named rest
// wildcard; a segment that must be last ("", "{$}", a rest wildcard) ends
// the pattern. It returns the pattern and its segments.
func fuzzPattern(next func() int, segs []string) (string, []string) {
	var out []string
	for i, k := 0, next()%3+1; i < k; i++ {
		s := segs[next()%len(segs)]
		switch s {
		case "{}":
			s = fmt.Sprintf("{p%d}", i)
		case "{...}":
			s = fmt.Sprintf("{m%d...}", i)
		}
		out = append(out, s)
		if s == "" || s == "{$}" || strings.HasSuffix(s, "...}") {
			break
		}
	}
	return "/" + strings.Join(out, "/"), out
}
