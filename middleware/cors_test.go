package middleware_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
	"github.com/molt-http/molt/router"
)

// corsFields are the response fields a CORS test compares; a field not
// in a case's want must be absent.
var corsFields = []string{
	"Access-Control-Allow-Origin",
	"Access-Control-Allow-Credentials",
	"Access-Control-Allow-Methods",
	"Access-Control-Allow-Headers",
	"Access-Control-Expose-Headers",
	"Access-Control-Max-Age",
	"Access-Control-Allow-Private-Network",
	"Vary",
}

const corsTestPreflightVary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

type corsCase struct {
	name   string
	opts   int // index into corsOptions
	method string
	header map[string]string
	code   int
	next   bool // the request reaches the route
	want   map[string]string
}

var corsOptions = []middleware.CORSOptions{
	0: {},
	1: {
		AllowedOrigins:   []string{"https://a.com", "https://*.b.com", "http://c.com:8080"},
		AllowedMethods:   []string{"GET", "PUT", "DELETE"},
		AllowedHeaders:   []string{"x-token", "Content-Type"},
		ExposedHeaders:   []string{"x-total", "ETag"},
		AllowCredentials: true,
		MaxAge:           10 * time.Minute,
	},
	2: {
		AllowedOrigins:      []string{"null", "https://a.com"},
		AllowedMethods:      []string{"*"},
		AllowedHeaders:      []string{"*"},
		MaxAge:              -1,
		AllowPrivateNetwork: true,
	},
	3: {
		AllowOriginFunc: func(origin string, r *http.Request) bool {
			return strings.HasSuffix(origin, ".example") && r.URL.Path == "/items/1"
		},
		ExposedHeaders: []string{"*"},
		MaxAge:         1500 * time.Millisecond,
	},
}

func corsPreflight(origin, method, headers string) map[string]string {
	h := map[string]string{"Origin": origin, "Access-Control-Request-Method": method}
	if headers != "" {
		h["Access-Control-Request-Headers"] = headers
	}
	return h
}

