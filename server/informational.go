package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
)

// ErrNotInformational is returned by WriteInformational for a status code
// outside 100..199, or 101, which only the server itself may send.
var ErrNotInformational = errors.New("server: not an informational status code")

// ErrFinalHeaderWritten is returned by WriteInformational once the final
// response header has been written (by WriteHeader, the first Write or a
// Flush) or the connection hijacked: an informational response can only
// come before the final one.
var ErrFinalHeaderWritten = errors.New("server: informational response after the final response header")

// WriteInformational sends an informational (1xx) response with exactly
// the header fields of h, on HTTP/1.1 and HTTP/2 alike, before the final
// response. The handler's own header map is left as it was. To an
// HTTP/1.0 client it sends nothing (RFC 9110 section 15.2) and returns
// nil. Once the final response header has been written, or the
// connection hijacked, it sends nothing and returns an error wrapping
// [ErrFinalHeaderWritten]; it can tell on every protocol for the writer a
// molt Server gives its handler, and for any wrapper of that writer with
// an Unwrap method.
func WriteInformational(w http.ResponseWriter, r *http.Request, code int, h http.Header) error {
	if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
		return fmt.Errorf("%w: %d", ErrNotInformational, code)
	}
	if finalHeaderWritten(w) {
		return fmt.Errorf("%w: %d not sent", ErrFinalHeaderWritten, code)
	}
	if !r.ProtoAtLeast(1, 1) {
		return nil
	}
	hdr := w.Header()
	saved := hdr.Clone()
	clear(hdr)
	for k, v := range h {
		hdr[http.CanonicalHeaderKey(k)] = v
	}
	w.WriteHeader(code)
	clear(hdr)
	for k, v := range saved {
		hdr[k] = v
	}
	return nil
}

// EarlyHints sends 103 Early Hints with one Link field per link, such as
// `</app.css>; rel=preload; as=style`, so the client can start fetching
// while the handler prepares the final response (RFC 8297).
func EarlyHints(w http.ResponseWriter, r *http.Request, links ...string) error {
	return WriteInformational(w, r, http.StatusEarlyHints, http.Header{"Link": links})
}

// Processing sends 102 Processing, telling the client that a slow request
// is still being worked on (RFC 2518).
func Processing(w http.ResponseWriter, r *http.Request) error {
	return WriteInformational(w, r, http.StatusProcessing, nil)
}

// responseWriter is the writer a Server gives every handler: net/http's or
// the engine's, noting whether the final response header was written,
// which WriteInformational must know and neither writer tells. It passes
// everything else through, and Unwrap gives http.ResponseController the
// writer below.
type responseWriter struct {
	http.ResponseWriter
	ctx   context.Context // the request's, for CloseNotify
	final bool            // the final header is written, or the connection hijacked
}

// h1Writer is the responseWriter of HTTP/1.1 requests. One lives in each
// connection and serves its requests in turn, since net/http serves one
// request of a connection at a time.
type h1Writer struct {
	responseWriter
	// body is the request's body if the core began reading it for an h2c
	// upgrade it then declined (see readUpgradeBody); Hijack checks it.
	body *bodyReader
}

// errHijackBody is Hijack's error while the core holds part of the
// request body.
var errHijackBody = errors.New("server: cannot hijack the connection while the core still reads, or holds unread bytes of, the body of this request (a declined h2c upgrade): read the body first")

// h2Writer is the responseWriter of HTTP/2 streams.
type h2Writer struct {
	responseWriter
	log *slog.Logger // the server's
}

// WriteHeader passes code on, but for a 101 Switching Protocols, which
// HTTP/2 does not have (RFC 9113 section 8.6): a handler that answers one
// was written for HTTP/1.1's Upgrade. x/net's engine would send it as an
// interim response and then a 200, molt's as a 500 (which it is here, on
// both), with an error logged.
func (w *h2Writer) WriteHeader(code int) {
	if code == http.StatusSwitchingProtocols {
		w.log.Error("handler answered 101 Switching Protocols over HTTP/2, which has none; sent 500 instead")
		code = http.StatusInternalServerError
	}
	w.responseWriter.WriteHeader(code)
}

