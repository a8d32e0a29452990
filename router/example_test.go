package router_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing/fstest"

	"github.com/molt-http/molt/router"
)

// show serves one request and prints what came back.
func show(h http.Handler, method, target string) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	fmt.Printf("%s %s -> %d", method, target, w.Code)
	if loc := w.Header().Get("Location"); loc != "" {
		fmt.Printf(" Location: %s", loc)
	}
	if allow := w.Header().Get("Allow"); allow != "" {
		fmt.Printf(" Allow: %s", allow)
	}
	if w.Code == 200 && method != "HEAD" { // a real server sends no body to HEAD
		fmt.Printf(" %s", w.Body)
	}
	fmt.Println()
}

func Example() {
	r := router.New()
	r.Get("/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user %s (%s)", r.PathValue("id"), r.Pattern)
	})
	r.Get("/files/{path...}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "file %q", r.PathValue("path"))
	})
	show(r, "GET", "/users/42")
	show(r, "HEAD", "/users/42")
	show(r, "GET", "/files/docs/a.txt")
	show(r, "DELETE", "/users/42")
	show(r, "GET", "/nowhere")
	// Output:
	// GET /users/42 -> 200 user 42 (GET /users/{id})
	// HEAD /users/42 -> 200
	// GET /files/docs/a.txt -> 200 file "docs/a.txt"
	// DELETE /users/42 -> 405 Allow: GET, HEAD, OPTIONS
	// GET /nowhere -> 404
}

// Precedence goes segment by segment, with backtracking: both patterns
// below can be registered (net/http.ServeMux would refuse the pair).
func Example_precedence() {
	r := router.New()
	r.Get("/a/{x}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Pattern) })
	r.Get("/{y}/b", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Pattern) })
	r.Get("/a/b/c", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Pattern) })
	show(r, "GET", "/a/b")
	show(r, "GET", "/z/b")
	show(r, "GET", "/a/b/c")
	// Output:
	// GET /a/b -> 200 GET /a/{x}
	// GET /z/b -> 200 GET /{y}/b
	// GET /a/b/c -> 200 GET /a/b/c
}

func ExampleRouter_Route() {
	r := router.New()
	r.Route("/users/{id}", func(r *router.Router) {
		r.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				w.Header().Set("X-User", req.PathValue("id"))
				next.ServeHTTP(w, req)
			})
		})
		r.Get("/", func(w http.ResponseWriter, req *http.Request) { io.WriteString(w, "profile") })
		r.Get("/posts", func(w http.ResponseWriter, req *http.Request) { io.WriteString(w, "posts") })
	})
	show(r, "GET", "/users/7")
	show(r, "GET", "/users/7/posts")
	show(r, "GET", "/users/7/")
	// Output:
	// GET /users/7 -> 200 profile
	// GET /users/7/posts -> 200 posts
	// GET /users/7/ -> 308 Location: /users/7
}

func ExampleRouter_Mount() {
	assets := fstest.MapFS{"css/site.css": {Data: []byte("body{}")}}
	legacy := http.NewServeMux()
	legacy.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "legacy saw %s", r.URL.Path)
	})
	r := router.New()
	r.Mount("/assets", http.FileServerFS(assets))
	r.Mount("/legacy", legacy)
	show(r, "GET", "/assets/css/site.css")
	show(r, "GET", "/legacy/status")
	// Output:
	// GET /assets/css/site.css -> 200 body{}
	// GET /legacy/status -> 200 legacy saw /status
}

func ExampleRouter_Walk() {
	r := router.New()
	r.Get("/", func(http.ResponseWriter, *http.Request) {})
	r.With(func(h http.Handler) http.Handler { return h }).Post("/items", func(http.ResponseWriter, *http.Request) {})
	r.Handle("/static/", http.NotFoundHandler())
	r.Walk(func(rt router.Route) error {
		method := rt.Method
		if method == "" {
			method = "*"
		}
		fmt.Fprintf(os.Stdout, "%-6s %-18s %d middleware\n", method, rt.Pattern, rt.Middlewares)
		return nil
	})
	// Output:
	// GET    GET /              0 middleware
	// POST   POST /items        1 middleware
	// *      /static/           0 middleware
}

func ExamplePath() {
	p, _ := router.Path("GET /users/{id}/files/{name...}", "id", "a b", "name", "docs/q&a.txt")
	fmt.Println(p)
	// Output: /users/a%20b/files/docs/q&a.txt
}

func ExampleRedirectTrailingSlash() {
	r := router.New(router.RedirectTrailingSlash(false))
	r.Get("/dir/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "dir") })
	show(r, "GET", "/dir")
	show(r, "GET", "/dir/../dir/")
	// Output:
	// GET /dir -> 404
	// GET /dir/../dir/ -> 308 Location: /dir/
}
