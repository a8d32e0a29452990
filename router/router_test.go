package router_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/molt-http/molt/router"
)

// reply answers with the matched pattern and the named path values.
func reply(names ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		b.WriteString(r.Pattern)
		for _, n := range names {
			fmt.Fprintf(&b, " %s=%s", n, r.PathValue(n))
		}
		io.WriteString(w, b.String())
	}
}

// names returns the wildcard names of a pattern, for reply.
func names(pattern string) []string {
	var ns []string
	for _, part := range strings.Split(pattern, "/") {
		if strings.HasPrefix(part, "{") && part != "{$}" {
			ns = append(ns, strings.TrimSuffix(strings.Trim(part, "{}"), "..."))
		}
	}
	return ns
}

func newRouter(patterns ...string) *router.Router {
	r := router.New()
	for _, p := range patterns {
		r.Handle(p, reply(names(p)...))
	}
	return r
}

func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w
}

func TestMatchAndPrecedence(t *testing.T) {
	r := newRouter(
		"/",
		"/{$}",
		"GET /users",
		"GET /users/{id}",
		"GET /users/new",
		"POST /users/{id}",
		"GET /users/{id}/posts/{post}",
		"/files/{path...}",
		"/static/",
		"/static/{$}",
		"GET /a/{x}",
		"GET /{y}/b",
		"GET /{y}/c/d",
		"GET /a/{x}/d",
		"GET /exact/{$}",
		"GET /es%20caped",
	)
	tests := []struct {
		method, target, want string
	}{
		{"GET", "/", "/{$}"},
		{"GET", "/nothing/here", "/"},
		{"GET", "/users", "GET /users"},
		{"GET", "/users/42", "GET /users/{id} id=42"},
		{"GET", "/users/new", "GET /users/new"},
		{"POST", "/users/new", "POST /users/{id} id=new"}, // static GET only: POST backtracks to the parameter
		{"GET", "/users/42/posts/7", "GET /users/{id}/posts/{post} id=42 post=7"},
		{"GET", "/files/", "/files/{path...} path="},
		{"GET", "/files/a/b/c.txt", "/files/{path...} path=a/b/c.txt"},
		{"DELETE", "/files/x", "/files/{path...} path=x"},
		{"GET", "/static/", "/static/{$}"},
		{"GET", "/static/css/x.css", "/static/"},
		{"GET", "/a/b", "GET /a/{x} x=b"},     // static first segment beats the parameter
		{"GET", "/z/b", "GET /{y}/b y=z"},     // no static "z": the parameter
		{"GET", "/a/c/d", "GET /a/{x}/d x=c"}, // ...
		{"GET", "/q/c/d", "GET /{y}/c/d y=q"},
		{"GET", "/exact/", "GET /exact/{$}"},
		{"GET", "/es%20caped", "GET /es%20caped"},
		{"HEAD", "/users/42", "GET /users/{id} id=42"}, // GET answers HEAD
	}
	for _, tt := range tests {
		w := serve(r, tt.method, tt.target)
		if w.Code != 200 || w.Body.String() != tt.want {
			t.Errorf("%s %s: %d %q, want %q", tt.method, tt.target, w.Code, w.Body.String(), tt.want)
		}
	}
}

// TestBacktracking checks the case that net/http.ServeMux rejects as a
// conflict: the more specific branch fails further down, and the router
// goes back to the parameter.
func TestBacktracking(t *testing.T) {
	r := newRouter("GET /a/{x}", "GET /{y}/b", "GET /a/b/c", "GET /{p}/{q}/d")
	for target, want := range map[string]string{
		"/a/b":   "GET /a/{x} x=b",
		"/c/b":   "GET /{y}/b y=c",
		"/a/b/c": "GET /a/b/c",
		"/a/b/d": "GET /{p}/{q}/d p=a q=b", // static a/b leads to c only: back to {p}/{q}
	} {
		if w := serve(r, "GET", target); w.Body.String() != want {
			t.Errorf("GET %s: %q, want %q", target, w.Body.String(), want)
		}
	}
}

