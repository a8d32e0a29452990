package middleware_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
	"github.com/molt-http/molt/router"
)

var staticMod = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func staticFile(data string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(data), ModTime: staticMod, Mode: 0o644}
}

var staticFS = fstest.MapFS{
	"index.html":       staticFile("<h1>home</h1>"),
	"app.js":           staticFile(`console.log("app")`),
	"app.js.br":        staticFile("BR:app"),
	"app.js.zst":       staticFile("ZST:app"),
	"app.js.gz":        staticFile("GZ:app"),
	"style.css":        staticFile("body{}"),
	"style.css.gz":     staticFile("GZ:style"),
	"noext":            staticFile("<!DOCTYPE html><p>sniffed</p>"),
	"noext.gz":         staticFile("GZ:noext"),
	"digits.txt":       staticFile("0123456789"),
	"docs/index.html":  staticFile("<h1>docs</h1>"),
	"docs/guide.txt":   staticFile("guide"),
	"empty/readme.md":  staticFile("# no index here"),
	"dir.js.br/x":      staticFile("a directory named like a variant"),
	"dir.js":           staticFile("dir.js"),
	".env":             staticFile("SECRET=1"),
	".git/config":      staticFile("[core]"),
	"nomod.txt":        {Data: []byte("no modification time")},
	"docs/.hidden.txt": staticFile("hidden"),
}

func staticModETag(data string) string {
	return fmt.Sprintf(`"%x-%x"`, staticMod.UnixNano(), len(data))
}

func staticHashETag(data string) string {
	sum := sha256.Sum256([]byte(data))
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

const (
	staticNextBody = "next"
	staticLastMod  = "Sat, 01 Mar 2025 12:00:00 GMT"
)

// staticNext stands for the application behind Static.
var staticNext = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Next", "1")
	w.WriteHeader(http.StatusTeapot)
	io.WriteString(w, staticNextBody)
})

type staticCase struct {
	name   string
	method string
	path   string
	header map[string]string
	code   int
	body   string            // exact body, unless check is set
	want   map[string]string // exact values; "" means absent
	check  func(t *testing.T, resp *http.Response, body []byte)
}

func staticToNext(name, method, path string) staticCase {
	return staticCase{name: name, method: method, path: path, code: http.StatusTeapot, body: staticNextBody}
}

func staticBadPath(name, path string) staticCase {
	return staticCase{name: name, method: "GET", path: path, code: 400, body: "400 bad request: invalid path\n"}
}

