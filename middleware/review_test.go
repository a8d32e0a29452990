package middleware_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

// "If-Match: *" is true whenever there is a current representation (RFC
// 9110 section 13.1.1), whether its tag is strong or weak.
func TestReviewETagIfMatchStarWeak(t *testing.T) { h2ctest.Run(t, testReviewETagIfMatchStarWeak) }

func testReviewETagIfMatchStarWeak(t *testing.T, mode h2ctest.Mode) {
	own := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/own-weak" {
			w.Header().Set("ETag", `W/"v7"`)
		}
		w.Write([]byte("body"))
	})
	for _, tt := range []struct {
		name string
		opts middleware.ETagOptions
		path string
	}{
		{"Weak option", middleware.ETagOptions{Weak: true}, "/"},
		{"handler's weak tag", middleware.ETagOptions{}, "/own-weak"},
	} {
		ts := h2ctest.NewServer(t, middleware.ETag(tt.opts)(own))
		req, _ := http.NewRequest("GET", ts.URL+tt.path, nil)
		req.Header.Set("If-Match", "*")
		resp, err := ts.Client(t, mode).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := h2ctest.ReadBody(t, resp)
		if resp.StatusCode != 200 || string(body) != "body" {
			t.Errorf("%s: If-Match: * gave %d %q, want 200 %q", tt.name, resp.StatusCode, body, "body")
		}
	}
}

// A precompressed variant whose If-Match fails gets a 412 without the
// variant's Content-Length: the 412 has no body.
func TestReviewStaticPrecompressed412(t *testing.T) { h2ctest.Run(t, testReviewStaticPrecompressed412) }

func testReviewStaticPrecompressed412(t *testing.T, mode h2ctest.Mode) {
	mod := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	fsys := fstest.MapFS{
		"app.js":    {Data: []byte(`console.log("app")`), ModTime: mod},
		"app.js.gz": {Data: []byte("GZ:app, some bytes"), ModTime: mod},
	}
	ts := h2ctest.NewServer(t, middleware.Static(fsys, middleware.StaticOptions{Precompressed: true})(http.NotFoundHandler()))
	client := ts.Client(t, mode)
	for _, field := range []string{"If-Match", "If-Unmodified-Since"} {
		for i := range 2 { // twice: an HTTP/1.1 connection must stay in sync
			req, _ := http.NewRequest("GET", ts.URL+"/app.js", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			if field == "If-Match" {
				req.Header.Set("If-Match", `"other"`)
			} else {
				req.Header.Set("If-Unmodified-Since", "Sat, 01 Mar 2020 12:00:00 GMT")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s #%d: %v", field, i, err)
			}
			body := h2ctest.ReadBody(t, resp)
			if resp.StatusCode != http.StatusPreconditionFailed || len(body) != 0 {
				t.Errorf("%s #%d: %d with %d bytes, want 412 without a body", field, i, resp.StatusCode, len(body))
			}
			if cl := resp.Header.Get("Content-Length"); cl != "" && cl != "0" {
				t.Errorf("%s #%d: Content-Length %q on a 412 without a body", field, i, cl)
			}
			if ce := resp.Header.Get("Content-Encoding"); ce != "" {
				t.Errorf("%s #%d: Content-Encoding %q on a 412 without a body", field, i, ce)
			}
		}
	}
}

// Middleware inside Timeout that record what they learn about a request
// (RequestID, ClientIP) run on the handler's goroutine; Logger outside
// reads it after Timeout answered, while that goroutine is still running.
func TestReviewTimeoutInfoNoRace(t *testing.T) {
	release := make(chan struct{})
	returned := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(returned)
		<-release
	})
	h := middleware.Logger(middleware.LoggerOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})(
		middleware.Timeout(middleware.TimeoutOptions{Duration: 10 * time.Millisecond})(
			middleware.RequestID(middleware.RequestIDOptions{})(
				middleware.ClientIP(middleware.ClientIPOptions{})(slow))))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	close(release)
	<-returned
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", rec.Code)
	}
}

// What RequestID and ClientIP inside Timeout find still reaches Logger
// outside it when the handler returns in time.
func TestReviewTimeoutInfoReachesLogger(t *testing.T) {
	rec := newLogRecorder(slog.LevelInfo)
	h := middleware.Logger(middleware.LoggerOptions{Logger: rec.logger()})(
		middleware.Timeout(middleware.TimeoutOptions{Duration: time.Minute})(
			middleware.RequestID(middleware.RequestIDOptions{Generate: func() string { return "id-1" }})(
				middleware.ClientIP(middleware.ClientIPOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Write([]byte("ok"))
				})))))
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "192.0.2.7:1234"
	h.ServeHTTP(httptest.NewRecorder(), req)
	if m := rec.next(t); m["request_id"] != "id-1" || m["remote"] != "192.0.2.7" {
		t.Errorf("request_id %q, remote %q; want id-1, 192.0.2.7", m["request_id"], m["remote"])
	}
}

// An IPv6 literal is a host an origin can have (corsIsHostChars allows
// its brackets and colons).
func TestReviewCORSIPv6Origin(t *testing.T) {
	h := middleware.CORS(middleware.CORSOptions{AllowedOrigins: []string{"http://[::1]:8080", "http://[2001:db8::1]"}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, o := range []string{"http://[::1]:8080", "http://[2001:db8::1]"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Origin", o)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Access-Control-Allow-Origin"); got != o {
			t.Errorf("Origin %s: Access-Control-Allow-Origin %q", o, got)
		}
	}
	for _, bad := range []string{"http://[::1", "http://::1", "http://[::1]x", "http://a:b:80"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%q: no panic", bad)
				}
			}()
			middleware.CORS(middleware.CORSOptions{AllowedOrigins: []string{bad}})
		}()
	}
}
