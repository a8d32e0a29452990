package middleware_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

// logRecorder is a slog.Handler that keeps each record as a map of its
// attributes' string values, plus "level" and "msg".
type logRecorder struct {
	min     slog.Level
	records chan map[string]string
}

func newLogRecorder(min slog.Level) *logRecorder {
	return &logRecorder{min: min, records: make(chan map[string]string, 100)}
}

func (h *logRecorder) logger() *slog.Logger { return slog.New(h) }

func (h *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"level": r.Level.String(), "msg": r.Message}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	h.records <- m
	return nil
}

func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// next returns the next record, failing the test if none comes in a long
// while (a hang guard, not a timing assertion).
func (h *logRecorder) next(t *testing.T) map[string]string {
	t.Helper()
	select {
	case m := <-h.records:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no log record")
		return nil
	}
}

// none fails the test if a record is waiting.
func (h *logRecorder) none(t *testing.T) {
	t.Helper()
	select {
	case m := <-h.records:
		t.Errorf("unexpected log record %v", m)
	default:
	}
}

// checkLogRecord compares the attributes of rec named in want; a value of
// "-" means the attribute must be absent.
func checkLogRecord(t *testing.T, rec map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := rec[k]
		switch {
		case v == "-" && ok:
			t.Errorf("record has %s=%q, want none (record %v)", k, got, rec)
		case v != "-" && got != v:
			t.Errorf("record has %s=%q, want %q (record %v)", k, got, v, rec)
		}
	}
}

// logTestHandler answers /status/N with status N and body "hello", /empty
// with nothing, and reports r.RemoteAddr in X-Remote.
var logTestHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Remote", r.RemoteAddr)
	if code, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
		n, _ := strconv.Atoi(code)
		w.WriteHeader(n)
		io.WriteString(w, "hello")
	}
})

func logGet(t *testing.T, c *http.Client, url string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	h2ctest.ReadBody(t, resp)
	return resp
}

func TestLogger(t *testing.T) { h2ctest.Run(t, testLogger) }

func testLogger(t *testing.T, mode h2ctest.Mode) {
	rec := newLogRecorder(slog.LevelDebug)
	logger := middleware.Logger(middleware.LoggerOptions{Logger: rec.logger()})
	requestID := middleware.RequestID(middleware.RequestIDOptions{})
	clientIP := middleware.ClientIP(middleware.ClientIPOptions{})
	stacks := []struct {
		name  string
		stack []func(http.Handler) http.Handler // outermost first
		info  bool                              // RequestID and ClientIP run
	}{
		{"logger alone", []func(http.Handler) http.Handler{logger}, false},
		{"logger first", []func(http.Handler) http.Handler{logger, requestID, clientIP}, true},
		{"logger last", []func(http.Handler) http.Handler{requestID, clientIP, logger}, true},
		{"logger between", []func(http.Handler) http.Handler{clientIP, logger, requestID}, true},
	}
	requests := []struct {
		path   string
		status string
		bytes  string
		level  string
	}{
		{"/empty", "200", "0", "INFO"},
		{"/status/201", "201", "5", "INFO"},
		{"/status/404", "404", "5", "WARN"},
		{"/status/503", "503", "5", "ERROR"},
	}
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			var h http.Handler = logTestHandler
			for i := len(st.stack) - 1; i >= 0; i-- {
				h = st.stack[i](h)
			}
			ts := h2ctest.NewServer(t, h)
			c := ts.Client(t, mode)
			for _, rq := range requests {
				resp := logGet(t, c, ts.URL+rq.path+"?q=1", "X-Request-Id", "incoming-"+rq.path)
				if got := strconv.Itoa(resp.StatusCode); got != rq.status {
					t.Errorf("GET %s: status %s, want %s", rq.path, got, rq.status)
				}
				remote := resp.Header.Get("X-Remote")
				id := "-"
				if st.info {
					remote = remote[:strings.LastIndexByte(remote, ':')] // the client IP
					id = "incoming-" + rq.path
				}
				checkLogRecord(t, rec.next(t), map[string]string{
					"msg":        "request",
					"level":      rq.level,
					"method":     "GET",
					"path":       rq.path,
					"status":     rq.status,
					"bytes":      rq.bytes,
					"protocol":   string(mode),
					"remote":     remote,
					"request_id": id,
					"hijacked":   "-",
					"panic":      "-",
				})
			}
			rec.none(t)
		})
	}
}