// The interfaces the writers keep.
var (
	_ http.Flusher                              = (*h1Writer)(nil)
	_ http.Hijacker                             = (*h1Writer)(nil)
	_ http.CloseNotifier                        = (*h1Writer)(nil)
	_ io.ReaderFrom                             = (*h1Writer)(nil)
	_ io.StringWriter                           = (*h1Writer)(nil)
	_ interface{ FlushError() error }           = (*h1Writer)(nil)
	_ interface{ Unwrap() http.ResponseWriter } = (*h1Writer)(nil)
	_ http.Flusher                              = (*h2Writer)(nil)
	_ http.Pusher                               = (*h2Writer)(nil)
	_ http.CloseNotifier                        = (*h2Writer)(nil)
	_ io.StringWriter                           = (*h2Writer)(nil)
	_ interface{ FlushError() error }           = (*h2Writer)(nil)
	_ interface{ Unwrap() http.ResponseWriter } = (*h2Writer)(nil)
)

// finalHeaderWritten reports whether the final header of the response
// that w, or a writer w wraps, belongs to has been written.
func finalHeaderWritten(w http.ResponseWriter) bool {
	for w != nil {
		switch t := w.(type) {
		case *h1Writer:
			return t.final
		case *h2Writer:
			return t.final
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
	return false
}

// Unwrap returns the writer below, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// WriteHeader notes a final status (not 1xx, or 101) and passes code on.
func (w *responseWriter) WriteHeader(code int) {
	if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
		w.final = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.final = true
	return w.ResponseWriter.Write(p)
}

func (w *responseWriter) WriteString(s string) (int, error) {
	w.final = true
	return io.WriteString(w.ResponseWriter, s)
}

// FlushError flushes the writer below, which writes the header if it has
// not been.
func (w *responseWriter) FlushError() error {
	w.final = true
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *responseWriter) Flush() { _ = w.FlushError() }

// CloseNotify implements the deprecated http.CloseNotifier, which
// net/http's and x/net's writers implement and which older code, and
// writer wrappers such as gin's, assert without checking: net/http's own
// CloseNotify.
func (w *h1Writer) CloseNotify() <-chan bool {
	if cn, ok := w.ResponseWriter.(http.CloseNotifier); ok {
		return cn.CloseNotify()
	}
	return w.closeNotify()
}

// CloseNotify implements the deprecated http.CloseNotifier, which
// net/http's and x/net's writers implement and which older code, and
// writer wrappers such as gin's, assert without checking. Its channel
// receives true when the stream's context ends, which every engine
// ends when the client resets the stream or the connection goes. (It is
// not the engine's own CloseNotify: x/net's hands out one channel and one
// value per stream, and on stream 1 of an upgraded connection the core
// takes that value itself; see stream1Context.)
func (w *h2Writer) CloseNotify() <-chan bool { return w.closeNotify() }

// closeNotify returns a channel that receives true when the request's
// context ends.
func (w *responseWriter) closeNotify() <-chan bool {
	ch := make(chan bool, 1)
	context.AfterFunc(w.ctx, func() { ch <- true })
	return ch
}

// ReadFrom keeps net/http's sendfile path.
func (w *h1Writer) ReadFrom(r io.Reader) (int64, error) {
	w.final = true
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
}

// Hijack takes the connection over from net/http. It refuses while the
// core's own reading of a declined upgrade's body is still going on, or
// has bytes the handler has not read: the hijacker would read the
// connection at the same time as that goroutine, and never see those
// bytes.
func (w *h1Writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.body != nil && w.body.pending() {
		return nil, nil, errHijackBody
	}
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.final = true
	}
	return c, brw, err
}

// Push initiates an HTTP/2 server push where the engine supports it.
func (w *h2Writer) Push(target string, opts *http.PushOptions) error {
	if p, ok := w.ResponseWriter.(http.Pusher); ok {
		return p.Push(target, opts)
	}
	return http.ErrNotSupported
}
