package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

// On every protocol: unsafe cross-origin browser requests are refused
// with 403 before the handler runs; same-origin ones, safe methods,
// trusted origins and bypassed routes reach it.
func TestCrossOrigin(t *testing.T) { h2ctest.Run(t, testCrossOrigin) }

func testCrossOrigin(t *testing.T, mode h2ctest.Mode) {
	var served atomic.Int64
	h := middleware.CrossOrigin(middleware.CrossOriginOptions{
		TrustedOrigins:         []string{"https://app.example"},
		InsecureBypassPatterns: []string{"POST /webhooks/", "/oauth/callback"},
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		fmt.Fprint(w, "ok")
	}))
	ts := h2ctest.NewServer(t, h)
	self := "http://" + ts.Addr
	const (
		cross = "cross-site"
		evil  = "https://evil.example"
	)
	tests := []struct {
		name, method, path string
		site, origin       string // Sec-Fetch-Site, Origin; "" for none
		want               int
	}{
		{"GET cross-site", "GET", "/", cross, evil, 200},
		{"HEAD cross-site", "HEAD", "/", cross, evil, 200},
		{"OPTIONS cross-site", "OPTIONS", "/", cross, evil, 200},
		{"POST cross-site", "POST", "/", cross, evil, 403},
		{"PUT cross-site", "PUT", "/", cross, evil, 403},
		{"PATCH cross-site", "PATCH", "/", cross, evil, 403},
		{"DELETE cross-site", "DELETE", "/", cross, evil, 403},
		{"POST cross-site, no Origin", "POST", "/", cross, "", 403},
		{"POST same-site", "POST", "/", "same-site", "https://sub.example", 403},
		{"POST same-origin", "POST", "/", "same-origin", self, 200},
		{"POST same-origin, forged Origin", "POST", "/", "same-origin", evil, 200}, // a browser sets both; Sec-Fetch-Site decides
		{"POST typed by the user", "POST", "/", "none", "", 200},
		{"POST not from a browser", "POST", "/", "", "", 200},
		{"POST old browser, same host", "POST", "/", "", self, 200},
		{"POST old browser, other host", "POST", "/", "", evil, 403},
		{"POST old browser, Origin null", "POST", "/", "", "null", 403},
		{"POST old browser, garbage Origin", "POST", "/", "", "::::", 403},
		{"POST trusted origin", "POST", "/", cross, "https://app.example", 200},
		{"POST trusted origin, old browser", "POST", "/", "", "https://app.example", 200},
		{"POST origin like a trusted one", "POST", "/", cross, "https://app.example.evil", 403},
		{"POST trusted origin, other scheme", "POST", "/", cross, "http://app.example", 403},
		{"POST trusted origin, other port", "POST", "/", cross, "https://app.example:8443", 403},
		{"POST bypassed route", "POST", "/webhooks/github", cross, evil, 200},
		{"PUT on a POST bypass", "PUT", "/webhooks/github", cross, evil, 403},
		{"POST beside a bypass, redirected by ServeMux", "POST", "/webhooks", cross, evil, 403},
		{"POST uncleaned path to a bypass", "POST", "/x/../webhooks/github", cross, evil, 403},
		{"DELETE any-method bypass", "DELETE", "/oauth/callback", cross, evil, 200},
	}
	for _, tc := range tests {
		before := served.Load()
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader("a=1"))
		if tc.site != "" {
			req.Header.Set("Sec-Fetch-Site", tc.site)
		}
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := ts.Client(t, mode).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body := string(h2ctest.ReadBody(t, resp))
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
		if ran := served.Load() != before; ran != (tc.want == 200) {
			t.Errorf("%s: handler ran %v, want %v", tc.name, ran, tc.want == 200)
		}
		if tc.want == 403 && tc.method != "HEAD" && !strings.Contains(body, "cross-origin") {
			t.Errorf("%s: body %q does not say why", tc.name, body)
		}
	}
}

