package middleware_test

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

func TestResponseWriterRecords(t *testing.T) {
	for _, tc := range []struct {
		name   string
		handle func(w http.ResponseWriter)
		status int
		bytes  int64
		wrote  bool
	}{
		{"nothing", func(w http.ResponseWriter) {}, 0, 0, false},
		{"write", func(w http.ResponseWriter) { io.WriteString(w, "hello") }, 200, 5, true},
		{"status", func(w http.ResponseWriter) { w.WriteHeader(404) }, 404, 0, true},
		{"status then body", func(w http.ResponseWriter) { w.WriteHeader(201); w.Write([]byte("ab")) }, 201, 2, true},
		{"second status ignored", func(w http.ResponseWriter) { w.WriteHeader(202); w.WriteHeader(500) }, 202, 0, true},
		{"informational first", func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(204) }, 204, 0, true},
		{"informational only", func(w http.ResponseWriter) { w.WriteHeader(103) }, 0, 0, false},
		{"read from", func(w http.ResponseWriter) { w.(io.ReaderFrom).ReadFrom(strings.NewReader("abcdef")) }, 200, 6, true},
		{"flush", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }, 200, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := middleware.Wrap(rec)
			tc.handle(w)
			if w.Status() != tc.status || w.BytesWritten() != tc.bytes || w.WroteHeader() != tc.wrote {
				t.Errorf("status %d, bytes %d, wrote %v; want %d, %d, %v",
					w.Status(), w.BytesWritten(), w.WroteHeader(), tc.status, tc.bytes, tc.wrote)
			}
			if tc.bytes > 0 && int64(rec.Body.Len()) != tc.bytes {
				t.Errorf("recorder got %d bytes, want %d", rec.Body.Len(), tc.bytes)
			}
		})
	}
}

func TestWrapReusesAWrapper(t *testing.T) {
	w := middleware.Wrap(httptest.NewRecorder())
	if middleware.Wrap(w) != w {
		t.Error("Wrap of a *ResponseWriter made another wrapper")
	}
	if w.Unwrap() == nil {
		t.Error("Unwrap returned nil")
	}
}

// Under several wrappers, http.ResponseController still flushes a stream
// in every mode, and hijacks an HTTP/1.1 connection (and reports
// ErrNotSupported over HTTP/2).
func TestResponseWriterKeepsFlushAndHijack(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		flushed := make(chan struct{})
		wrap := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// Two distinct wrappers: one of ours over a foreign one.
				next.ServeHTTP(middleware.Wrap(foreignWriter{w}), r)
			})
		}
		h := wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rc := http.NewResponseController(w)
			switch r.URL.Path {
			case "/stream":
				// The client's reading the first line before the handler
				// returns proves the flush; its error is not checked, since
				// the client may already have read the line and reset the
				// stream by the time Flush returns.
				io.WriteString(w, "first\n")
				rc.Flush()
				<-flushed
				io.WriteString(w, "second\n")
			case "/hijack":
				c, brw, err := rc.Hijack()
				if mode != h2ctest.H1 {
					if !errors.Is(err, http.ErrNotSupported) {
						t.Errorf("Hijack over HTTP/2: %v, want ErrNotSupported", err)
					}
					w.WriteHeader(http.StatusNotImplemented)
					return
				}
				if err != nil {
					t.Errorf("Hijack: %v", err)
					return
				}
				defer c.Close()
				brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
				brw.Flush()
			}
		}))
		ts := h2ctest.NewServer(t, h)
		c := ts.Client(t, mode)

		resp, err := c.Get(ts.URL + "/stream")
		if err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		close(flushed) // the handler finishes only after the first line arrived
		if err != nil || line != "first\n" {
			t.Fatalf("first line %q, %v", line, err)
		}
		resp.Body.Close()

		resp, err = c.Get(ts.URL + "/hijack")
		if err != nil {
			t.Fatal(err)
		}
		body := string(h2ctest.ReadBody(t, resp))
		switch {
		case mode == h2ctest.H1 && body != "hijacked":
			t.Errorf("hijacked response %q", body)
		case mode != h2ctest.H1 && resp.StatusCode != http.StatusNotImplemented:
			t.Errorf("status %d, want 501", resp.StatusCode)
		}
	})
}

// foreignWriter is a third-party style wrapper that implements only
// Unwrap.
type foreignWriter struct{ http.ResponseWriter }

func (w foreignWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