// A request with a generated ID is logged with that ID, the one in the
// response header.
func TestLoggerGeneratedID(t *testing.T) { h2ctest.Run(t, testLoggerGeneratedID) }

func testLoggerGeneratedID(t *testing.T, mode h2ctest.Mode) {
	rec := newLogRecorder(slog.LevelDebug)
	h := middleware.Logger(middleware.LoggerOptions{Logger: rec.logger()})(
		middleware.RequestID(middleware.RequestIDOptions{})(logTestHandler))
	ts := h2ctest.NewServer(t, h)
	resp := logGet(t, ts.Client(t, mode), ts.URL+"/x", "X-Request-Id", "bad id with spaces")
	id := resp.Header.Get("X-Request-Id")
	if id == "" || id == "bad id with spaces" {
		t.Fatalf("X-Request-Id %q, want a generated one", id)
	}
	checkLogRecord(t, rec.next(t), map[string]string{"request_id": id})
}

func TestLoggerSkipPathsAndLevel(t *testing.T) { h2ctest.Run(t, testLoggerSkipPathsAndLevel) }

func testLoggerSkipPathsAndLevel(t *testing.T, mode h2ctest.Mode) {
	rec := newLogRecorder(slog.LevelWarn) // Info lines are not enabled
	h := middleware.Logger(middleware.LoggerOptions{
		Logger:    rec.logger(),
		SkipPaths: []string{"/status/500"},
		Level: func(status int) slog.Level {
			if status == 418 {
				return slog.LevelWarn + 1
			}
			return slog.LevelInfo
		},
	})(logTestHandler)
	ts := h2ctest.NewServer(t, h)
	c := ts.Client(t, mode)
	// Each request completes before the next starts, and a line is logged
	// before the response ends: a record for a request would come before
	// the record for the 418.
	logGet(t, c, ts.URL+"/status/500") // skipped
	logGet(t, c, ts.URL+"/status/200") // level Info: not enabled
	logGet(t, c, ts.URL+"/status/418")
	checkLogRecord(t, rec.next(t), map[string]string{"path": "/status/418", "status": "418", "level": "WARN+1"})
	rec.none(t)
}

// Logger reports hijacked connections (HTTP/1.1); over HTTP/2 the hijack
// fails and the request is logged as any other.
func TestLoggerHijacked(t *testing.T) { h2ctest.Run(t, testLoggerHijacked) }

func testLoggerHijacked(t *testing.T, mode h2ctest.Mode) {
	rec := newLogRecorder(slog.LevelDebug)
	h := middleware.Logger(middleware.LoggerOptions{Logger: rec.logger()})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				if !errors.Is(err, http.ErrNotSupported) {
					t.Errorf("Hijack: %v, want ErrNotSupported", err)
				}
				io.WriteString(w, "not hijacked")
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
			brw.Flush()
		}))
	ts := h2ctest.NewServer(t, h)
	resp, err := ts.Client(t, mode).Get(ts.URL + "/h")
	if err != nil {
		t.Fatal(err)
	}
	body := string(h2ctest.ReadBody(t, resp))
	want := map[string]string{"path": "/h", "status": "101", "bytes": "0", "hijacked": "true"}
	wantBody := "hijacked"
	if mode != h2ctest.H1 {
		want = map[string]string{"path": "/h", "status": "200", "bytes": "12", "hijacked": "-"}
		wantBody = "not hijacked"
	}
	if body != wantBody {
		t.Errorf("body %q, want %q", body, wantBody)
	}
	checkLogRecord(t, rec.next(t), want)
}

// A panic that goes through Logger is logged as a 500 with panic=true,
// whether Recoverer is outside (it then writes the 500) or not there.
func TestLoggerPanic(t *testing.T) { h2ctest.Run(t, testLoggerPanic) }

