package router_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/molt-http/molt/router"
)

// outcome sums up an answer so that the router's and ServeMux's compare:
// a redirect of any code is "redirect <Location>", else the status and
// body ("200 <pattern> <values>").
func outcome(w *httptest.ResponseRecorder) string {
	switch w.Code {
	case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return "redirect " + w.Header().Get("Location")
	case http.StatusOK:
		return "200 " + w.Body.String()
	}
	return fmt.Sprint(w.Code)
}

// TestTrailingSlashLikeServeMux checks the trailing-slash redirects that a
// user moving over from net/http.ServeMux counts on: "/x" goes to "/x/"
// when "/x/" would match exactly, for the request's method, and "/x" would
// not, even when a subtree above ("/") or a route of another method
// takes "/x". Every case is checked against ServeMux itself too.
func TestTrailingSlashLikeServeMux(t *testing.T) {
	tests := []struct {
		routes       []string
		method, path string
		want         string
	}{
		{[]string{"GET /", "GET /static/"}, "GET", "/static", "redirect /static/"},
		{[]string{"GET /", "GET /static/"}, "HEAD", "/static", "redirect /static/"},
		{[]string{"GET /", "GET /static/"}, "GET", "/static/x", "200 GET /static/"},
		{[]string{"GET /", "GET /static/"}, "GET", "/other", "200 GET /"},
		{[]string{"GET /", "GET /static/"}, "POST", "/static", "405"},
		{[]string{"/", "GET /static/"}, "POST", "/static", "200 /"},
		{[]string{"POST /items", "GET /items/"}, "GET", "/items", "redirect /items/"},
		{[]string{"POST /items", "GET /items/"}, "HEAD", "/items", "redirect /items/"},
		{[]string{"POST /items", "GET /items/"}, "POST", "/items", "200 POST /items"},
		{[]string{"POST /items", "GET /items/"}, "PUT", "/items", "405"},
		{[]string{"/files/{p...}"}, "GET", "/files", "redirect /files/"},
		{[]string{"/files/{p...}"}, "GET", "/files/a", "200 /files/{p...} p=a"},
		{[]string{"/a/{$}"}, "GET", "/a", "redirect /a/"},
		{[]string{"/{x}", "/a/"}, "GET", "/a", "200 /{x} x=a"},
		{[]string{"GET /{x}/"}, "GET", "/q", "redirect /q/"},
		{[]string{"GET /{x}/"}, "POST", "/q", "405"},
		{[]string{"GET /{x}/"}, "POST", "/q/", "405"},
		{[]string{"GET /a/"}, "POST", "/a/b", "405"},
		{[]string{"GET /{x}/", "POST /b"}, "PUT", "/b", "405"},
		{[]string{"/u/{id}/", "/u/{id}/x"}, "GET", "/u/7", "redirect /u/7/"},
		{[]string{"/a/b/", "/a/"}, "GET", "/a/b", "redirect /a/b/"},
		{[]string{"/a/b/", "/"}, "GET", "/a", "200 /"},
		{[]string{"api.example.com/x/", "/"}, "GET", "/x", "redirect /x/"},
	}
	for _, tt := range tests {
		r := router.New()
		mux := http.NewServeMux()
		for _, p := range tt.routes {
			r.Handle(p, reply(names(p)...))
			mux.Handle(p, reply(names(p)...))
		}
		for name, h := range map[string]http.Handler{"router": r, "ServeMux": mux} {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.Host = "api.example.com"
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if got := strings.TrimSpace(outcome(w)); got != tt.want {
				t.Errorf("%s %q: %s %s: %q, want %q", name, tt.routes, tt.method, tt.path, got, tt.want)
			}
		}
	}
}

// TestMethodNotAllowedCountsTheSlashedPath checks the Allow header of a
// 405 for "/x" whose methods are those of the "/x/" it would be
// redirected to, as in ServeMux.
func TestMethodNotAllowedCountsTheSlashedPath(t *testing.T) {
	r := newRouter("GET /{x}/", "PUT /b")
	for _, tt := range []struct{ method, path, allow string }{
		{"POST", "/q", "GET, HEAD, OPTIONS"},
		{"POST", "/b", "GET, HEAD, OPTIONS, PUT"},
		{"OPTIONS", "/q", "GET, HEAD, OPTIONS"},
	} {
		w := serve(r, tt.method, tt.path)
		want := http.StatusMethodNotAllowed
		if tt.method == "OPTIONS" {
			want = http.StatusNoContent
		}
		if w.Code != want || w.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d Allow %q, want %d Allow %q", tt.method, tt.path, w.Code, w.Header().Get("Allow"), want, tt.allow)
		}
	}
	r = router.New(router.RedirectTrailingSlash(false))
	r.Get("/{x}/", reply("x"))
	if w := serve(r, "POST", "/q"); w.Code != http.StatusNotFound {
		t.Errorf("POST /q without slash redirects: %d, want 404", w.Code)
	}
	if w := serve(r, "GET", "/q"); w.Code != http.StatusNotFound {
		t.Errorf("GET /q without slash redirects: %d, want 404", w.Code)
	}
}

