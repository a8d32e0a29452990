package routing

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// The tables hold what the original harness holds.
func TestTables(t *testing.T) {
	want := map[string]int{"static": 157, "github": 203, "gplus": 13, "parse": 26}
	for _, name := range TableNames {
		tbl, err := LoadTable(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(tbl.Routes) != want[name] {
			t.Errorf("%s: %d routes, want %d", name, len(tbl.Routes), want[name])
		}
		seen := map[string]bool{}
		for _, rt := range tbl.Routes {
			k := rt.Method + " " + rt.Path
			if seen[k] {
				t.Errorf("%s: %s twice", name, k)
			}
			seen[k] = true
		}
		// A sample request must not be the literal path of another route,
		// or which route it should reach would be ambiguous.
		for _, rt := range tbl.Routes {
			if len(rt.Params) > 0 && seen[rt.Method+" "+rt.SamplePath()] {
				t.Errorf("%s: sample request %s %s of %s is another route", name, rt.Method, rt.SamplePath(), rt.Path)
			}
		}
	}
}

func TestRouteSyntax(t *testing.T) {
	rt, err := ParseRoute("GET /repos/:owner/:repo/pulls/:number")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, want string }{
		{strings.Join(rt.Params, ","), "owner,repo,number"},
		{rt.BracePath(), "/repos/{owner}/{repo}/pulls/{number}"},
		{rt.MuxPattern(), "GET /repos/{owner}/{repo}/pulls/{number}"},
		{rt.SamplePath(), "/repos/owner-1/repo-1/pulls/number-1"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	root, _ := ParseRoute("GET /")
	if p := root.MuxPattern(); p != "GET /{$}" {
		t.Errorf(`"GET /" as a ServeMux pattern: %q, want "GET /{$}"`, p)
	}
	for _, bad := range []string{"GET", "GET x", "/x", "GET /x/:", "GET /x/a:b", "GET /x/*y"} {
		if _, err := ParseRoute(bad); err == nil {
			t.Errorf("ParseRoute(%q) succeeded", bad)
		}
	}
}

// knownMisses are router/table pairs that cannot serve a table, with the
// reason; the test skips them (and fails if one starts passing, so that the
// list stays true). None so far.
var knownMisses = map[string]string{}

// A call is what a recording handler saw.
type call struct {
	route  int
	params map[string]string
}

// recording returns a Recorder that appends to *calls the route and the
// values of that route's parameters (plus one name no route has, which
// must read as "").
func recording(routes []Route, calls *[]call) Recorder {
	return func(i int, param func(string) string) {
		c := call{route: i, params: map[string]string{}}
		for _, name := range routes[i].Params {
			c.params[name] = param(name)
		}
		c.params["noSuchParam"] = param("noSuchParam")
		*calls = append(*calls, c)
	}
}

// checkServe serves req with h and checks that it ran route want, once,
// with params wantParams, and that the router wrote nothing itself.
func checkServe(t *testing.T, h http.Handler, calls *[]call, req *http.Request, want int, wantParams map[string]string) {
	t.Helper()
	*calls = (*calls)[:0]
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	what := req.Method + " " + req.URL.Path
	if len(*calls) != 1 {
		t.Errorf("%s: %d handlers ran, want 1 (status %d, body %q)", what, len(*calls), w.Code, w.Body.String())
		return
	}
	c := (*calls)[0]
	if c.route != want {
		t.Errorf("%s: ran route %d, want route %d", what, c.route, want)
		return
	}
	wp := maps.Clone(wantParams)
	wp["noSuchParam"] = ""
	if !maps.Equal(c.params, wp) {
		t.Errorf("%s: params %v, want %v", what, c.params, wp)
	}
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("%s: response %d %q, want the untouched 200", what, w.Code, w.Body.String())
	}
}

func sampleParams(rt Route) map[string]string {
	m := map[string]string{}
	for _, name := range rt.Params {
		m[name] = SampleValue(name)
	}
	return m
}

// TestRoutersMatchEveryRoute: for every router and table, every route's
// sample request reaches that route's handler, with the right parameters.
func TestRoutersMatchEveryRoute(t *testing.T) {
	for _, r := range Routers {
		for _, name := range TableNames {
			t.Run(r.Name+"/"+name, func(t *testing.T) {
				tbl := MustLoadTable(name)
				var calls []call
				h, err := LoadRouter(r, tbl.Routes, recording(tbl.Routes, &calls))
				if err == nil {
					for i, rt := range tbl.Routes {
						checkServe(t, h, &calls, httptest.NewRequest(rt.Method, rt.SamplePath(), nil), i, sampleParams(rt))
					}
				}
				reason, known := knownMisses[r.Name+"/"+name]
				switch {
				case known && (err != nil || t.Failed()):
					t.Skipf("known: %s (%v)", reason, err)
				case known:
					t.Errorf("passes now; remove it from knownMisses (%s)", reason)
				case err != nil:
					t.Fatal(err)
				}
			})
		}
	}
}

// The benchmarks' no-op handlers really are reached: the router writes
// nothing to the response (a 404 or 405 would).
func TestBenchmarkRequestsReachTheirRoutes(t *testing.T) {
	for _, r := range Routers {
		for _, name := range TableNames {
			tbl := MustLoadTable(name)
			h, err := LoadRouter(r, tbl.Routes, nil)
			if err != nil {
				if _, known := knownMisses[r.Name+"/"+name]; !known {
					t.Error(err)
				}
				continue
			}
			w := newNopWriter()
			for _, req := range tableRequests(tbl) {
				h.ServeHTTP(w, req)
				if w.touched {
					t.Errorf("%s/%s: %s %s: the router wrote a response (status %d)", r.Name, name, req.Method, req.URL.Path, w.code)
					w.touched, w.code = false, 0
				}
			}
		}
		for _, s := range singles() {
			h := r.Load(s.routes, nil)
			w := newNopWriter()
			h.ServeHTTP(w, s.request())
			if w.touched {
				t.Errorf("%s/%s: the router wrote a response (status %d)", r.Name, s.name, w.code)
			}
		}
	}
}

// The single-route benchmarks' requests reach the right route with the
// right parameters.
func TestSingleRoutes(t *testing.T) {
	for _, r := range Routers {
		for _, s := range singles() {
			t.Run(r.Name+"/"+s.name, func(t *testing.T) {
				var calls []call
				h := r.Load(s.routes, recording(s.routes, &calls))
				checkServe(t, h, &calls, s.request(), s.route, s.params)
			})
		}
	}
}

func TestSinglesAreWellFormed(t *testing.T) {
	for _, s := range singles() {
		rt := s.routes[s.route]
		if got := slices.Sorted(maps.Keys(s.params)); !slices.Equal(got, slices.Sorted(slices.Values(rt.Params))) {
			t.Errorf("%s: params %v for route %s", s.name, got, rt.Path)
		}
	}
}