var staticCases = []staticCase{
	{name: "file", method: "GET", path: "/s/index.html", code: 200, body: "<h1>home</h1>",
		want: map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "public, max-age=60", "Vary": "Accept-Encoding",
			"Etag": staticModETag("<h1>home</h1>"), "Last-Modified": staticLastMod, "Content-Length": "13", "Content-Encoding": "", "X-Next": ""}},
	{name: "root index", method: "GET", path: "/s/", code: 200, body: "<h1>home</h1>",
		want: map[string]string{"Content-Type": "text/html; charset=utf-8", "Etag": staticModETag("<h1>home</h1>")}},
	{name: "directory redirect", method: "GET", path: "/s/docs", code: 301,
		want: map[string]string{"Location": "./docs/"}, check: func(*testing.T, *http.Response, []byte) {}},
	{name: "directory redirect keeps query", method: "GET", path: "/s/docs?a=1&b=2", code: 301,
		want: map[string]string{"Location": "./docs/?a=1&b=2"}, check: func(*testing.T, *http.Response, []byte) {}},
	{name: "directory index", method: "GET", path: "/s/docs/", code: 200, body: "<h1>docs</h1>"},
	{name: "nested file", method: "GET", path: "/s/docs/guide.txt", code: 200, body: "guide",
		want: map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
	staticToNext("directory without index", "GET", "/s/empty/"),
	staticToNext("directory without index, no slash", "GET", "/s/empty"),
	staticToNext("missing file", "GET", "/s/missing.txt"),
	staticToNext("file with trailing slash", "GET", "/s/index.html/"),
	staticToNext("post", "POST", "/s/index.html"),
	staticToNext("delete", "DELETE", "/s/index.html"),
	staticToNext("outside prefix", "GET", "/index.html"),
	staticToNext("prefix without slash", "GET", "/s"),
	staticToNext("dotfile", "GET", "/s/.env"),
	staticToNext("dot directory", "GET", "/s/.git/config"),
	staticToNext("nested dotfile", "GET", "/s/docs/.hidden.txt"),
	{name: "head", method: "HEAD", path: "/s/digits.txt", code: 200, body: "",
		want: map[string]string{"Content-Length": "10", "Content-Type": "text/plain; charset=utf-8", "Accept-Ranges": "bytes"}},

	// Ranges.
	{name: "range", method: "GET", path: "/s/digits.txt", header: map[string]string{"Range": "bytes=2-4"}, code: 206, body: "234",
		want: map[string]string{"Content-Range": "bytes 2-4/10", "Content-Length": "3"}},
	{name: "suffix range", method: "GET", path: "/s/digits.txt", header: map[string]string{"Range": "bytes=-3"}, code: 206, body: "789",
		want: map[string]string{"Content-Range": "bytes 7-9/10"}},
	{name: "multiple ranges", method: "GET", path: "/s/digits.txt", header: map[string]string{"Range": "bytes=1-2,6-"}, code: 206,
		check: staticParts("text/plain; charset=utf-8", "bytes 1-2/10", "12", "bytes 6-9/10", "6789")},
	{name: "unsatisfiable range", method: "GET", path: "/s/digits.txt", header: map[string]string{"Range": "bytes=20-30"}, code: 416,
		want: map[string]string{"Content-Range": "bytes */10", "Etag": ""}, check: func(*testing.T, *http.Response, []byte) {}},
	{name: "if-range matches", method: "GET", path: "/s/digits.txt", header: map[string]string{"Range": "bytes=0-0", "If-Range": staticModETag("0123456789")},
		code: 206, body: "0"},
	{name: "if-range differs", method: "GET", path: "/s/digits.txt", header: map[string]string{"Range": "bytes=0-0", "If-Range": `"other"`},
		code: 200, body: "0123456789"},

	// Conditional requests.
	{name: "if-none-match", method: "GET", path: "/s/digits.txt", header: map[string]string{"If-None-Match": staticModETag("0123456789")},
		code: 304, body: "", want: map[string]string{"Etag": staticModETag("0123456789"), "Cache-Control": "public, max-age=60", "Vary": "Accept-Encoding"}},
	{name: "if-none-match list", method: "GET", path: "/s/digits.txt", header: map[string]string{"If-None-Match": `"x", ` + staticModETag("0123456789")},
		code: 304, body: ""},
	{name: "if-none-match other", method: "GET", path: "/s/digits.txt", header: map[string]string{"If-None-Match": `"x"`},
		code: 200, body: "0123456789"},
	{name: "if-modified-since", method: "GET", path: "/s/digits.txt", header: map[string]string{"If-Modified-Since": staticLastMod},
		code: 304, body: ""},
	{name: "if-modified-since older", method: "GET", path: "/s/digits.txt", header: map[string]string{"If-Modified-Since": "Fri, 28 Feb 2025 12:00:00 GMT"},
		code: 200, body: "0123456789"},
	{name: "if-match fails", method: "GET", path: "/s/digits.txt", header: map[string]string{"If-Match": `"x"`},
		code: 412, check: func(*testing.T, *http.Response, []byte) {}},
	{name: "no modification time", method: "GET", path: "/s/nomod.txt", code: 200, body: "no modification time",
		want: map[string]string{"Etag": staticHashETag("no modification time"), "Last-Modified": ""}},
	{name: "no modification time, revalidated", method: "GET", path: "/s/nomod.txt",
		header: map[string]string{"If-None-Match": staticHashETag("no modification time")}, code: 304, body: ""},

	// Precompressed variants.
	{name: "br on a tie", method: "GET", path: "/s/app.js", header: map[string]string{"Accept-Encoding": "gzip, deflate, br, zstd"}, code: 200, body: "BR:app",
		want: map[string]string{"Content-Encoding": "br", "Content-Type": "text/javascript; charset=utf-8", "Vary": "Accept-Encoding",
			"Content-Length": "6", "Etag": staticModETag("BR:app")}},
	{name: "q-values choose", method: "GET", path: "/s/app.js", header: map[string]string{"Accept-Encoding": "br;q=0.5, gzip;q=1.0, zstd;q=0.8"}, code: 200, body: "GZ:app",
		want: map[string]string{"Content-Encoding": "gzip", "Content-Type": "text/javascript; charset=utf-8"}},
	{name: "star", method: "GET", path: "/s/app.js", header: map[string]string{"Accept-Encoding": "br;q=0, *"}, code: 200, body: "ZST:app",
		want: map[string]string{"Content-Encoding": "zstd"}},
	{name: "case-insensitive", method: "GET", path: "/s/app.js", header: map[string]string{"Accept-Encoding": "GZIP;Q=0.9"}, code: 200, body: "GZ:app",
		want: map[string]string{"Content-Encoding": "gzip"}},
	{name: "identity only", method: "GET", path: "/s/app.js", header: map[string]string{"Accept-Encoding": "identity"}, code: 200, body: `console.log("app")`,
		want: map[string]string{"Content-Encoding": "", "Vary": "Accept-Encoding", "Etag": staticModETag(`console.log("app")`)}},
	{name: "refused", method: "GET", path: "/s/app.js", header: map[string]string{"Accept-Encoding": "gzip;q=0, br;q=0.000, zstd;q=0."}, code: 200, body: `console.log("app")`,
		want: map[string]string{"Content-Encoding": ""}},
	{name: "malformed q", method: "GET", path: "/s/app.js", header: map[string]string{"Accept-Encoding": "gzip;q=abc, br;q=2, zstd;q=0.12345"}, code: 200, body: `console.log("app")`,
		want: map[string]string{"Content-Encoding": ""}},
	{name: "no header", method: "GET", path: "/s/app.js", code: 200, body: `console.log("app")`,
		want: map[string]string{"Content-Encoding": "", "Vary": "Accept-Encoding"}},
	{name: "only gzip exists", method: "GET", path: "/s/style.css", header: map[string]string{"Accept-Encoding": "br, gzip;q=0.1"}, code: 200, body: "GZ:style",
		want: map[string]string{"Content-Encoding": "gzip", "Content-Type": "text/css; charset=utf-8"}},
	{name: "none exists", method: "GET", path: "/s/style.css", header: map[string]string{"Accept-Encoding": "br"}, code: 200, body: "body{}",
		want: map[string]string{"Content-Encoding": ""}},
	{name: "variant is a directory", method: "GET", path: "/s/dir.js", header: map[string]string{"Accept-Encoding": "br"}, code: 200, body: "dir.js",
		want: map[string]string{"Content-Encoding": ""}},
	{name: "type sniffed from the original", method: "GET", path: "/s/noext", header: map[string]string{"Accept-Encoding": "gzip"}, code: 200, body: "GZ:noext",
		want: map[string]string{"Content-Encoding": "gzip", "Content-Type": "text/html; charset=utf-8"}},
	{name: "range over compressed bytes", method: "GET", path: "/s/app.js", header: map[string]string{"Accept-Encoding": "br", "Range": "bytes=3-"}, code: 206, body: "app",
		want: map[string]string{"Content-Encoding": "br", "Content-Range": "bytes 3-5/6", "Content-Length": "3"}},
	{name: "compressed revalidated", method: "GET", path: "/s/app.js", header: map[string]string{"Accept-Encoding": "br", "If-None-Match": staticModETag("BR:app")}, code: 304, body: "",
		want: map[string]string{"Etag": staticModETag("BR:app"), "Vary": "Accept-Encoding"}},
	{name: "identity etag does not match compressed", method: "GET", path: "/s/app.js",
		header: map[string]string{"Accept-Encoding": "gzip", "If-None-Match": staticModETag(`console.log("app")`)}, code: 200, body: "GZ:app"},
	{name: "head compressed", method: "HEAD", path: "/s/app.js", header: map[string]string{"Accept-Encoding": "gzip"}, code: 200, body: "",
		want: map[string]string{"Content-Encoding": "gzip", "Content-Length": "6"}},
	{name: "variant asked for by name", method: "GET", path: "/s/app.js.gz", code: 200, body: "GZ:app",
		want: map[string]string{"Content-Encoding": "", "Content-Type": "application/gzip"}},

	// Paths that need cleaning, some of them trying to leave the file
	// system, go to the next handler (a router redirects them to the
	// clean path, see TestStaticUncleanPathRouter); backslashes and NULs
	// are refused.
	staticToNext("dot-dot", "GET", "/s/../index.html"),
	staticToNext("dot-dot deep", "GET", "/s/docs/../../../../etc/passwd"),
	staticToNext("escaped dot-dot", "GET", "/s/%2e%2e/index.html"),
	staticToNext("escaped dot-dot and slash", "GET", "/s/docs%2f%2e%2e%2findex.html"),
	staticToNext("dot", "GET", "/s/./index.html"),
	staticToNext("empty element", "GET", "/s/docs//guide.txt"),
	staticToNext("double slash after prefix", "GET", "/s//index.html"),
	staticToNext("trailing dot-dot", "GET", "/s/docs/.."),
	staticBadPath("backslash", "/s/docs%5c..%5cindex.html"),
	staticBadPath("NUL", "/s/index.html%00.txt"),
}

