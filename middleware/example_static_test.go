package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing/fstest"

	"github.com/molt-http/molt/middleware"
	"github.com/molt-http/molt/router"
)

func ExampleStatic() {
	// In a real program: //go:embed dist, and fs.Sub(dist, "dist"), or
	// middleware.StaticDir("dist", ...), which keeps symbolic links inside
	// the directory (os.DirFS follows them out).
	assets := fstest.MapFS{
		"index.html": {Data: []byte("<h1>hello</h1>")},
		"app.js":     {Data: []byte(`console.log("hello")`)},
		"app.js.br":  {Data: []byte("(brotli bytes)")},
	}
	r := router.New()
	r.Use(middleware.Static(assets, middleware.StaticOptions{
		Prefix:        "/assets/",
		Precompressed: true,
		CacheControl:  "public, max-age=3600",
	}))
	r.Get("/api/hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello from the API") })

	get := func(path, acceptEncoding string) {
		req := httptest.NewRequest("GET", path, nil)
		if acceptEncoding != "" {
			req.Header.Set("Accept-Encoding", acceptEncoding)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		fmt.Printf("%s: %d %q %s", path, w.Code, w.Body, w.Header().Get("Content-Type"))
		if enc := w.Header().Get("Content-Encoding"); enc != "" {
			fmt.Print(" encoding ", enc)
		}
		fmt.Println()
	}
	get("/assets/", "")
	get("/assets/app.js", "gzip, br")
	get("/assets/app.js", "")
	get("/assets/missing.js", "")
	get("/api/hello", "")
	// Output:
	// /assets/: 200 "<h1>hello</h1>" text/html; charset=utf-8
	// /assets/app.js: 200 "(brotli bytes)" text/javascript; charset=utf-8 encoding br
	// /assets/app.js: 200 "console.log(\"hello\")" text/javascript; charset=utf-8
	// /assets/missing.js: 404 "404 page not found\n" text/plain; charset=utf-8
	// /api/hello: 200 "hello from the API" text/plain; charset=utf-8
}
