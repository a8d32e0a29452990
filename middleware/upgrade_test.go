package middleware_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
	"github.com/molt-http/molt/server"
)

func TestIsUpgrade(t *testing.T) {
	ws := func(method string, body io.Reader) *http.Request {
		r := httptest.NewRequest(method, "/", body)
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Connection", "keep-alive, Upgrade")
		return r
	}
	http10 := ws("GET", nil)
	http10.Proto, http10.ProtoMajor, http10.ProtoMinor = "HTTP/1.0", 1, 0
	http2 := ws("GET", nil)
	http2.Proto, http2.ProtoMajor, http2.ProtoMinor = "HTTP/2.0", 2, 0
	noToken := ws("GET", nil)
	noToken.Header.Set("Connection", "keep-alive")
	h2c := ws("GET", nil)
	h2c.Header.Set("Upgrade", "h2c")
	h2cAndWS := ws("GET", nil)
	h2cAndWS.Header["Upgrade"] = []string{"H2C, ", "websocket/13"}
	empty := ws("GET", nil)
	empty.Header.Set("Upgrade", " , ")
	connectBody := httptest.NewRequest("CONNECT", "/", strings.NewReader("body"))
	connectChunked := httptest.NewRequest("CONNECT", "/", io.MultiReader(strings.NewReader("body")))
	connectH2 := httptest.NewRequest("CONNECT", "/", strings.NewReader("body"))
	connectH2.Proto, connectH2.ProtoMajor, connectH2.ProtoMinor = "HTTP/2.0", 2, 0
	connectH2.Header[":protocol"] = []string{"websocket"}
	tests := []struct {
		name string
		r    *http.Request
		want bool
	}{
		{"WebSocket handshake", ws("GET", nil), true},
		{"CONNECT", httptest.NewRequest("CONNECT", "/", nil), true},
		{"HTTP/1.1 CONNECT with a body", connectBody, false},
		{"HTTP/1.1 CONNECT with a chunked body", connectChunked, false},
		{"HTTP/2 CONNECT with a body", connectH2, true},
		{"plain GET", httptest.NewRequest("GET", "/", nil), false},
		{"POST with upgrade fields", ws("POST", strings.NewReader("body")), false},
		{"POST with upgrade fields, no body", ws("POST", nil), false},
		{"GET with upgrade fields and a body", ws("GET", strings.NewReader("body")), false},
		{"GET with upgrade fields and a chunked body", ws("GET", io.MultiReader(strings.NewReader("body"))), false},
		{"HTTP/1.0", http10, false},
		{"HTTP/2 stream", http2, false},
		{"no upgrade token in Connection", noToken, false},
		{"declined h2c upgrade", h2c, false},
		{"h2c or websocket", h2cAndWS, true},
		{"empty Upgrade", empty, false},
	}
	for _, tt := range tests {
		if got := middleware.IsUpgrade(tt.r); got != tt.want {
			t.Errorf("%s: IsUpgrade = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestUpgradeFieldsKeepLimits attacks a live server with requests that
// carry "Upgrade: websocket" and "Connection: Upgrade" but are no
// handshake: a chunked POST of 1 MiB and a GET with a chunked body under
// a 1 KiB BodyLimit get 413 with at most the limit read, and a POST or a
// bodyless GET under Timeout whose handler never takes the connection
// gets the 503. On h2c-upgrade the client's own
// upgrade request carries "Upgrade: h2c" and "Connection: Upgrade"; the
// server declines to upgrade a body that large and serves it over
// HTTP/1.1 with those fields. HTTP/2 cannot carry the fields at all
// (RFC 9113 section 8.2.2), so h2c-prior sends the requests without them.
func TestUpgradeFieldsKeepLimits(t *testing.T) { h2ctest.Run(t, testUpgradeFieldsKeepLimits) }

func testUpgradeFieldsKeepLimits(t *testing.T, mode h2ctest.Mode) {
	const limit = 1 << 10
	var maxRead atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("/limit", middleware.BodyLimit(middleware.BodyLimitOptions{Limit: limit})(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			if n > maxRead.Load() {
				maxRead.Store(n)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			io.WriteString(w, "read it all")
		})))
	mux.Handle("/timeout", middleware.Timeout(middleware.TimeoutOptions{Duration: tmoShort})(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			if _, ok := r.Context().Deadline(); !ok && r.Method != http.MethodGet {
				io.WriteString(w, "no deadline")
				return
			}
			// A bodyless GET with Upgrade fields has the handshake's
			// deadline, which the context does not show; the bound keeps
			// a broken Timeout from hanging the test.
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute / 4):
				io.WriteString(w, "no deadline")
			}
		})))
	ts := h2ctest.NewServer(t, mux)
	c := ts.Client(t, mode)
	big := strings.Repeat("x", 1<<20)
	tests := []struct {
		method, path string
		body         io.Reader
		want         int
	}{
		{"POST", "/limit", blOnlyReader{strings.NewReader(big)}, http.StatusRequestEntityTooLarge},
		{"GET", "/limit", blOnlyReader{strings.NewReader(big)}, http.StatusRequestEntityTooLarge},
		{"PUT", "/limit", strings.NewReader(big), http.StatusRequestEntityTooLarge},
		{"POST", "/timeout", strings.NewReader("small"), http.StatusServiceUnavailable},
		{"POST", "/timeout", nil, http.StatusServiceUnavailable},
		{"GET", "/timeout", nil, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		req := blMust(http.NewRequest(tt.method, ts.URL+tt.path, tt.body))
		if mode != h2ctest.H2CPrior {
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Connection", "Upgrade")
		}
		resp, body := blDo(t, c, req)
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s with upgrade fields: %d %q, want %d", tt.method, tt.path, resp.StatusCode, body, tt.want)
		}
	}
	if n := maxRead.Load(); n > limit {
		t.Errorf("a handler read %d bytes under a limit of %d", n, limit)
	}
}