// A branch that fails further down leaves no path value behind.
func TestBacktrackingSetsOnlyTheWinnersValues(t *testing.T) {
	r := router.New()
	r.HandleFunc("GET /a/{x}/c", reply("x"))
	r.HandleFunc("GET /{p}/{q}/d", reply("p", "q", "x"))
	if got, want := serve(r, "GET", "/a/b/d").Body.String(), "GET /{p}/{q}/d p=a q=b x="; got != want {
		t.Errorf("GET /a/b/d: %q, want %q", got, want)
	}
}

// There is no limit on the number of wildcards, as in ServeMux.
func TestManyWildcards(t *testing.T) {
	var pat, path, want strings.Builder
	var ns []string
	pat.WriteString("GET ")
	for i := range 50 {
		fmt.Fprintf(&pat, "/{w%d}", i)
		fmt.Fprintf(&path, "/v%d", i)
		ns = append(ns, fmt.Sprintf("w%d", i))
	}
	want.WriteString(pat.String())
	for i, n := range ns {
		fmt.Fprintf(&want, " %s=v%d", n, i)
	}
	r := router.New()
	r.HandleFunc(pat.String(), reply(ns...))
	if got := serve(r, "GET", path.String()).Body.String(); got != want.String() {
		t.Errorf("GET %s: %q, want %q", path.String(), got, want.String())
	}
}

func TestRegistrationPanics(t *testing.T) {
	tests := []struct {
		patterns []string
		want     string // in the panic message
	}{
		{[]string{"GET /a/{x}", "GET /a/{y}"}, `"GET /a/{y}" conflicts with "GET /a/{x}"`},
		{[]string{"/a/", "/a/{rest...}"}, `"/a/{rest...}" conflicts with "/a/"`},
		{[]string{"a"}, "path must begin with '/'"},
		{[]string{"GET"}, "path must begin with '/'"},
		{[]string{"G(T /a"}, "invalid method"},
		{[]string{"/a/{x...}/b"}, "must be the last segment"},
		{[]string{"/a/{$}/b"}, "{$} must be the last segment"},
		{[]string{"/a/b{x}"}, "a wildcard must be a whole segment"},
		{[]string{"/a/{1x}"}, "not a Go identifier"},
		{[]string{"/a/{x}/{x}"}, "appears twice"},
		{[]string{"/a//b"}, "empty segment"},
		{[]string{"/a/%zz"}, "invalid URL escape"},
		{[]string{"{host}/a"}, "may not contain wildcards"},
	}
	for _, tt := range tests {
		got := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			newRouter(tt.patterns...)
			return ""
		}()
		if !strings.Contains(got, tt.want) {
			t.Errorf("registering %q: panic %q, want one containing %q", tt.patterns, got, tt.want)
		}
	}
	// Same shape, other methods: no conflict.
	newRouter("GET /a/{x}", "POST /a/{y}", "/a/{z}")
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	r := newRouter("GET /items/{id}", "PUT /items/{id}", "/any", "GET /list/")
	if w := serve(r, "GET", "/missing"); w.Code != 404 {
		t.Errorf("GET /missing: %d, want 404", w.Code)
	}
	w := serve(r, "DELETE", "/items/1")
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD, OPTIONS, PUT" {
		t.Errorf("DELETE /items/1: %d Allow %q, want 405 with GET, HEAD, OPTIONS, PUT", w.Code, w.Header().Get("Allow"))
	}
	if w := serve(r, "get", "/items/1"); w.Code != 405 {
		t.Errorf("lower-case get: %d, want 405 (methods are case-sensitive)", w.Code)
	}
	if w := serve(r, "PATCH", "/any"); w.Code != 200 {
		t.Errorf("a pattern without a method takes every method: %d", w.Code)
	}
	w = serve(r, "OPTIONS", "/items/1")
	if w.Code != 204 || w.Header().Get("Allow") != "GET, HEAD, OPTIONS, PUT" {
		t.Errorf("automatic OPTIONS: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
	r.Options("/items/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
	if w := serve(r, "OPTIONS", "/items/1"); w.Code != 299 {
		t.Errorf("registered OPTIONS route: %d, want it to replace the automatic answer", w.Code)
	}

	r.NotFound(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(494) }))
	r.MethodNotAllowed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(495)
		io.WriteString(w, w.Header().Get("Allow"))
	}))
	if w := serve(r, "GET", "/missing"); w.Code != 494 {
		t.Errorf("custom NotFound: %d", w.Code)
	}
	if w := serve(r, "POST", "/items/1"); w.Code != 495 || w.Body.String() != "GET, HEAD, OPTIONS, PUT" {
		t.Errorf("custom MethodNotAllowed: %d %q", w.Code, w.Body.String())
	}
}

