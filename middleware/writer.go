package middleware

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// ResponseWriter wraps an http.ResponseWriter and records what went
// through it: the status code, the bytes of the body, whether the header
// was written and whether the connection was hijacked. Everything else
// passes through: Unwrap gives http.ResponseController the writer below,
// and Flush and Hijack go to it through a ResponseController, so wrapping
// never hides a capability the server has.
//
// Informational (1xx) responses other than 101 pass through without
// counting as the header. Like any ResponseWriter it is not safe for
// concurrent use.
type ResponseWriter struct {
	w        http.ResponseWriter
	status   int
	bytes    int64
	wrote    bool
	hijacked bool
}

// The interfaces that the wrapper keeps.
var (
	_ http.ResponseWriter                       = (*ResponseWriter)(nil)
	_ http.Flusher                              = (*ResponseWriter)(nil)
	_ http.Hijacker                             = (*ResponseWriter)(nil)
	_ io.StringWriter                           = (*ResponseWriter)(nil)
	_ io.ReaderFrom                             = (*ResponseWriter)(nil)
	_ interface{ Unwrap() http.ResponseWriter } = (*ResponseWriter)(nil)
	_ interface{ FlushError() error }           = (*ResponseWriter)(nil)
)

// Wrap returns a ResponseWriter around w, or w itself if it already is
// one, so that middleware that only watch the response share one wrapper.
func Wrap(w http.ResponseWriter) *ResponseWriter {
	if rw, ok := w.(*ResponseWriter); ok {
		return rw
	}
	return &ResponseWriter{w: w}
}

// Status returns the status code of the response: the one passed to
// WriteHeader, 200 once the body was written or flushed without one, 101
// after a hijack, or 0 if none of that happened yet (net/http then sends
// 200 when the handler returns).
func (w *ResponseWriter) Status() int { return w.status }

// BytesWritten returns the number of body bytes written through w.
func (w *ResponseWriter) BytesWritten() int64 { return w.bytes }

// WroteHeader reports whether the response header was written (or the
// connection hijacked): from then on the status can no longer change.
func (w *ResponseWriter) WroteHeader() bool { return w.wrote }

// Hijacked reports whether the handler took over the connection.
func (w *ResponseWriter) Hijacked() bool { return w.hijacked }

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (w *ResponseWriter) Unwrap() http.ResponseWriter { return w.w }

// Header returns the header map of the wrapped writer.
func (w *ResponseWriter) Header() http.Header { return w.w.Header() }

// WriteHeader records code, unless it is informational, and passes it on.
func (w *ResponseWriter) WriteHeader(code int) {
	if !w.wrote && (code < 100 || code > 199 || code == http.StatusSwitchingProtocols) {
		w.status, w.wrote = code, true
	}
	w.w.WriteHeader(code)
}

func (w *ResponseWriter) implicitHeader() {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
}

// Write writes p to the body and counts it.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	w.implicitHeader()
	n, err := w.w.Write(p)
	w.bytes += int64(n)
	return n, err
}

// WriteString writes s to the body and counts it, without a copy when the
// wrapped writer has WriteString.
func (w *ResponseWriter) WriteString(s string) (int, error) {
	w.implicitHeader()
	n, err := io.WriteString(w.w, s)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom copies r to the body, through the wrapped writer's ReadFrom
// when it has one (net/http's uses sendfile for files on HTTP/1.1).
func (w *ResponseWriter) ReadFrom(r io.Reader) (int64, error) {
	w.implicitHeader()
	var n int64
	var err error
	if rf, ok := w.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{w.w}, r)
	}
	w.bytes += n
	return n, err
}

// writerOnly hides everything but Write, so io.Copy does not call back
// into ReadFrom.
type writerOnly struct{ io.Writer }

// FlushError sends any buffered data to the client, and reports an error
// if the wrapped writer cannot flush or the connection is broken.
func (w *ResponseWriter) FlushError() error {
	w.implicitHeader()
	return http.NewResponseController(w.w).Flush()
}

// Flush is FlushError for code that asserts http.Flusher.
func (w *ResponseWriter) Flush() { _ = w.FlushError() }

// Hijack takes over the connection, when the wrapped writer allows it
// (HTTP/1.1); over HTTP/2 it returns an error wrapping
// http.ErrNotSupported.
func (w *ResponseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.w).Hijack()
	if err == nil {
		w.hijacked = true
		if !w.wrote {
			w.status, w.wrote = http.StatusSwitchingProtocols, true
		}
	}
	return c, rw, err
}