// staticParts checks a multipart/byteranges body against pairs of
// Content-Range and content.
func staticParts(ctype string, pairs ...string) func(t *testing.T, resp *http.Response, body []byte) {
	return func(t *testing.T, resp *http.Response, body []byte) {
		t.Helper()
		mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/byteranges" {
			t.Fatalf("Content-Type %q, want multipart/byteranges", resp.Header.Get("Content-Type"))
		}
		mr := multipart.NewReader(strings.NewReader(string(body)), params["boundary"])
		for i := 0; i < len(pairs); i += 2 {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("part %d: %v", i/2, err)
			}
			got, _ := io.ReadAll(p)
			if p.Header.Get("Content-Range") != pairs[i] || string(got) != pairs[i+1] || p.Header.Get("Content-Type") != ctype {
				t.Errorf("part %d: %q %q %q, want %q %q %q", i/2, p.Header.Get("Content-Type"), p.Header.Get("Content-Range"), got, ctype, pairs[i], pairs[i+1])
			}
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Errorf("more parts than %d: %v", len(pairs)/2, err)
		}
	}
}

func TestStatic(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		h := middleware.Static(staticFS, middleware.StaticOptions{
			Prefix:        "/s",
			Precompressed: true,
			CacheControl:  "public, max-age=60",
		})(staticNext)
		ts := h2ctest.NewServer(t, h)
		client := ts.Client(t, mode)
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		for _, tc := range staticCases {
			t.Run(tc.name, func(t *testing.T) {
				req, err := http.NewRequest(tc.method, ts.URL+tc.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body := h2ctest.ReadBody(t, resp)
				if resp.StatusCode != tc.code {
					t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.code, body)
				}
				if tc.check != nil {
					tc.check(t, resp, body)
				} else if string(body) != tc.body {
					t.Errorf("body %q, want %q", body, tc.body)
				}
				for k, want := range tc.want {
					if got := strings.Join(resp.Header.Values(k), ", "); got != want {
						t.Errorf("%s = %q, want %q", k, got, want)
					}
				}
			})
		}
	})
}