// extendedConnect is an RFC 8441 CONNECT for path, as an engine hands it
// to handlers.
func extendedConnect(path string) *http.Request {
	req := httptest.NewRequest("CONNECT", path, nil)
	req.Header[":protocol"] = []string{"websocket"}
	return req
}

func TestExtendedConnectRoutesLikeGet(t *testing.T) {
	r := router.New()
	var method string
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next.ServeHTTP(w, r); method = r.Method })
	})
	r.Get("/ws", func(w http.ResponseWriter, req *http.Request) {
		router.AcceptExtendedConnect(req)
		io.WriteString(w, "tunnel "+req.Pattern)
	})
	r.Connect("/tunnel", reply())
	w := httptest.NewRecorder()
	r.ServeHTTP(w, extendedConnect("/ws"))
	if w.Code != 200 || w.Body.String() != "tunnel GET /ws" || method != "CONNECT" {
		t.Errorf("extended CONNECT: %d %q, method %q", w.Code, w.Body.String(), method)
	}
	if w := serve(r, "CONNECT", "/ws"); w.Code != 405 {
		t.Errorf("plain CONNECT to a GET route: %d, want 405", w.Code)
	}
	r.Connect("/ws", reply())
	w = httptest.NewRecorder()
	r.ServeHTTP(w, extendedConnect("/ws"))
	if w.Body.String() != "CONNECT /ws" {
		t.Errorf("extended CONNECT with a CONNECT route: %q, want that route", w.Body.String())
	}
}

// A GET handler that knows nothing of tunnels must not open one: its 2xx
// to an extended CONNECT becomes 501, whichever way it would have gone
// out; its other answers go as written, and routes for CONNECT or for
// every method see the request untouched.
func TestExtendedConnectToPlainGetRoute(t *testing.T) {
	var writeErr error
	r := router.New()
	r.Get("/page", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Set-Cookie", "a=b")
		_, writeErr = io.WriteString(w, "<p>a page</p>")
	})
	r.Get("/created", func(w http.ResponseWriter, req *http.Request) { w.WriteHeader(http.StatusCreated) })
	r.Get("/flushed", func(w http.ResponseWriter, req *http.Request) { http.NewResponseController(w).Flush() })
	r.Get("/silent", func(w http.ResponseWriter, req *http.Request) {})
	r.Get("/private", func(w http.ResponseWriter, req *http.Request) { http.Error(w, "who are you", http.StatusUnauthorized) })
	r.Get("/early", func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(http.StatusEarlyHints)
		router.AcceptExtendedConnect(req)
		io.WriteString(w, "tunnel")
	})
	r.Handle("/any", reply())
	for _, path := range []string{"/page", "/created", "/flushed", "/silent"} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, extendedConnect(path))
		if w.Code != http.StatusNotImplemented || !strings.Contains(w.Body.String(), path+" does not accept an extended CONNECT") {
			t.Errorf("%s: %d %q, want 501", path, w.Code, w.Body.String())
		}
		if h := w.Header(); h.Get("Set-Cookie") != "" || h.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s: the refusal kept the handler's header: %v", path, h)
		}
	}
	if writeErr == nil {
		t.Error("a refused handler's Write succeeded")
	}
	if w := httptest.NewRecorder(); true {
		r.ServeHTTP(w, extendedConnect("/private"))
		if w.Code != http.StatusUnauthorized {
			t.Errorf("a 401 to an extended CONNECT: %d, want it kept", w.Code)
		}
	}
	if w := httptest.NewRecorder(); true {
		r.ServeHTTP(w, extendedConnect("/early"))
		if w.Body.String() != "tunnel" {
			t.Errorf("accepted after a 103: %d %q, want the tunnel", w.Code, w.Body.String())
		}
	}
	if w := httptest.NewRecorder(); true {
		r.ServeHTTP(w, extendedConnect("/any"))
		if w.Code != http.StatusOK || w.Body.String() != "/any" {
			t.Errorf("an every-method route: %d %q, want it served as written", w.Code, w.Body.String())
		}
	}
	if w := serve(r, "GET", "/page"); w.Code != 200 || w.Body.String() != "<p>a page</p>" {
		t.Errorf("GET /page: %d %q", w.Code, w.Body.String())
	}
	// AcceptExtendedConnect on a request the router did not guard is harmless.
	router.AcceptExtendedConnect(httptest.NewRequest("GET", "/", nil))
}

