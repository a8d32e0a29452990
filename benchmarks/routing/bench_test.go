package routing

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// nopWriter is the ResponseWriter of every benchmark: Header returns the
// same map every time, Write discards. It notes whether the router wrote a
// body or a status other than 200 (a no-op handler writes nothing, so that
// means a 404 or 405; gin writes the 200 itself after every handler): a
// compare and a store at most, the same for every router.
type nopWriter struct {
	h       http.Header
	touched bool // a body, or a status other than 200
	code    int  // the last status other than 200
}

func newNopWriter() *nopWriter { return &nopWriter{h: http.Header{}} }

func (w *nopWriter) Header() http.Header { return w.h }

func (w *nopWriter) Write(p []byte) (int, error) {
	w.touched = true
	return len(p), nil
}

func (w *nopWriter) WriteString(s string) (int, error) {
	w.touched = true
	return len(s), nil
}

func (w *nopWriter) WriteHeader(code int) {
	if code != http.StatusOK {
		w.touched, w.code = true, code
	}
}

// tableRequests builds one request per route: its sample path.
func tableRequests(tbl Table) []*http.Request {
	reqs := make([]*http.Request, len(tbl.Routes))
	for i, rt := range tbl.Routes {
		reqs[i] = httptest.NewRequest(rt.Method, rt.SamplePath(), nil)
	}
	return reqs
}

// A single is a single-route benchmark: a router with routes, one request
// to route index route with parameters params.
type single struct {
	name   string
	routes []Route
	method string
	path   string
	route  int
	params map[string]string
}

func (s single) request() *http.Request { return httptest.NewRequest(s.method, s.path, nil) }

// nParams is a one-route single with n parameters: /:a/:b/... requested
// as /testa/testb/...
func nParams(name string, n int) single {
	s := single{name: name, method: "GET", params: map[string]string{}}
	var pat, path strings.Builder
	for i := range n {
		p := string(rune('a' + i))
		fmt.Fprintf(&pat, "/:%s", p)
		fmt.Fprintf(&path, "/test%s", p)
		s.params[p] = "test" + p
	}
	s.routes = []Route{mustRoute("GET " + pat.String())}
	s.path = path.String()
	return s
}

func mustRoute(line string) Route {
	rt, err := ParseRoute(line)
	if err != nil {
		panic(err)
	}
	return rt
}

func routeIndex(routes []Route, method, path string) int {
	for i, rt := range routes {
		if rt.Method == method && rt.Path == path {
			return i
		}
	}
	panic(method + " " + path + ": no such route")
}

// paramSingle is the route of BenchmarkParam and BenchmarkParamFreshRequest.
func paramSingle() single {
	return single{
		name:   "Param",
		routes: []Route{mustRoute("GET /user/:name")},
		method: "GET", path: "/user/gordon",
		params: map[string]string{"name": "gordon"},
	}
}

func githubParamSingle() single {
	gh := MustLoadTable("github").Routes
	return single{
		name:   "GithubParam",
		routes: gh,
		method: "GET", path: "/repos/julienschmidt/httprouter/pulls/42",
		route:  routeIndex(gh, "GET", "/repos/:owner/:repo/pulls/:number"),
		params: map[string]string{"owner": "julienschmidt", "repo": "httprouter", "number": "42"},
	}
}

func singles() []single {
	return []single{paramSingle(), nParams("Param5", 5), nParams("Param20", 20), githubParamSingle()}
}

// benchServe serves every request in reqs once per iteration, reusing the
// requests and the writer, as the original harness does.
func benchServe(b *testing.B, h http.Handler, reqs []*http.Request) {
	w := newNopWriter()
	for _, r := range reqs { // warm up, and check no request misses
		h.ServeHTTP(w, r)
	}
	if w.touched {
		b.Fatalf("the router wrote a response (status %d): a request missed its route", w.code)
	}
	runtime.GC() // the garbage of building the router
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range reqs {
			h.ServeHTTP(w, r)
		}
	}
	if w.touched {
		b.Fatalf("the router wrote a response (status %d)", w.code)
	}
}