// TestStaticDefaults checks the zero options (served at "/", no variants)
// and NotFound.
func TestStaticDefaults(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		ts := h2ctest.NewServer(t, middleware.Static(staticFS, middleware.StaticOptions{NotFound: http.NotFoundHandler()})(staticNext))
		client := ts.Client(t, mode)
		for _, tc := range []struct {
			path, ae string
			code     int
			body     string
		}{
			{"/", "", 200, "<h1>home</h1>"},
			{"/app.js", "br", 200, `console.log("app")`},
			{"/missing", "", 404, "404 page not found\n"},
			{"/.env", "", 404, "404 page not found\n"},
			{"/empty/", "", 404, "404 page not found\n"},
		} {
			req, _ := http.NewRequest("GET", ts.URL+tc.path, nil)
			if tc.ae != "" {
				req.Header.Set("Accept-Encoding", tc.ae)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := string(h2ctest.ReadBody(t, resp))
			if resp.StatusCode != tc.code || body != tc.body {
				t.Errorf("%s: %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.code, tc.body)
			}
			if v := resp.Header.Values("Vary"); len(v) != 0 || resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Cache-Control") != "" {
				t.Errorf("%s: Vary %q, Content-Encoding %q, Cache-Control %q; want none", tc.path, v, resp.Header.Get("Content-Encoding"), resp.Header.Get("Cache-Control"))
			}
			if resp.Header.Get("X-Next") != "" {
				t.Errorf("%s: reached the next handler despite NotFound", tc.path)
			}
		}
	})
}