func TestPathCleaningAndTrailingSlash(t *testing.T) {
	for _, on := range []bool{true, false} {
		r := router.New(router.RedirectTrailingSlash(on))
		for _, p := range []string{"GET /dir/", "GET /file", "POST /form"} {
			r.Handle(p, reply())
		}
		tests := []struct {
			method, target string
			code           int
			location       string
		}{
			{"GET", "/a//../file?q=1", 308, "/file?q=1"},
			{"GET", "/./dir/.", 308, "/dir"},
			{"GET", "/dir/x/..", 308, "/dir"},
			{"POST", "//form", 308, "/form"},
			{"GET", "/dir", 308, "/dir/"},
			{"GET", "/file/", 308, "/file"},
			{"POST", "/form/", 308, "/form"},
			{"GET", "/form/", 404, ""}, // only POST /form exists
		}
		for _, tt := range tests {
			if !on && tt.location != "" && !strings.Contains(tt.target, "/.") && !strings.Contains(tt.target, "//") {
				tt.code, tt.location = 404, ""
			}
			w := serve(r, tt.method, tt.target)
			if w.Code != tt.code || w.Header().Get("Location") != tt.location {
				t.Errorf("slash redirect %v: %s %s: %d to %q, want %d to %q", on, tt.method, tt.target, w.Code, w.Header().Get("Location"), tt.code, tt.location)
			}
		}
	}
}

func TestEscapedPaths(t *testing.T) {
	r := newRouter("GET /files/{name}", "GET /raw/{rest...}", "GET /a b/{x}")
	for target, want := range map[string]string{
		"/files/a%2Fb":     "GET /files/{name} name=a/b", // %2F stays inside the segment
		"/files/caf%C3%A9": "GET /files/{name} name=café",
		"/raw/x%2Fy/z":     "GET /raw/{rest...} rest=x/y/z",
		"/a%20b/1":         "GET /a b/{x} x=1",
	} {
		if w := serve(r, "GET", target); w.Code != 200 || w.Body.String() != want {
			t.Errorf("GET %s: %d %q, want %q", target, w.Code, w.Body.String(), want)
		}
	}
	if w := serve(r, "GET", "/files/a/b"); w.Code != 404 {
		t.Errorf("an unescaped slash splits segments: %d, want 404", w.Code)
	}
	r = newRouter("GET /a%2Fb", "GET /a/b")
	for target, want := range map[string]string{"/a%2Fb": "GET /a%2Fb", "/a/b": "GET /a/b"} {
		if w := serve(r, "GET", target); w.Body.String() != want {
			t.Errorf("GET %s: %q, want %q (an escaped slash in a pattern is not a separator)", target, w.Body.String(), want)
		}
	}
	// The escaped slash sits in a label that a later pattern split off:
	// the static path below it still needs the escaped form.
	r = newRouter("GET /a%2Fb/c", "GET /a%2Fb/d")
	if w := serve(r, "GET", "/a/b/d"); w.Code != 404 {
		t.Errorf("GET /a/b/d with only /a%%2Fb/d registered: %d %q, want 404", w.Code, w.Body.String())
	}
	if w := serve(r, "GET", "/a%2Fb/d"); w.Body.String() != "GET /a%2Fb/d" {
		t.Errorf("GET /a%%2Fb/d: %d %q", w.Code, w.Body.String())
	}
	// A segment that begins with an escaped slash: "//x" has an empty
	// segment instead, which is cleaned, never matched.
	r = newRouter("GET /%2Fx")
	if w := serve(r, "GET", "//x"); w.Code != http.StatusPermanentRedirect || w.Header().Get("Location") != "/x" {
		t.Errorf("GET //x with only /%%2Fx registered: %d to %q, want 308 to /x", w.Code, w.Header().Get("Location"))
	}
	if w := serve(r, "GET", "/%2Fx"); w.Body.String() != "GET /%2Fx" {
		t.Errorf("GET /%%2Fx: %d %q", w.Code, w.Body.String())
	}
}