func testLoggerPanic(t *testing.T, mode h2ctest.Mode) {
	rec := newLogRecorder(slog.LevelDebug)
	h := middleware.Recoverer(middleware.RecovererOptions{Logger: rec.logger()})(
		middleware.Logger(middleware.LoggerOptions{Logger: rec.logger()})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") })))
	ts := h2ctest.NewServer(t, h)
	resp := logGet(t, ts.Client(t, mode), ts.URL+"/p")
	if resp.StatusCode != 500 {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	checkLogRecord(t, rec.next(t), map[string]string{"msg": "request", "status": "500", "panic": "true", "level": "ERROR"})
	checkLogRecord(t, rec.next(t), map[string]string{"msg": "handler panicked", "panic": "boom", "response": "500"})
}

// Outside a molt server the protocol is r.Proto; a handler that writes
// nothing is logged as 200.
func TestLoggerNotMolt(t *testing.T) {
	rec := newLogRecorder(slog.LevelDebug)
	h := middleware.Logger(middleware.LoggerOptions{Logger: rec.logger()})(logTestHandler)
	req := httptest.NewRequest("POST", "/empty", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	h.ServeHTTP(httptest.NewRecorder(), req)
	checkLogRecord(t, rec.next(t), map[string]string{
		"method": "POST", "path": "/empty", "status": "200", "protocol": "HTTP/1.1", "remote": "192.0.2.1:1234",
	})
}

// The remote attribute is the client IP that ClientIP found, including a
// forwarded one and an IPv6 one.
func TestLoggerRemote(t *testing.T) {
	for _, tc := range []struct {
		remoteAddr, xff, want string
	}{
		{"192.0.2.1:1234", "", "192.0.2.1"},
		{"[2001:db8::1]:443", "", "2001:db8::1"},
		{"[fe80::1%eth0]:443", "", "fe80::1%eth0"},
		{"10.0.0.1:1234", "203.0.113.9", "203.0.113.9"},
		{"@", "", "@"}, // not an IP address: RemoteAddr as it is
	} {
		rec := newLogRecorder(slog.LevelDebug)
		h := middleware.Logger(middleware.LoggerOptions{Logger: rec.logger()})(
			middleware.ClientIP(middleware.ClientIPOptions{Header: "X-Forwarded-For", TrustedProxies: middleware.TrustedProxies{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}})(logTestHandler))
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = tc.remoteAddr
		if tc.xff != "" {
			req.Header.Set("X-Forwarded-For", tc.xff)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
		if got := rec.next(t)["remote"]; got != tc.want {
			t.Errorf("RemoteAddr %q, X-Forwarded-For %q: remote %q, want %q", tc.remoteAddr, tc.xff, got, tc.want)
		}
	}
}

// The wrapper Logger puts before the handler still flushes and hijacks.
func TestLoggerKeepsCapabilities(t *testing.T) {
	h := middleware.Logger(middleware.LoggerOptions{Logger: slog.New(slog.DiscardHandler)})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := w.(interface{ Unwrap() http.ResponseWriter }); !ok {
				t.Error("no Unwrap")
			}
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("Flush: %v", err)
			}
		}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !rec.Flushed {
		t.Error("the recorder was not flushed")
	}
}

// BenchmarkStack measures a typical stack, Recoverer + RequestID + Logger,
// against the bare handler: go test -bench Stack -benchmem ./middleware
func BenchmarkStack(b *testing.B) {
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	stacks := map[string]http.Handler{
		"bare":      bare,
		"recoverer": middleware.Recoverer(middleware.RecovererOptions{})(bare),
		"requestid": middleware.RequestID(middleware.RequestIDOptions{})(bare),
		"logger":    middleware.Logger(middleware.LoggerOptions{Logger: logger})(bare),
		"logger-disabled": middleware.Logger(middleware.LoggerOptions{
			Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError})),
		})(bare),
		"recoverer+requestid+logger": middleware.Recoverer(middleware.RecovererOptions{})(
			middleware.RequestID(middleware.RequestIDOptions{})(
				middleware.Logger(middleware.LoggerOptions{Logger: logger})(bare))),
	}
	for _, name := range []string{"bare", "recoverer", "requestid", "logger", "logger-disabled", "recoverer+requestid+logger"} {
		h := stacks[name]
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/some/path", nil)
			w := &logBenchWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	}
}

// logBenchWriter is a ResponseWriter that allocates nothing.
type logBenchWriter struct{ h http.Header }

func (w *logBenchWriter) Header() http.Header         { return w.h }
func (w *logBenchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *logBenchWriter) WriteHeader(int)             {}