// TestStaticDotfiles checks that ServeDotfiles serves them.
func TestStaticDotfiles(t *testing.T) {
	h := middleware.Static(staticFS, middleware.StaticOptions{ServeDotfiles: true})(staticNext)
	for path, want := range map[string]string{"/.env": "SECRET=1", "/.git/config": "[core]", "/docs/.hidden.txt": "hidden"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != 200 || w.Body.String() != want {
			t.Errorf("%s: %d %q, want 200 %q", path, w.Code, w.Body, want)
		}
	}
}

// TestStaticUpgrade checks that a WebSocket handshake for a file's path
// goes to the next handler.
func TestStaticUpgrade(t *testing.T) {
	h := middleware.Static(staticFS, middleware.StaticOptions{})(staticNext)
	req := httptest.NewRequest("GET", "/index.html", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusTeapot || w.Body.String() != staticNextBody {
		t.Errorf("upgrade: %d %q, want the next handler's answer", w.Code, w.Body)
	}
}

func TestStaticInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		opts middleware.StaticOptions
	}{
		{"nil fs", nil, middleware.StaticOptions{}},
		{"relative prefix", staticFS, middleware.StaticOptions{Prefix: "static/"}},
		{"index with slash", staticFS, middleware.StaticOptions{Index: "a/index.html"}},
		{"index dot-dot", staticFS, middleware.StaticOptions{Index: ".."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.HasPrefix(msg, "middleware: Static: ") {
					t.Errorf("panic %q, want a middleware: Static: one", msg)
				}
			}()
			if tc.fsys == nil {
				middleware.Static(nil, tc.opts)
			} else {
				middleware.Static(tc.fsys, tc.opts)
			}
		})
	}
}