func TestDotSegmentsNeverReachHandlers(t *testing.T) {
	r := newRouter("GET /files/{path...}", "GET /u/{name}", "GET /u/{name}/x")
	tests := []struct {
		target   string
		code     int
		location string
	}{
		{"/files/a/../../etc/passwd", 308, "/etc/passwd"},
		{"/files/./x", 308, "/files/x"},
		{"/files/a//b", 308, "/files/a/b"},
		{"/files/a/..", 308, "/files"},
		{"/u/..", 308, "/"},
		{"/u/./x", 308, "/u/x"},
		{"/files/%2E%2E/secret", 400, ""},
		{"/u/%2e/x", 400, ""},
		{"/files/a%2F..%2Fb", 400, ""},
	}
	for _, tt := range tests {
		w := serve(r, "GET", tt.target)
		if w.Code != tt.code || w.Header().Get("Location") != tt.location {
			t.Errorf("GET %s: %d to %q (%q), want %d to %q", tt.target, w.Code, w.Header().Get("Location"), w.Body.String(), tt.code, tt.location)
		}
	}
	for _, p := range []string{"/a/./b", "/a/../b", "/a/%2E%2E"} {
		func() {
			defer func() {
				if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), "can never match") {
					t.Errorf("pattern %q: panic %v, want one saying it can never match", p, v)
				}
			}()
			newRouter(p)
		}()
	}
}

func TestBadPaths(t *testing.T) {
	r := newRouter("/{x...}")
	for _, target := range []string{"/a%00b", "/%00"} {
		if w := serve(r, "GET", target); w.Code != 400 {
			t.Errorf("GET %s: %d, want 400", target, w.Code)
		}
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.URL.Path = "relative"
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Code != 400 {
		t.Errorf("path without a leading slash: %d, want 400", w.Code)
	}
	long := "/" + strings.Repeat("seg/", 20000)
	if w := serve(r, "GET", long); w.Code != 200 || w.Body.Len() < len(long)-10 {
		t.Errorf("a 80 KB path: %d", w.Code)
	}
}

func TestHostPatterns(t *testing.T) {
	r := newRouter("/x", "api.example.com/x", "GET api.example.com/only")
	for host, want := range map[string]string{
		"api.example.com":      "api.example.com/x",
		"API.example.com:8080": "api.example.com/x",
		"www.example.com":      "/x",
	} {
		req := httptest.NewRequest("GET", "/x", nil)
		req.Host = host
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Body.String() != want {
			t.Errorf("host %s: %q, want %q", host, w.Body.String(), want)
		}
	}
}

func TestMiddlewareAndComposition(t *testing.T) {
	var log []string
	mark := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				log = append(log, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	r := router.New()
	r.Use(mark("top"))
	r.Get("/plain", reply())
	r.With(mark("with")).Get("/with", reply())
	r.Group(func(g *router.Router) {
		g.Use(mark("group"))
		g.Get("/group", reply())
	})
	r.Route("/users/{id}", func(u *router.Router) {
		u.Use(mark("route"))
		u.Get("/", reply("id"))
		u.Get("/posts/{post}", reply("id", "post"))
	})
	tests := []struct {
		method, target string
		code           int
		body           string
		log            []string
	}{
		{"GET", "/plain", 200, "GET /plain", []string{"top"}},
		{"GET", "/with", 200, "GET /with", []string{"top", "with"}},
		{"GET", "/group", 200, "GET /group", []string{"top", "group"}},
		{"GET", "/users/7", 200, "GET /users/{id} id=7", []string{"top", "route"}},
		{"GET", "/users/7/posts/9", 200, "GET /users/{id}/posts/{post} id=7 post=9", []string{"top", "route"}},
		{"GET", "/nope", 404, "", []string{"top"}},
		{"POST", "/plain", 405, "", []string{"top"}},
		{"OPTIONS", "/plain", 204, "", []string{"top"}},
		{"HEAD", "/plain", 200, "", []string{"top"}},
	}
	for _, tt := range tests {
		log = nil
		w := serve(r, tt.method, tt.target)
		if w.Code != tt.code || tt.code == 200 && tt.method != "HEAD" && w.Body.String() != tt.body || !slices.Equal(log, tt.log) {
			t.Errorf("%s %s: %d %q, middleware %v; want %d %q, %v", tt.method, tt.target, w.Code, w.Body.String(), log, tt.code, tt.body, tt.log)
		}
	}
	routes := r.Routes()
	var got []string
	for _, rt := range routes {
		got = append(got, fmt.Sprintf("%s|%s|%d", rt.Method, rt.Pattern, rt.Middlewares))
	}
	want := []string{"GET|GET /plain|0", "GET|GET /with|1", "GET|GET /group|1", "GET|GET /users/{id}|1", "GET|GET /users/{id}/posts/{post}|1"}
	if !slices.Equal(got, want) {
		t.Errorf("Routes() = %v, want %v", got, want)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("Use on a group after its routes: no panic")
			}
		}()
		g := r.With()
		g.Get("/late", reply())
		g.Use(mark("late"))
	}()
}