func benchTable(b *testing.B, name string) {
	tbl := MustLoadTable(name)
	for _, r := range Routers {
		b.Run("router="+r.Name, func(b *testing.B) {
			h, err := LoadRouter(r, tbl.Routes, nil)
			if err != nil {
				b.Skip(err)
			}
			benchServe(b, h, tableRequests(tbl))
		})
	}
}

func BenchmarkStaticAll(b *testing.B) { benchTable(b, "static") }
func BenchmarkGithubAll(b *testing.B) { benchTable(b, "github") }
func BenchmarkGPlusAll(b *testing.B)  { benchTable(b, "gplus") }
func BenchmarkParseAll(b *testing.B)  { benchTable(b, "parse") }

func benchSingle(b *testing.B, s single) {
	for _, r := range Routers {
		b.Run("router="+r.Name, func(b *testing.B) {
			h, err := LoadRouter(r, s.routes, nil)
			if err != nil {
				b.Skip(err)
			}
			benchServe(b, h, []*http.Request{s.request()})
		})
	}
}

func BenchmarkParam(b *testing.B)       { benchSingle(b, paramSingle()) }
func BenchmarkParam5(b *testing.B)      { benchSingle(b, nParams("Param5", 5)) }
func BenchmarkParam20(b *testing.B)     { benchSingle(b, nParams("Param20", 20)) }
func BenchmarkGithubParam(b *testing.B) { benchSingle(b, githubParamSingle()) }

// Fresh requests. A server hands every request to the router as a new
// *http.Request, and whatever a router caches on a request (ServeMux's
// matches, the map r.SetPathValue allocates for a name the request's
// pattern does not know, a context) is paid again. The benchmarks above
// reuse their requests, so they do not show that; these do: every
// iteration serves a new shallow copy of a template request
// (*r2 = *tmpl: one allocation of an http.Request, sharing the template's
// URL, Header and context, which the routers only read).
//
// router=none is the cost of the copy alone: the copy handed to a no-op
// http.Handler with no router. A router's own cost is its row minus that
// row (ns/op, B/op and allocs/op alike).

// noRouter is router=none of the fresh-request benchmarks.
var noRouter = Router{"none", func([]Route, Recorder) http.Handler { return http.HandlerFunc(httpNoop) }}

func benchFresh(b *testing.B, routes []Route, tmpls []*http.Request) {
	for _, r := range append([]Router{noRouter}, Routers...) {
		b.Run("router="+r.Name, func(b *testing.B) {
			h, err := LoadRouter(r, routes, nil)
			if err != nil {
				b.Skip(err)
			}
			w := newNopWriter()
			for _, tmpl := range tmpls {
				r2 := new(http.Request)
				*r2 = *tmpl
				h.ServeHTTP(w, r2)
			}
			if w.touched {
				b.Fatalf("the router wrote a response (status %d): a request missed its route", w.code)
			}
			runtime.GC()
			b.ReportAllocs()
			for b.Loop() {
				for _, tmpl := range tmpls {
					r2 := new(http.Request)
					*r2 = *tmpl
					h.ServeHTTP(w, r2)
				}
			}
		})
	}
}

// BenchmarkParamFreshRequest is BenchmarkParam with a fresh request each
// iteration.
func BenchmarkParamFreshRequest(b *testing.B) {
	s := paramSingle()
	benchFresh(b, s.routes, []*http.Request{s.request()})
}

// BenchmarkGithubAllFreshRequest is BenchmarkGithubAll with fresh requests:
// 203 request copies per iteration.
func BenchmarkGithubAllFreshRequest(b *testing.B) {
	tbl := MustLoadTable("github")
	benchFresh(b, tbl.Routes, tableRequests(tbl))
}