func BenchmarkStatic(b *testing.B) {
	h := middleware.Static(staticFS, middleware.StaticOptions{Precompressed: true})(staticNext)
	req := httptest.NewRequest("GET", "/app.js", nil)
	req.Header.Set("Accept-Encoding", "gzip, br")
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

// TestStaticUncleanPathRouter: with the default prefix in front of the
// router, a path that needs cleaning gets the router's 308 to the clean
// path, as it does without Static, and the clean path is served; escaped
// dot segments get the router's 400.
func TestStaticUncleanPathRouter(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		r := router.New()
		r.Use(middleware.Static(staticFS, middleware.StaticOptions{}))
		r.Get("/api/items", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "items") })
		ts := h2ctest.NewServer(t, r)
		client := ts.Client(t, mode)
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		for _, tc := range []struct {
			path     string
			code     int
			location string
		}{
			{"/static/../docs/guide.txt", 308, "/docs/guide.txt"},
			{"/docs/./guide.txt?v=1", 308, "/docs/guide.txt?v=1"},
			{"/docs//guide.txt", 308, "/docs/guide.txt"},
			{"/api/x/../items", 308, "/api/items"},
			{"/../../etc/passwd", 308, "/etc/passwd"},
			{"/%2e%2e/docs/guide.txt", 400, ""},
		} {
			resp, err := client.Get(ts.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body := h2ctest.ReadBody(t, resp)
			if resp.StatusCode != tc.code || resp.Header.Get("Location") != tc.location {
				t.Errorf("%s: %d to %q (%q), want %d to %q", tc.path, resp.StatusCode, resp.Header.Get("Location"), body, tc.code, tc.location)
			}
		}
		resp, err := client.Get(ts.URL + "/docs/guide.txt")
		if err != nil {
			t.Fatal(err)
		}
		if body := h2ctest.ReadBody(t, resp); resp.StatusCode != 200 || string(body) != "guide" {
			t.Errorf("the clean path: %d %q, want 200 guide", resp.StatusCode, body)
		}
	})
}

// TestStaticDirSymlinks: StaticDir keeps symbolic links inside its
// directory (a link out of it is not found, one inside it works), where
// Static with os.DirFS follows them out.
func TestStaticDirSymlinks(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "public")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{filepath.Join(base, "secret.txt"): "secret", filepath.Join(dir, "app.txt"): "app"} {
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"leak.txt": "../secret.txt", "alias.txt": "app.txt", "up": ".."} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Skipf("no symbolic links here: %v", err)
		}
	}
	fromDir, err := middleware.StaticDir(dir, middleware.StaticOptions{NotFound: http.NotFoundHandler()})
	if err != nil {
		t.Fatal(err)
	}
	dirFS := middleware.Static(os.DirFS(dir), middleware.StaticOptions{NotFound: http.NotFoundHandler()})
	tests := []struct {
		path            string
		dirCode, fsCode int
	}{
		{"/app.txt", 200, 200},
		{"/alias.txt", 200, 200},
		{"/leak.txt", 404, 200},
		{"/up/secret.txt", 404, 200},
	}
	for _, tt := range tests {
		for _, h := range []struct {
			name string
			mw   func(http.Handler) http.Handler
			want int
		}{{"StaticDir", fromDir, tt.dirCode}, {"os.DirFS", dirFS, tt.fsCode}} {
			w := httptest.NewRecorder()
			h.mw(staticNext).ServeHTTP(w, httptest.NewRequest("GET", tt.path, nil))
			if w.Code != h.want {
				t.Errorf("%s %s: %d %q, want %d", h.name, tt.path, w.Code, w.Body, h.want)
			}
		}
	}
	if _, err := middleware.StaticDir(filepath.Join(base, "missing"), middleware.StaticOptions{}); err == nil {
		t.Error("StaticDir of a missing directory: no error")
	}
}

// TestStaticDirectoryRedirectEscaped: the redirect from a directory's URL
// to the one with a slash names the directory escaped, so that a '#',
// '?', '%' or space in its name stays in the path the client follows.
func TestStaticDirectoryRedirectEscaped(t *testing.T) {
	fsys := fstest.MapFS{}
	for _, dir := range []string{"c#", "what?", "100%", "a b"} {
		fsys[dir+"/index.html"] = staticFile(dir)
	}
	h := middleware.Static(fsys, middleware.StaticOptions{})(staticNext)
	for _, tt := range []struct{ target, location string }{
		{"/c%23", "./c%23/"},
		{"/what%3F", "./what%3F/"},
		{"/100%25", "./100%25/"},
		{"/a%20b", "./a%20b/"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", tt.target, nil))
		if loc := w.Header().Get("Location"); w.Code != http.StatusMovedPermanently || loc != tt.location {
			t.Errorf("GET %s: %d to %q, want 301 to %q", tt.target, w.Code, loc, tt.location)
		}
	}
}