var corsCases = []corsCase{
	// The zero value: any origin, "*", no Vary: Origin.
	{name: "default/simple", method: "GET", header: map[string]string{"Origin": "https://x.com"}, code: 200, next: true,
		want: map[string]string{"Access-Control-Allow-Origin": "*"}},
	{name: "default/no origin", method: "GET", code: 200, next: true,
		want: map[string]string{"Access-Control-Allow-Origin": "*"}},
	{name: "default/null origin", method: "POST", header: map[string]string{"Origin": "null"}, code: 200, next: true,
		want: map[string]string{"Access-Control-Allow-Origin": "*"}},
	{name: "default/preflight", method: "OPTIONS", header: corsPreflight("https://x.com", "POST", "content-type, X-Requested-With"), code: 204,
		want: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, HEAD, POST",
			"Access-Control-Allow-Headers": "Accept, Accept-Language, Content-Language, Content-Type, X-Requested-With", "Vary": corsTestPreflightVary}},
	{name: "default/preflight no headers asked", method: "OPTIONS", header: corsPreflight("https://x.com", "GET", ""), code: 204,
		want: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, HEAD, POST", "Vary": corsTestPreflightVary}},
	{name: "default/preflight method not allowed", method: "OPTIONS", header: corsPreflight("https://x.com", "DELETE", ""), code: 204,
		want: map[string]string{"Vary": corsTestPreflightVary}},
	{name: "default/preflight method case", method: "OPTIONS", header: corsPreflight("https://x.com", "post", ""), code: 204,
		want: map[string]string{"Vary": corsTestPreflightVary}},
	{name: "default/preflight header not allowed", method: "OPTIONS", header: corsPreflight("https://x.com", "GET", "content-type,authorization"), code: 204,
		want: map[string]string{"Vary": corsTestPreflightVary}},
	{name: "default/preflight garbage header list", method: "OPTIONS", header: corsPreflight("https://x.com", "GET", "content-type;x=1"), code: 204,
		want: map[string]string{"Vary": corsTestPreflightVary}},
	{name: "default/preflight garbage origin", method: "OPTIONS", header: corsPreflight("https://x.com https://y.com", "GET", ""), code: 204,
		want: map[string]string{"Vary": corsTestPreflightVary}},
	{name: "default/plain OPTIONS", method: "OPTIONS", header: map[string]string{"Origin": "https://x.com"}, code: 204,
		want: map[string]string{"Access-Control-Allow-Origin": "*"}}, // the router's own answer

	// Listed origins with credentials.
	{name: "list/exact", opts: 1, method: "GET", header: map[string]string{"Origin": "https://a.com"}, code: 200, next: true,
		want: map[string]string{"Access-Control-Allow-Origin": "https://a.com", "Access-Control-Allow-Credentials": "true",
			"Access-Control-Expose-Headers": "X-Total, Etag", "Vary": "Origin"}},
	{name: "list/case", opts: 1, method: "GET", header: map[string]string{"Origin": "HTTPS://A.COM"}, code: 200, next: true,
		want: map[string]string{"Access-Control-Allow-Origin": "HTTPS://A.COM", "Access-Control-Allow-Credentials": "true",
			"Access-Control-Expose-Headers": "X-Total, Etag", "Vary": "Origin"}},
	{name: "list/other port", opts: 1, method: "GET", header: map[string]string{"Origin": "https://a.com:8443"}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "list/other scheme", opts: 1, method: "GET", header: map[string]string{"Origin": "http://a.com"}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "list/with path", opts: 1, method: "GET", header: map[string]string{"Origin": "https://a.com/"}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "list/suffix trick", opts: 1, method: "GET", header: map[string]string{"Origin": "https://a.com.evil.com"}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "list/no origin", opts: 1, method: "GET", code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "list/null", opts: 1, method: "GET", header: map[string]string{"Origin": "null"}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "list/two origins", opts: 1, method: "GET", header: map[string]string{"Origin": "https://a.com, https://a.com"}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "list/long garbage", opts: 1, method: "GET", header: map[string]string{"Origin": "https://a.com" + strings.Repeat("%\"<>", 4000)}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "wildcard/too long", opts: 1, method: "GET", header: map[string]string{"Origin": "https://" + strings.Repeat("x.", 300) + "b.com"}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "wildcard/long enough", opts: 1, method: "GET", header: map[string]string{"Origin": "https://" + strings.Repeat("x.", 100) + "b.com"}, code: 200, next: true,
		want: map[string]string{"Access-Control-Allow-Origin": "https://" + strings.Repeat("x.", 100) + "b.com", "Access-Control-Allow-Credentials": "true",
			"Access-Control-Expose-Headers": "X-Total, Etag", "Vary": "Origin"}},
	{name: "list/port listed", opts: 1, method: "GET", header: map[string]string{"Origin": "http://c.com:8080"}, code: 200, next: true,
		want: map[string]string{"Access-Control-Allow-Origin": "http://c.com:8080", "Access-Control-Allow-Credentials": "true",
			"Access-Control-Expose-Headers": "X-Total, Etag", "Vary": "Origin"}},
	{name: "list/port missing", opts: 1, method: "GET", header: map[string]string{"Origin": "http://c.com"}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "wildcard/subdomain", opts: 1, method: "GET", header: map[string]string{"Origin": "https://x.y.b.com"}, code: 200, next: true,
		want: map[string]string{"Access-Control-Allow-Origin": "https://x.y.b.com", "Access-Control-Allow-Credentials": "true",
			"Access-Control-Expose-Headers": "X-Total, Etag", "Vary": "Origin"}},
	{name: "wildcard/bare domain", opts: 1, method: "GET", header: map[string]string{"Origin": "https://b.com"}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "wildcard/empty label", opts: 1, method: "GET", header: map[string]string{"Origin": "https://.b.com"}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "wildcard/userinfo", opts: 1, method: "GET", header: map[string]string{"Origin": "https://evil.com@x.b.com"}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "wildcard/path", opts: 1, method: "GET", header: map[string]string{"Origin": "https://evil.com/.b.com"}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "wildcard/port", opts: 1, method: "GET", header: map[string]string{"Origin": "https://x.b.com:444"}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "wildcard/other scheme", opts: 1, method: "GET", header: map[string]string{"Origin": "http://x.b.com"}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "list/preflight", opts: 1, method: "OPTIONS", header: corsPreflight("https://a.com", "PUT", "X-TOKEN,content-type"), code: 204,
		want: map[string]string{"Access-Control-Allow-Origin": "https://a.com", "Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Methods": "GET, PUT, DELETE", "Access-Control-Allow-Headers": "X-Token, Content-Type",
			"Access-Control-Max-Age": "600", "Vary": corsTestPreflightVary}},
	{name: "list/preflight default header not listed", opts: 1, method: "OPTIONS", header: corsPreflight("https://a.com", "PUT", "x-requested-with"), code: 204,
		want: map[string]string{"Vary": corsTestPreflightVary}},
	{name: "list/preflight method not listed", opts: 1, method: "OPTIONS", header: corsPreflight("https://a.com", "POST", ""), code: 204,
		want: map[string]string{"Vary": corsTestPreflightVary}},
	{name: "list/preflight origin not listed", opts: 1, method: "OPTIONS", header: corsPreflight("https://evil.com", "GET", ""), code: 204,
		want: map[string]string{"Vary": corsTestPreflightVary}},
	{name: "list/preflight private network not enabled", opts: 1, method: "OPTIONS",
		header: map[string]string{"Origin": "https://a.com", "Access-Control-Request-Method": "GET", "Access-Control-Request-Private-Network": "true"}, code: 204,
		want: map[string]string{"Access-Control-Allow-Origin": "https://a.com", "Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Methods": "GET, PUT, DELETE", "Access-Control-Max-Age": "600", "Vary": corsTestPreflightVary}},
	{name: "list/plain OPTIONS", opts: 1, method: "OPTIONS", header: map[string]string{"Origin": "https://a.com"}, code: 204,
		want: map[string]string{"Access-Control-Allow-Origin": "https://a.com", "Access-Control-Allow-Credentials": "true",
			"Access-Control-Expose-Headers": "X-Total, Etag", "Vary": "Origin"}},

	// "null" listed, any method and header reflected.
	{name: "null/allowed", opts: 2, method: "GET", header: map[string]string{"Origin": "null"}, code: 200, next: true,
		want: map[string]string{"Access-Control-Allow-Origin": "null", "Vary": "Origin"}},
	{name: "null/preflight reflects", opts: 2, method: "OPTIONS",
		header: map[string]string{"Origin": "null", "Access-Control-Request-Method": "PURGE", "Access-Control-Request-Headers": "authorization,x-any",
			"Access-Control-Request-Private-Network": "true"}, code: 204,
		want: map[string]string{"Access-Control-Allow-Origin": "null", "Access-Control-Allow-Methods": "PURGE",
			"Access-Control-Allow-Headers": "authorization,x-any", "Access-Control-Max-Age": "0",
			"Access-Control-Allow-Private-Network": "true", "Vary": corsTestPreflightVary + ", Access-Control-Request-Private-Network"}},
	{name: "null/preflight bad method", opts: 2, method: "OPTIONS", header: corsPreflight("null", "GET/1", ""), code: 204,
		want: map[string]string{"Vary": corsTestPreflightVary + ", Access-Control-Request-Private-Network"}},
	{name: "null/preflight bad header name", opts: 2, method: "OPTIONS", header: corsPreflight("https://a.com", "GET", "x-a, x(b)"), code: 204,
		want: map[string]string{"Vary": corsTestPreflightVary + ", Access-Control-Request-Private-Network"}},

	// AllowOriginFunc.
	{name: "func/allowed", opts: 3, method: "GET", header: map[string]string{"Origin": "https://z.example"}, code: 200, next: true,
		want: map[string]string{"Access-Control-Allow-Origin": "https://z.example", "Access-Control-Expose-Headers": "*", "Vary": "Origin"}},
	{name: "func/refused", opts: 3, method: "GET", header: map[string]string{"Origin": "https://z.example.com"}, code: 200, next: true,
		want: map[string]string{"Vary": "Origin"}},
	{name: "func/preflight", opts: 3, method: "OPTIONS", header: corsPreflight("https://z.example", "HEAD", "Accept"), code: 204,
		want: map[string]string{"Access-Control-Allow-Origin": "https://z.example", "Access-Control-Allow-Methods": "GET, HEAD, POST",
			"Access-Control-Allow-Headers": "Accept, Accept-Language, Content-Language, Content-Type, X-Requested-With",
			"Access-Control-Max-Age":       "1", "Vary": corsTestPreflightVary}},
}