// TestDeclinedH2CUpgradeServed: a GET whose h2c upgrade the server
// declined (upgrades turned off here) is an ordinary HTTP/1.1 request:
// Static serves its file and Compress codes it, instead of passing it on
// as an upgrade.
func TestDeclinedH2CUpgradeServed(t *testing.T) {
	fsys := fstest.MapFS{"app.txt": {Data: []byte(strings.Repeat("static text ", 200))}}
	h := middleware.Compress(middleware.CompressOptions{})(
		middleware.Static(fsys, middleware.StaticOptions{})(http.NotFoundHandler()))
	ts := h2ctest.NewServer(t, h, func(c *server.Config) { c.DisableH2CUpgrade = true })
	req := blMust(http.NewRequest("GET", ts.URL+"/app.txt", nil))
	req.Header.Set("Accept-Encoding", "gzip")
	resp, _ := blDo(t, ts.Client(t, h2ctest.H2CUpgrade), req)
	if resp.ProtoMajor != 1 || resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("declined upgrade: HTTP/%d %d, Content-Encoding %q; want HTTP/1 200 gzip",
			resp.ProtoMajor, resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
}

// TestConnectBodyKeepsLimits attacks a live server over HTTP/1.1 with
// CONNECT requests in origin form ("CONNECT /limit HTTP/1.1"), which
// net/http accepts and whose Content-Length or chunked body it reads like
// any other: a route that takes every method serves them. Such a request
// is no tunnel (a CONNECT has no content) and must get BodyLimit's 413
// and Timeout's deadline; a bodyless CONNECT still passes as a tunnel.
func TestConnectBodyKeepsLimits(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		const limit = 1 << 10
		var maxRead atomic.Int64
		mux := http.NewServeMux()
		mux.Handle("/limit", middleware.BodyLimit(middleware.BodyLimitOptions{Limit: limit})(http.HandlerFunc(
			func(w http.ResponseWriter, r *http.Request) {
				n, err := io.Copy(io.Discard, r.Body)
				if n > maxRead.Load() {
					maxRead.Store(n)
				}
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				io.WriteString(w, "read it all")
			})))
		mux.Handle("/timeout", middleware.Timeout(middleware.TimeoutOptions{Duration: time.Minute})(http.HandlerFunc(
			func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if _, ok := r.Context().Deadline(); ok {
					io.WriteString(w, "deadline")
					return
				}
				io.WriteString(w, "no deadline")
			})))
		ts := h2ctest.NewServer(t, mux)
		kib := strings.Repeat("x", 1<<10)
		tests := []struct {
			name, path, head, body string
			code                   int
			want                   string
		}{
			{"Content-Length", "/limit", "Content-Length: 2048\r\n", kib + kib, http.StatusRequestEntityTooLarge, ""},
			{"chunked", "/limit", "Transfer-Encoding: chunked\r\n", "400\r\n" + kib + "\r\n400\r\n" + kib + "\r\n0\r\n\r\n", http.StatusRequestEntityTooLarge, ""},
			{"Timeout, Content-Length", "/timeout", "Content-Length: 5\r\n", "small", http.StatusOK, "deadline"},
			{"Timeout, chunked", "/timeout", "Transfer-Encoding: chunked\r\n", "5\r\nsmall\r\n0\r\n\r\n", http.StatusOK, "deadline"},
			{"Timeout, no body", "/timeout", "", "", http.StatusOK, "no deadline"},
		}
		for _, tt := range tests {
			c := ts.Dial(t)
			fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: x\r\n%s\r\n%s", tt.path, tt.head, tt.body)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			c.Close()
			if resp.StatusCode != tt.code || tt.want != "" && string(body) != tt.want {
				t.Errorf("%s: %d %q, want %d %q", tt.name, resp.StatusCode, body, tt.code, tt.want)
			}
		}
		if n := maxRead.Load(); n > limit {
			t.Errorf("a handler read %d bytes under a limit of %d", n, limit)
		}
	}, h2ctest.H1)
}
