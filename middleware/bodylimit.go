package middleware

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// BodyLimitOptions configures BodyLimit. Limit is required.
type BodyLimitOptions struct {
	// Limit is the largest request body accepted, in bytes. It must be
	// positive.
	Limit int64

	// Handler, if set, writes the answer to a request whose body is too
	// large, instead of the default 413 with a short text. It must not
	// read the request body.
	Handler http.Handler
}

// BodyLimit refuses request bodies larger than o.Limit bytes with 413
// Request Entity Too Large (Content Too Large in RFC 9110).
//
// A request that announces a larger Content-Length is answered at once;
// the handler does not run. A body of unknown length (chunked on
// HTTP/1.1, or HTTP/2 DATA without content-length) is read through
// http.MaxBytesReader: the read that would go past the limit fails with
// an *http.MaxBytesError. If the handler has not begun its response by
// then, the response becomes the 413: it is sent when the handler next
// writes (WriteHeader, Write or Flush), or when it returns, and from then
// on the handler's writes do nothing and return the *http.MaxBytesError.
// So a handler that answers the read error with http.Error, or just
// returns, still sends 413. A handler that had begun its response keeps
// it.
//
// The handler never sees the rest of a body over the limit, and the
// connection does not serve another request after it. On HTTP/1.1 the
// connection is closed after the response: net/http's MaxBytesReader does
// that when it reaches the server's writer through the Unwrap chain of
// the writers in front of BodyLimit (net/http then reads at most 256 KiB
// more, to close without losing the response), and when a writer in
// between hides it (Timeout's does), the 413 carries "Connection: close".
// On HTTP/2 the stream is reset with NO_ERROR once the response is
// complete (RFC 9113 section 8.1), and the connection goes on serving
// other streams.
//
// HTTP/2 CONNECT requests pass through untouched: their body is a
// stream, not an upload (see IsUpgrade). Upgrade and Connection fields
// do not lift the limit, nor does the CONNECT method over HTTP/1.1: an
// HTTP/1.1 upgrade or tunnel has no body. BodyLimit panics if Limit is
// not positive.
func BodyLimit(o BodyLimitOptions) func(http.Handler) http.Handler {
	if o.Limit <= 0 {
		panic(fmt.Sprintf("middleware: BodyLimit: Limit must be positive, got %d", o.Limit))
	}
	return func(next http.Handler) http.Handler {
		return &bodyLimitHandler{next: next, o: o}
	}
}

type bodyLimitHandler struct {
	next http.Handler
	o    BodyLimitOptions
}

func (h *bodyLimitHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Body == nil || r.Body == http.NoBody || IsUpgrade(r):
		h.next.ServeHTTP(w, r)
		return
	case r.ContentLength > h.o.Limit:
		h.answer(w, r)
		return
	case r.ContentLength >= 0:
		// The server holds the body to its Content-Length.
		h.next.ServeHTTP(w, r)
		return
	}
	lw := &bodyLimitWriter{w: w, r: r, h: h}
	r2 := new(http.Request)
	*r2 = *r
	r2.Body = &bodyLimitBody{
		ReadCloser: http.MaxBytesReader(bodyLimitServerWriter(w), r.Body, h.o.Limit),
		lw:         lw,
	}
	h.next.ServeHTTP(lw, r2)
	lw.finish()
}

// answer writes the 413 answer.
func (h *bodyLimitHandler) answer(w http.ResponseWriter, r *http.Request) {
	if h.o.Handler != nil {
		h.o.Handler.ServeHTTP(w, r)
		return
	}
	http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
}

// bodyLimitServerWriter follows the Unwrap chain from w down to the last
// writer, the server's own unless a writer in between hides it.
func bodyLimitServerWriter(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		inner := u.Unwrap()
		if inner == nil {
			return w
		}
		w = inner
	}
}

// bodyLimitBody is the request body under BodyLimit: it tells the writer
// when the limit was hit.
type bodyLimitBody struct {
	io.ReadCloser // from http.MaxBytesReader
	lw            *bodyLimitWriter
}

func (b *bodyLimitBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if _, ok := err.(*http.MaxBytesError); ok {
		b.lw.hit.Store(true)
	}
	return n, err
}

// bodyLimitWriter is the writer of a handler under BodyLimit. Once the
// limit was hit before the handler began its response, it sends the 413
// in the handler's place and refuses the handler's writes.
type bodyLimitWriter struct {
	w   http.ResponseWriter
	r   *http.Request
	h   *bodyLimitHandler
	hit atomic.Bool // the body went over the limit; set by the body

	started  bool // the handler's response began
	answered bool // the 413 was sent in its place
}

// The interfaces that the wrapper keeps.
var (
	_ http.ResponseWriter                       = (*bodyLimitWriter)(nil)
	_ http.Flusher                              = (*bodyLimitWriter)(nil)
	_ http.Hijacker                             = (*bodyLimitWriter)(nil)
	_ interface{ FlushError() error }           = (*bodyLimitWriter)(nil)
	_ interface{ Unwrap() http.ResponseWriter } = (*bodyLimitWriter)(nil)
)

// cut reports whether the handler is cut off from the response, and
// sends the 413 if the limit was hit before the response began.
func (lw *bodyLimitWriter) cut() bool {
	if !lw.answered && !lw.started && lw.hit.Load() {
		lw.answered = true
		if lw.r.ProtoMajor == 1 {
			lw.w.Header().Set("Connection", "close")
		}
		lw.h.answer(lw.w, lw.r)
	}
	return lw.answered
}

func (lw *bodyLimitWriter) err() error { return &http.MaxBytesError{Limit: lw.h.o.Limit} }

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (lw *bodyLimitWriter) Unwrap() http.ResponseWriter { return lw.w }

// Header returns the header map of the wrapped writer.
func (lw *bodyLimitWriter) Header() http.Header { return lw.w.Header() }

// WriteHeader passes code on, unless the response is the 413.
func (lw *bodyLimitWriter) WriteHeader(code int) {
	if lw.cut() {
		return
	}
	if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
		lw.started = true
	}
	lw.w.WriteHeader(code)
}

// Write passes p on, unless the response is the 413.
func (lw *bodyLimitWriter) Write(p []byte) (int, error) {
	if lw.cut() {
		return 0, lw.err()
	}
	lw.started = true
	return lw.w.Write(p)
}

// FlushError flushes the response, unless it is the 413.
func (lw *bodyLimitWriter) FlushError() error {
	if lw.cut() {
		return lw.err()
	}
	lw.started = true
	return http.NewResponseController(lw.w).Flush()
}

// Flush is FlushError for code that asserts http.Flusher.
func (lw *bodyLimitWriter) Flush() { _ = lw.FlushError() }

// Hijack takes over the connection where the server allows it, unless
// the response is the 413.
func (lw *bodyLimitWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if lw.cut() {
		return nil, nil, lw.err()
	}
	c, rw, err := http.NewResponseController(lw.w).Hijack()
	if err == nil {
		lw.started = true
	}
	return c, rw, err
}

// finish sends the 413 if the handler returned without a response after
// the limit was hit.
func (lw *bodyLimitWriter) finish() { lw.cut() }