func TestCORS(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		// One router per options, CORS in the top-level Use, and a route
		// with GET only: the preflight must not reach the router's own
		// OPTIONS answer.
		urls := make([]string, len(corsOptions))
		var clients []*http.Client
		for i, opts := range corsOptions {
			r := router.New()
			r.Use(middleware.CORS(opts))
			r.Get("/items/{id}", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Next", r.PathValue("id"))
				w.Write([]byte("item"))
			})
			r.Post("/items/{id}", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Next", r.PathValue("id"))
			})
			ts := h2ctest.NewServer(t, r)
			urls[i] = ts.URL
			clients = append(clients, ts.Client(t, mode))
		}
		for _, tc := range corsCases {
			t.Run(tc.name, func(t *testing.T) {
				req, err := http.NewRequest(tc.method, urls[tc.opts]+"/items/1", nil)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
				resp, err := clients[tc.opts].Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body := h2ctest.ReadBody(t, resp)
				if resp.StatusCode != tc.code {
					t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.code, body)
				}
				if got := resp.Header.Get("X-Next"); (got == "1") != tc.next {
					t.Errorf("reached the route: %v, want %v", got == "1", tc.next)
				}
				if tc.code == 204 && len(body) != 0 {
					t.Errorf("body %q, want none", body)
				}
				if tc.method == "OPTIONS" && !tc.next && tc.header["Access-Control-Request-Method"] != "" {
					if a := resp.Header.Get("Allow"); a != "" {
						t.Errorf("preflight answered by the router: Allow %q", a)
					}
				}
				for _, k := range corsFields {
					got := strings.Join(resp.Header.Values(k), ", ")
					if want := tc.want[k]; got != want {
						t.Errorf("%s = %q, want %q", k, got, want)
					}
				}
			})
		}
	})
}