func TestMount(t *testing.T) {
	std := http.NewServeMux()
	std.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "std %s %s", r.URL.Path, r.PathValue("name"))
	})
	sub := newRouter("GET /{$}", "GET /items/{id}")
	files := http.FileServerFS(fstest.MapFS{"docs/a.txt": {Data: []byte("file a")}})

	r := router.New()
	r.Mount("/std", std)
	r.Mount("/sub/", sub)
	r.Route("/v1", func(v *router.Router) { v.Mount("/files", files) })
	tests := []struct{ target, want string }{
		{"/std/hello/go", "std /hello/go go"},
		{"/sub", "GET /{$}"},
		{"/sub/", "GET /{$}"},
		{"/sub/items/3", "GET /items/{id} id=3"},
		{"/v1/files/docs/a.txt", "file a"},
	}
	for _, tt := range tests {
		if w := serve(r, "GET", tt.target); w.Code != 200 || w.Body.String() != tt.want {
			t.Errorf("GET %s: %d %q, want %q", tt.target, w.Code, w.Body.String(), tt.want)
		}
	}
}

func TestPath(t *testing.T) {
	tests := []struct {
		pattern string
		values  []string
		want    string
		err     string
	}{
		{"GET /users/{id}/posts/{post}", []string{"id", "42", "post", "a b"}, "/users/42/posts/a%20b", ""},
		{"/files/{path...}", []string{"path", "dir/x y.txt"}, "/files/dir/x%20y.txt", ""},
		{"/u/{name}", []string{"name", "a/b"}, "/u/a%2Fb", ""},
		{"/static/", nil, "/static/", ""},
		{"/exact/{$}", nil, "/exact/", ""},
		{"/u/{name}", nil, "", `no value for {name}`},
		{"/u/{name}", []string{"name", ""}, "", `empty value for {name}`},
		{"/u/{name}", []string{"nam", "x", "name", "y"}, "", `no wildcard {nam}`},
		{"/u/{name}", []string{"name"}, "", "pairs"},
	}
	for _, tt := range tests {
		got, err := router.Path(tt.pattern, tt.values...)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Path(%q, %q) = %q, %v; want %q, %q", tt.pattern, tt.values, got, err, tt.want, tt.err)
		}
	}
}

func TestNoAllocationsOnAReusedRequest(t *testing.T) {
	r := router.New()
	noop := func(http.ResponseWriter, *http.Request) {}
	r.Get("/static/path/here", noop)
	r.Get("/repos/{owner}/{repo}/pulls/{number}", noop)
	w := httptest.NewRecorder()
	for _, target := range []string{"/static/path/here", "/repos/golang/go/pulls/1"} {
		req := httptest.NewRequest("GET", target, nil)
		r.ServeHTTP(w, req)
		if n := testing.AllocsPerRun(100, func() { r.ServeHTTP(w, req) }); n != 0 {
			t.Errorf("GET %s: %v allocations per request, want 0", target, n)
		}
	}
}
