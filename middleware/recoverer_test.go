package middleware_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

// A panic before anything was written becomes a 500 with a plain text
// body, without the header fields that described the body the handler
// meant to send, and with the request ID kept; it is logged with the
// stack.
func TestRecovererBeforeHeader(t *testing.T) { h2ctest.Run(t, testRecovererBeforeHeader) }

func testRecovererBeforeHeader(t *testing.T, mode h2ctest.Mode) {
	rec := newLogRecorder(slog.LevelDebug)
	h := middleware.Recoverer(middleware.RecovererOptions{Logger: rec.logger()})(
		middleware.RequestID(middleware.RequestIDOptions{})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := w.Header()
				h.Set("Content-Type", "application/json")
				h.Set("Content-Encoding", "gzip")
				h.Set("Content-Length", "1000")
				h.Set("Etag", `"abc"`)
				h.Set("Cache-Control", "public, max-age=3600")
				h.Set("Set-Cookie", "session=half-done")
				h.Set("X-Kept", "yes")
				recovererPanics()
			})))
	ts := h2ctest.NewServer(t, h)
	c := ts.Client(t, mode)
	for i := range 2 { // the connection goes on: a second request works
		req, _ := http.NewRequest("GET", ts.URL+"/crash?x=1", nil)
		req.Header.Set("X-Request-Id", "rid-1")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body := h2ctest.ReadBody(t, resp)
		if resp.StatusCode != 500 || string(body) != "Internal Server Error\n" {
			t.Fatalf("request %d: %d %q, want 500 %q", i, resp.StatusCode, body, "Internal Server Error\n")
		}
		for k, want := range map[string]string{
			"Content-Type":           "text/plain; charset=utf-8",
			"X-Content-Type-Options": "nosniff",
			"Content-Encoding":       "",
			"Etag":                   "",
			"Cache-Control":          "",
			"Set-Cookie":             "",
			"X-Kept":                 "yes",
			"X-Request-Id":           "rid-1",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("request %d: %s %q, want %q", i, k, got, want)
			}
		}
		if resp.ContentLength != int64(len("Internal Server Error\n")) {
			t.Errorf("request %d: Content-Length %d", i, resp.ContentLength)
		}
		r := rec.next(t)
		checkLogRecord(t, r, map[string]string{
			"level":      "ERROR",
			"msg":        "handler panicked",
			"panic":      "test panic",
			"method":     "GET",
			"path":       "/crash",
			"protocol":   string(mode),
			"response":   "500",
			"request_id": "rid-1",
		})
		if !strings.Contains(r["stack"], "recovererPanics") {
			t.Errorf("the stack does not show the panicking function:\n%s", r["stack"])
		}
	}
}

func recovererPanics() { panic("test panic") }

// The panic value may be an error.
func TestRecovererErrorValue(t *testing.T) {
	rec := newLogRecorder(slog.LevelDebug)
	h := middleware.Recoverer(middleware.RecovererOptions{Logger: rec.logger()})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic(errors.New("an error value")) }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/e", nil))
	if w.Code != 500 || w.Body.String() != "Internal Server Error\n" {
		t.Errorf("%d %q, want 500", w.Code, w.Body.String())
	}
	checkLogRecord(t, rec.next(t), map[string]string{"panic": "an error value", "method": "POST", "protocol": "HTTP/1.1", "request_id": "-"})
}

// A panic after the header went out aborts the response: over HTTP/1.1
// the connection is closed and the client sees a truncated body; over
// HTTP/2 only the stream is reset, and the next request goes over the
// same connection. Both for the first request on a connection (stream 1
// of an upgrade) and a later one.
func TestRecovererMidResponse(t *testing.T) { h2ctest.Run(t, testRecovererMidResponse) }