// FuzzServeMux registers random route sets, with methods, in the router
// and in net/http.ServeMux, and checks that both answer random requests
// alike with the trailing-slash redirect on: the same route with the same
// values, the same redirects, 404 and 405 alike. Route sets that ServeMux
// refuses (its conflicts are wider than the router's) are left out. The
// router's documented differences are allowed for: its redirects are 308
// (ServeMux's 301 or 307), a path that needs cleaning may take it two
// hops where ServeMux takes one (so only the final answer of such a path
// is compared), and it redirects "/x/" to "/x" when only "/x" matches,
// where ServeMux answers 404.
func FuzzServeMux(f *testing.F) {
	f.Add([]byte{1, 2, 3, 9, 4, 5, 6, 7, 8, 0, 1, 2})
	f.Add([]byte("routes and paths"))
	f.Add([]byte{3, 1, 2, 5, 2, 0, 1, 0, 2, 1, 0, 0, 2, 1, 0, 1, 0})
	methods := []string{"", "GET ", "POST "}
	patternSegs := []string{"a", "b", "{}", "{}", "{...}", "{$}", ""}
	pathSegs := []string{"a", "b", "c", "a", ".", "..", ""}
	reqMethods := []string{"GET", "HEAD", "POST", "PUT"}
	f.Fuzz(func(t *testing.T, data []byte) {
		next := fuzzBytes(data)
		r := router.New()
		mux := http.NewServeMux()
		var patterns []string
		for n := next()%6 + 1; n > 0; n-- {
			path, _ := fuzzPattern(next, patternSegs)
			pattern := methods[next()%len(methods)] + path
			h := reply(names(pattern)...)
			if !registers(mux, pattern, h) {
				continue
			}
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Fatalf("routes %q: ServeMux takes %q, the router panics: %v", patterns, pattern, v)
					}
				}()
				r.Handle(pattern, h)
			}()
			patterns = append(patterns, pattern)
		}
		for n := next()%4 + 1; n > 0; n-- {
			method := reqMethods[next()%len(reqMethods)]
			var parts []string
			for i, k := 0, next()%3+1; i < k; i++ {
				parts = append(parts, pathSegs[next()%len(pathSegs)])
			}
			if next()%3 == 0 {
				parts = append(parts, "") // a trailing slash
			}
			path := "/" + strings.Join(parts, "/")
			ours, theirs := answers(r, method, path, true), answers(mux, method, path, false)
			clean := refClean(path) == path
			if clean && ours[0] != theirs[0] || !clean && ours[len(ours)-1] != theirs[len(theirs)-1] {
				t.Fatalf("routes %q, %s %s: router %q, ServeMux %q", patterns, method, path, ours, theirs)
			}
			if !clean && (!strings.HasPrefix(ours[0], "redirect") || !strings.HasPrefix(theirs[0], "redirect")) {
				t.Fatalf("routes %q, %s %s (needs cleaning): router %q, ServeMux %q, want both to redirect", patterns, method, path, ours, theirs)
			}
		}
	})
}

// registers reports whether mux takes pattern, which it refuses with a
// panic.
func registers(mux *http.ServeMux, pattern string, h http.Handler) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	mux.Handle(pattern, h)
	return true
}

// answers sends method path to h and follows its redirects, three at
// most, and returns the outcome of each answer. For the router (ours),
// a redirect from "/x/" to "/x" is molt's own and ends the list as the
// 404 that ServeMux answers instead.
func answers(h http.Handler, method, path string, ours bool) []string {
	var out []string
	for range 4 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
		o := outcome(w)
		loc, redirected := strings.CutPrefix(o, "redirect ")
		if ours && redirected && len(path) > 1 && loc == path[:len(path)-1] && refClean(path) == path {
			return append(out, "404")
		}
		out = append(out, o)
		if !redirected {
			break
		}
		path = loc
	}
	return out
}