// A WebSocket handshake is a GET over HTTP/1.1 and a CONNECT over HTTP/2:
// neither is refused, whatever its origin, so both protocols behave
// alike; the WebSocket's own Origin check is what guards it.
func TestCrossOriginWebSocketHandshakes(t *testing.T) {
	h := middleware.CrossOrigin(middleware.CrossOriginOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	ws := httptest.NewRequest("GET", "/chat", nil)
	ws.Header.Set("Connection", "Upgrade")
	ws.Header.Set("Upgrade", "websocket")
	connect := httptest.NewRequest("CONNECT", "/chat", nil)
	connect.Proto, connect.ProtoMajor, connect.ProtoMinor = "HTTP/2.0", 2, 0
	connect.Header[":protocol"] = []string{"websocket"}
	post := httptest.NewRequest("POST", "/chat", nil) // for contrast
	for name, r := range map[string]*http.Request{"HTTP/1.1 GET": ws, "HTTP/2 CONNECT": connect, "POST": post} {
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		r.Header.Set("Sec-Fetch-Mode", "websocket")
		r.Header.Set("Origin", "https://evil.example")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		want := http.StatusTeapot
		if r.Method == "POST" {
			want = http.StatusForbidden
		}
		if w.Code != want {
			t.Errorf("%s: %d, want %d", name, w.Code, want)
		}
	}
}

// Handler answers refusals in every mode.
func TestCrossOriginHandler(t *testing.T) { h2ctest.Run(t, testCrossOriginHandler) }

func testCrossOriginHandler(t *testing.T, mode h2ctest.Mode) {
	h := middleware.CrossOrigin(middleware.CrossOriginOptions{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no forms from elsewhere at "+r.URL.Path, http.StatusTeapot)
		}),
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	ts := h2ctest.NewServer(t, h)
	for _, tc := range []struct {
		site, want string
		status     int
	}{
		{"cross-site", "no forms from elsewhere at /form\n", http.StatusTeapot},
		{"same-origin", "ok", http.StatusOK},
	} {
		req, _ := http.NewRequest("POST", ts.URL+"/form", strings.NewReader("x"))
		req.Header.Set("Sec-Fetch-Site", tc.site)
		resp, err := ts.Client(t, mode).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(h2ctest.ReadBody(t, resp)); resp.StatusCode != tc.status || got != tc.want {
			t.Errorf("%s: %d %q, want %d %q", tc.site, resp.StatusCode, got, tc.status, tc.want)
		}
	}
}

func TestCrossOriginBadOptions(t *testing.T) {
	for _, o := range []middleware.CrossOriginOptions{
		{TrustedOrigins: []string{"app.example"}},
		{TrustedOrigins: []string{"https://"}},
		{TrustedOrigins: []string{"https://app.example/"}},
		{TrustedOrigins: []string{"https://app.example/path"}},
		{TrustedOrigins: []string{"https://app.example?q"}},
		{TrustedOrigins: []string{"%zz"}},
		{InsecureBypassPatterns: []string{"/a/{x"}},
		{InsecureBypassPatterns: []string{"POST /a/", "POST /a/"}},
		{InsecureBypassPatterns: []string{""}},
	} {
		func() {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.HasPrefix(msg, "middleware: CrossOrigin: ") {
					t.Errorf("%+v: panic %q, want one starting with %q", o, msg, "middleware: CrossOrigin: ")
				}
			}()
			middleware.CrossOrigin(o)
		}()
	}
}

// Over HTTP/2 by prior knowledge, a cross-site CONNECT reaches the
// handler, as the WebSocket handshake it stands for over HTTP/1.1 does,
// and a cross-site POST on the same connection does not.
func TestCrossOriginConnectOverHTTP2(t *testing.T) {
	h2ctest.Run(t, testCrossOriginConnectOverHTTP2, h2ctest.H2CPrior)
}

func testCrossOriginConnectOverHTTP2(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, middleware.CrossOrigin(middleware.CrossOriginOptions{})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s HTTP/%d", r.Method, r.ProtoMajor)
		})))
	client := ts.Client(t, mode)
	for _, tc := range []struct {
		method string
		status int
		body   string
	}{
		{"CONNECT", 200, "CONNECT HTTP/2"},
		{"POST", 403, ""},
	} {
		req, _ := http.NewRequest(tc.method, ts.URL+"/", nil)
		if tc.method == "CONNECT" {
			req.URL.Path = "" // an HTTP/2 CONNECT names only the authority
		}
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://evil.example")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.method, err)
		}
		body := string(h2ctest.ReadBody(t, resp))
		if resp.StatusCode != tc.status || (tc.status == 200 && body != tc.body) {
			t.Errorf("%s: %d %q, want %d %q", tc.method, resp.StatusCode, body, tc.status, tc.body)
		}
	}
}

// Behind CORS, as docs/middleware.md orders them: the preflight is
// answered, and the cross-site request itself passes CrossOrigin only if
// its origin is trusted there too.
func TestCrossOriginBehindCORS(t *testing.T) {
	const app = "https://app.example"
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	for _, tc := range []struct {
		name    string
		trusted []string
		method  string
		want    int
	}{
		{"preflight", nil, "OPTIONS", http.StatusNoContent},
		{"POST, origin allowed by CORS only", nil, "POST", http.StatusForbidden},
		{"POST, origin trusted by CrossOrigin too", []string{app}, "POST", http.StatusOK},
	} {
		h := middleware.CORS(middleware.CORSOptions{AllowedOrigins: []string{app}})(
			middleware.CrossOrigin(middleware.CrossOriginOptions{TrustedOrigins: tc.trusted})(ok))
		req := httptest.NewRequest(tc.method, "http://api.example/items", nil)
		req.Header.Set("Origin", app)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if tc.method == "OPTIONS" {
			req.Header.Set("Access-Control-Request-Method", "POST")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, w.Code, tc.want)
		}
	}
}