// TestCORSVaryKept checks that CORS adds to a Vary the handler sets
// rather than replacing it, and the reverse.
func TestCORSVaryKept(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		h := middleware.CORS(middleware.CORSOptions{AllowedOrigins: []string{"https://a.com"}})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Add("Vary", "Accept-Encoding")
			}))
		ts := h2ctest.NewServer(t, h)
		req, _ := http.NewRequest("GET", ts.URL+"/", nil)
		req.Header.Set("Origin", "https://a.com")
		resp, err := ts.Client(t, mode).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		h2ctest.ReadBody(t, resp)
		if got, want := resp.Header.Values("Vary"), []string{"Origin", "Accept-Encoding"}; !slices.Equal(got, want) {
			t.Errorf("Vary = %q, want %q", got, want)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://a.com" {
			t.Errorf("Access-Control-Allow-Origin = %q", got)
		}
	})
}

func TestCORSInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts middleware.CORSOptions
		msg  string
	}{
		{"star with credentials", middleware.CORSOptions{AllowedOrigins: []string{"https://a.com", "*"}, AllowCredentials: true}, `AllowedOrigins "*" cannot be combined`},
		{"default with credentials", middleware.CORSOptions{AllowCredentials: true}, "AllowCredentials needs AllowedOrigins"},
		{"origin with path", middleware.CORSOptions{AllowedOrigins: []string{"https://a.com/"}}, `"https://a.com/" is not an origin`},
		{"origin without scheme", middleware.CORSOptions{AllowedOrigins: []string{"a.com"}}, `"a.com" is not an origin`},
		{"wildcard inside", middleware.CORSOptions{AllowedOrigins: []string{"https://a.*.com"}}, "is not an origin"},
		{"bare wildcard", middleware.CORSOptions{AllowedOrigins: []string{"https://*"}}, "is not an origin"},
		{"bad port", middleware.CORSOptions{AllowedOrigins: []string{"https://a.com:x"}}, "is not an origin"},
		{"bad method", middleware.CORSOptions{AllowedMethods: []string{"GET POST"}}, "AllowedMethods"},
		{"bad header", middleware.CORSOptions{AllowedHeaders: []string{"X-A\r\nX-B"}}, "AllowedHeaders"},
		{"exposed star with credentials", middleware.CORSOptions{AllowedOrigins: []string{"https://a.com"}, AllowCredentials: true, ExposedHeaders: []string{"*"}}, "ExposedHeaders"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.HasPrefix(msg, "middleware: CORS: ") || !strings.Contains(msg, tc.msg) {
					t.Errorf("panic %q, want one starting with %q containing %q", msg, "middleware: CORS: ", tc.msg)
				}
			}()
			middleware.CORS(tc.opts)
		})
	}
}