func testRecovererMidResponse(t *testing.T, mode h2ctest.Mode) {
	rec := newLogRecorder(slog.LevelDebug)
	var (
		mu    sync.Mutex
		peers []string // r.RemoteAddr of each request, in order
	)
	h := middleware.Recoverer(middleware.RecovererOptions{Logger: rec.logger()})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			peers = append(peers, r.RemoteAddr)
			mu.Unlock()
			io.WriteString(w, "partial ")
			if r.URL.Path == "/mid" {
				if err := http.NewResponseController(w).Flush(); err != nil {
					t.Errorf("Flush: %v", err)
				}
				panic("mid-response")
			}
			io.WriteString(w, "complete")
		}))
	for _, tc := range []struct {
		name  string
		paths []string
	}{
		{"first request", []string{"/mid", "/ok"}},
		{"later request", []string{"/ok", "/mid", "/ok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			peers = nil
			mu.Unlock()
			ts := h2ctest.NewServer(t, h)
			c := ts.Client(t, mode)
			for _, p := range tc.paths {
				resp, err := c.Get(ts.URL + p)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				if p == "/ok" {
					if err != nil || string(body) != "partial complete" {
						t.Fatalf("GET /ok: %q, %v", body, err)
					}
					continue
				}
				if err == nil {
					t.Fatalf("GET /mid: complete body %q, want an error", body)
				}
				if !strings.HasPrefix("partial ", string(body)) {
					t.Errorf("GET /mid: body %q", body)
				}
				checkLogRecord(t, rec.next(t), map[string]string{"panic": "mid-response", "response": "aborted", "path": "/mid"})
			}
			mu.Lock()
			defer mu.Unlock()
			if len(peers) != len(tc.paths) {
				t.Fatalf("the server saw %d requests, want %d", len(peers), len(tc.paths))
			}
			mid := 0
			if tc.paths[0] != "/mid" {
				mid = 1
			}
			after := peers[mid+1]
			if mode == h2ctest.H1 {
				if after == peers[mid] {
					t.Errorf("HTTP/1.1: the request after the aborted one came over the same connection %s", after)
				}
			} else {
				for i, p := range peers {
					if p != peers[0] {
						t.Errorf("HTTP/2: request %d came from %s, not over the connection %s", i, p, peers[0])
					}
				}
			}
		})
	}
}

// A handler's own panic(http.ErrAbortHandler) passes through untouched
// and is not logged.
func TestRecovererErrAbortHandler(t *testing.T) { h2ctest.Run(t, testRecovererErrAbortHandler) }

func testRecovererErrAbortHandler(t *testing.T, mode h2ctest.Mode) {
	rec := newLogRecorder(slog.LevelDebug)
	h := middleware.Recoverer(middleware.RecovererOptions{Logger: rec.logger()})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/abort" {
				panic(http.ErrAbortHandler)
			}
			panic("other")
		}))
	ts := h2ctest.NewServer(t, h)
	c := ts.Client(t, mode)
	resp, err := c.Get(ts.URL + "/abort")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET /abort: %s, want an error", resp.Status)
	}
	logGet(t, c, ts.URL+"/other")
	// Had the abort been logged, its record would have come first.
	checkLogRecord(t, rec.next(t), map[string]string{"panic": "other", "path": "/other"})
	rec.none(t)
}

// recovererSpy counts writes that reach the server's writer from below it.
type recovererSpy struct {
	http.ResponseWriter
	writes atomic.Int32
}

func (s *recovererSpy) Unwrap() http.ResponseWriter { return s.ResponseWriter }
func (s *recovererSpy) WriteHeader(code int) {
	s.writes.Add(1)
	s.ResponseWriter.WriteHeader(code)
}
func (s *recovererSpy) Write(p []byte) (int, error) {
	s.writes.Add(1)
	return s.ResponseWriter.Write(p)
}

// A panic after the handler hijacked the connection writes nothing; over
// HTTP/2, where the hijack fails, it becomes a 500.
func TestRecovererHijacked(t *testing.T) { h2ctest.Run(t, testRecovererHijacked) }

func testRecovererHijacked(t *testing.T, mode h2ctest.Mode) {
	rec := newLogRecorder(slog.LevelDebug)
	writes := make(chan int32, 1)
	inner := middleware.Recoverer(middleware.RecovererOptions{Logger: rec.logger()})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic("no hijack")
			}
			brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
			brw.Flush()
			conn.Close()
			panic("after hijack")
		}))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		spy := &recovererSpy{ResponseWriter: w}
		inner.ServeHTTP(spy, r)
		writes <- spy.writes.Load()
	})
	ts := h2ctest.NewServer(t, h)
	resp, err := ts.Client(t, mode).Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body := string(h2ctest.ReadBody(t, resp))
	if mode != h2ctest.H1 {
		if resp.StatusCode != 500 {
			t.Errorf("status %d, want 500", resp.StatusCode)
		}
		checkLogRecord(t, rec.next(t), map[string]string{"panic": "no hijack", "response": "500"})
		return
	}
	if resp.StatusCode != 200 || body != "hijacked" {
		t.Errorf("%d %q, want the hijacker's 200 %q", resp.StatusCode, body, "hijacked")
	}
	if n := <-writes; n != 0 {
		t.Errorf("Recoverer wrote %d times to a hijacked connection's writer", n)
	}
	checkLogRecord(t, rec.next(t), map[string]string{"panic": "after hijack", "response": "hijacked"})
}
