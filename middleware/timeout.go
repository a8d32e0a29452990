package middleware

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// TimeoutOptions configures Timeout. Duration is required.
type TimeoutOptions struct {
	// Duration is how long the handler has to start its response. It
	// must be positive.
	Duration time.Duration

	// Status is the status code of the timeout answer, from 400 to 599.
	// Default 503 Service Unavailable.
	Status int

	// Body is the text/plain body of the timeout answer. Default: the
	// status text and a newline, as http.Error writes it.
	Body string

	// Handler, if set, writes the timeout answer instead of Status and
	// Body (setting it together with either of them panics). It is called
	// with the server's own ResponseWriter and the request as Timeout got
	// it, while the timed-out handler is held off: its writes wait, then
	// fail.
	Handler http.Handler
}

// Timeout gives each request a deadline. The handler runs in a goroutine
// of its own with a request context that expires after o.Duration.
//
// The handler's writes go straight through, not into a buffer, so
// streaming and Flush work as usual. What decides is whether the handler
// began its response (WriteHeader, Write, Flush or Hijack) before the
// deadline:
//
//   - If it did, the response is the handler's. The deadline then only
//     cancels the request's context, and Timeout waits for the handler
//     to return, however long it takes.
//   - If it did not, the response is the timeout answer (503 with a short
//     text by default). It is sent at the deadline, and Timeout returns,
//     so the client is answered even while the handler ignores its
//     context; or sooner after the deadline, when the handler writes or
//     returns first (a handler that answers its expired context with an
//     error of its own still gets the timeout answer). The handler is cut
//     off: its Write, WriteHeader, Flush, Hijack and deadline changes do
//     nothing and return http.ErrHandlerTimeout, while it goes on in its
//     goroutine until it returns.
//
// A request whose context is cancelled before the deadline (the client
// went away, or on HTTP/1.1 only closed its side of the connection,
// which net/http reports the same way) is not a timeout: the handler sees
// its context cancelled and may still answer, as it may without Timeout,
// since a half-closed client still reads the response. Timeout waits for
// it until the deadline, and sends the timeout answer only if the handler
// has not begun its response by then. A handler that returns without an
// answer sends none, and Logger logs the request as 499 at level Info,
// not as a 503.
//
// The handler and the timer take a lock for every step, so a late handler
// never races with the answer. The writer the handler gets keeps its own
// header map (copied to the real response when the response begins), and
// its Unwrap returns nil: handing out the writer below would let a late
// handler write past the deadline. http.ResponseController still reaches
// Flush, Hijack, SetReadDeadline, SetWriteDeadline and EnableFullDuplex,
// which the writer implements itself, and reports http.ErrNotSupported
// for anything else. Informational (1xx) responses pass through before
// the deadline, with the handler's header fields, and do not count as
// the start of the response: a timeout answer after a 103 Early Hints
// carries the fields of the middleware outside Timeout, not the 103's.
//
// What middleware inside Timeout find out about the request (RequestID,
// ClientIP, BasicAuth) reaches the middleware outside it (Logger,
// Recoverer) when the handler returns or panics, not while a handler cut
// off by the timeout answer still runs.
//
// A panic in the handler is raised again in the serving goroutine while
// Timeout waits for the handler, so Recoverer and net/http see it, as a
// *PanicError that carries the panic value and the stack of the
// handler's goroutine (Recoverer logs those); http.ErrAbortHandler is
// raised again as it is. Once the timeout answer was sent nothing waits
// any more, and a panic of the late handler is dropped.
//
// An HTTP/1.1 upgrade (see IsUpgrade: a bodyless GET with Upgrade
// fields, such as a WebSocket handshake, or a bodyless CONNECT) gets the
// deadline for its handshake only: the handler must hijack the connection
// (or send 101 Switching Protocols) by then, or the client gets the
// timeout answer, as for any request; its context has no deadline, and is
// not cancelled once the handler took the connection, so the session
// outlives o.Duration. A handler that answers such a request with an
// ordinary response has declined the upgrade: its context is cancelled at
// the deadline, as every other request's is.
// A CONNECT over HTTP/2 (a WebSocket by RFC 8441) passes through
// untouched, with no deadline. Upgrade fields on any other request change
// nothing. Timeout panics if Duration is not positive, Status is
// outside 400..599, or Handler is set together with Status or Body.
func Timeout(o TimeoutOptions) func(http.Handler) http.Handler {
	if o.Duration <= 0 {
		panic(fmt.Sprintf("middleware: Timeout: Duration must be positive, got %v", o.Duration))
	}
	if o.Handler != nil && (o.Status != 0 || o.Body != "") {
		panic("middleware: Timeout: Handler is set together with Status or Body")
	}
	if o.Status == 0 {
		o.Status = http.StatusServiceUnavailable
	}
	if o.Status < 400 || o.Status > 599 {
		panic(fmt.Sprintf("middleware: Timeout: Status must be within 400..599, got %d", o.Status))
	}
	if o.Body == "" {
		o.Body = http.StatusText(o.Status) + "\n"
	}
	return func(next http.Handler) http.Handler {
		return &timeoutHandler{next: next, o: o}
	}
}

type timeoutHandler struct {
	next http.Handler
	o    TimeoutOptions
}

func (h *timeoutHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	upgrade := IsUpgrade(r)
	if upgrade && r.ProtoMajor != 1 {
		// A CONNECT over HTTP/2 (a WebSocket by RFC 8441, a tunnel): its
		// body and response are the session, however long it lasts.
		h.next.ServeHTTP(w, r)
		return
	}
	var (
		ctx    context.Context
		cancel context.CancelCauseFunc
	)
	deadline := time.Now().Add(h.o.Duration)
	if upgrade {
		ctx, cancel = context.WithCancelCause(r.Context())
	} else {
		var cancelTimeout context.CancelFunc
		ctx, cancelTimeout = context.WithTimeout(r.Context(), h.o.Duration)
		cancel = func(error) { cancelTimeout() }
	}
	defer cancel(context.Canceled)
	tw := &timeoutWriter{w: w, h: w.Header().Clone(), ctx: ctx, deadline: deadline, answer: func() { h.answer(w, r) }}
	if upgrade {
		// An HTTP/1.1 upgrade has the deadline for its handshake only:
		// once the handler took the connection (Hijack, or a 101) its
		// context has no deadline, so the session can outlive it. A
		// handler that answers with an ordinary response has declined
		// the upgrade, and its context ends at the deadline as any
		// request's does: the request's Upgrade fields, which any client
		// can add, buy it no more time.
		t := time.AfterFunc(h.o.Duration, func() {
			tw.mu.Lock()
			defer tw.mu.Unlock()
			if !tw.upgraded {
				cancel(context.DeadlineExceeded)
			}
		})
		defer t.Stop()
	}
	done := make(chan struct{})
	panicked := make(chan any, 1)
	r2 := r.WithContext(ctx)
	// The handler's goroutine gets its own copy of what middleware learn
	// about the request, copied back once it returned or panicked: after
	// a timeout answer the middleware outside read theirs while it runs.
	outer := infoFrom(r.Context())
	var inner *requestInfo
	if outer != nil {
		ic := &infoContext{Context: ctx, info: *outer}
		inner = &ic.info
		r2 = r.WithContext(ic)
	}
	copyBack := func() {
		if outer != nil {
			outer.id, outer.clientIP, outer.user = inner.id, inner.clientIP, inner.user
		}
	}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				panicked <- handlerPanic(p)
				return
			}
			close(done)
		}()
		h.next.ServeHTTP(tw, r2)
		tw.finish()
	}()
	select {
	case <-done:
		copyBack()
		return
	case p := <-panicked:
		copyBack()
		panic(p)
	case <-ctx.Done():
	}
	if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		// Cancelled before the deadline: the handler may still answer (a
		// half-closed HTTP/1.1 client reads it), until the deadline.
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		select {
		case <-done:
			copyBack()
			return
		case p := <-panicked:
			copyBack()
			panic(p)
		case <-t.C:
		}
	}
	cut := func() bool {
		tw.mu.Lock()
		defer tw.mu.Unlock() // even if the answer panics
		return tw.cutLocked()
	}
	if cut() {
		return
	}
	// The response is the handler's: it may use w until it returns.
	select {
	case <-done:
		copyBack()
	case p := <-panicked:
		copyBack()
		panic(p)
	}
}

// handlerPanic returns what Timeout raises again in the serving goroutine
// for the panic value p recovered in the handler's goroutine: p wrapped
// in a PanicError with this goroutine's stack, unless p is
// http.ErrAbortHandler or a PanicError already (of a Timeout inside
// this one). It must be called by the deferred function that recovered
// p, for the stack to show where the handler panicked.
func handlerPanic(p any) any {
	if _, ok := p.(*PanicError); ok || p == http.ErrAbortHandler {
		return p
	}
	return &PanicError{Value: p, Stack: debug.Stack()}
}

// answer writes the timeout answer to w. The caller holds the lock of the
// handler's writer.
func (h *timeoutHandler) answer(w http.ResponseWriter, r *http.Request) {
	if h.o.Handler != nil {
		h.o.Handler.ServeHTTP(w, r)
		return
	}
	hdr := w.Header()
	hdr.Del("Content-Encoding")
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(h.o.Body)))
	w.WriteHeader(h.o.Status)
	w.Write([]byte(h.o.Body))
}

// timeoutWriter is the writer a handler under Timeout gets. Every method
// that reaches the server's writer takes mu, and refuses once the timeout
// answer was sent.
type timeoutWriter struct {
	w        http.ResponseWriter // the server's writer; used only under mu
	h        http.Header         // the handler's header map
	ctx      context.Context     // the handler's context, with the deadline
	deadline time.Time           // when the handler's time is up
	answer   func()              // writes the timeout answer to w

	mu       sync.Mutex
	started  bool  // the handler's response began: the response is its own
	upgraded bool  // the handler took the connection: Hijack or a 101
	timedOut bool  // the handler was cut off: refuse everything
	cutErr   error // what the refused calls return
}

// cutLocked reports whether the handler is cut off from the response. If
// the deadline has passed and the handler's response has not begun, the
// timeout answer is sent now, whichever goroutine gets here first: so a
// handler that answers its expired context itself still gets the timeout
// answer, every time. The caller holds mu.
func (tw *timeoutWriter) cutLocked() bool {
	if !tw.timedOut && !tw.started && tw.ctx.Err() != nil {
		if !errors.Is(context.Cause(tw.ctx), context.DeadlineExceeded) && time.Now().Before(tw.deadline) {
			// The request's context was cancelled before the deadline:
			// the client went away, or half-closed its connection and
			// still reads. The handler may answer, as without Timeout.
			return false
		}
		tw.timedOut = true
		tw.cutErr = http.ErrHandlerTimeout
		tw.answer()
	}
	return tw.timedOut
}

// The interfaces that http.ResponseController looks for.
var (
	_ http.ResponseWriter                            = (*timeoutWriter)(nil)
	_ http.Flusher                                   = (*timeoutWriter)(nil)
	_ http.Hijacker                                  = (*timeoutWriter)(nil)
	_ interface{ FlushError() error }                = (*timeoutWriter)(nil)
	_ interface{ SetReadDeadline(time.Time) error }  = (*timeoutWriter)(nil)
	_ interface{ SetWriteDeadline(time.Time) error } = (*timeoutWriter)(nil)
	_ interface{ EnableFullDuplex() error }          = (*timeoutWriter)(nil)
	_ interface{ Unwrap() http.ResponseWriter }      = (*timeoutWriter)(nil)
)

// Header returns the handler's own header map, copied to the real
// response when the handler writes its header.
func (tw *timeoutWriter) Header() http.Header { return tw.h }

// copyHeader makes the real response's header the handler's. The caller
// holds mu.
func (tw *timeoutWriter) copyHeader() {
	dst := tw.w.Header()
	clear(dst)
	maps.Copy(dst, tw.h)
}

// startLocked commits the response to the handler. The caller holds mu
// and has checked cutLocked.
func (tw *timeoutWriter) startLocked() {
	if !tw.started {
		tw.started = true
		tw.copyHeader()
	}
}

// WriteHeader sends the handler's header, unless the deadline passed.
func (tw *timeoutWriter) WriteHeader(code int) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.cutLocked() {
		return
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		if tw.started {
			tw.w.WriteHeader(code) // let the server report the late call
			return
		}
		// The 1xx goes out with the handler's fields, and the real header
		// is the outer middleware's again afterwards: the timeout answer
		// must not lose theirs nor carry the 1xx's.
		dst := tw.w.Header()
		saved := dst.Clone()
		tw.copyHeader()
		tw.w.WriteHeader(code)
		clear(dst)
		maps.Copy(dst, saved)
		return
	}
	if !tw.started {
		tw.started = true
		tw.upgraded = code == http.StatusSwitchingProtocols
		tw.copyHeader()
		tw.w.WriteHeader(code)
		return
	}
	tw.w.WriteHeader(code) // let the server report the superfluous call
}

// Write writes to the response, or returns http.ErrHandlerTimeout once
// the timeout answer was sent.
func (tw *timeoutWriter) Write(p []byte) (int, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.cutLocked() {
		return 0, tw.cutErr
	}
	tw.startLocked()
	return tw.w.Write(p)
}

// FlushError flushes the response, or returns http.ErrHandlerTimeout once
// the timeout answer was sent.
func (tw *timeoutWriter) FlushError() error {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.cutLocked() {
		return tw.cutErr
	}
	tw.startLocked()
	return http.NewResponseController(tw.w).Flush()
}

// Flush is FlushError for code that asserts http.Flusher.
func (tw *timeoutWriter) Flush() { _ = tw.FlushError() }

// Hijack takes over the connection where the server allows it, unless
// the timeout answer was sent (http.ErrHandlerTimeout).
func (tw *timeoutWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.cutLocked() {
		return nil, nil, tw.cutErr
	}
	c, rw, err := http.NewResponseController(tw.w).Hijack()
	if err == nil {
		tw.started, tw.upgraded = true, true
	}
	return c, rw, err
}

// SetReadDeadline sets the read deadline of the request, unless the
// timeout answer was sent.
func (tw *timeoutWriter) SetReadDeadline(t time.Time) error {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.cutLocked() {
		return tw.cutErr
	}
	return http.NewResponseController(tw.w).SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline of the response, unless the
// timeout answer was sent.
func (tw *timeoutWriter) SetWriteDeadline(t time.Time) error {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.cutLocked() {
		return tw.cutErr
	}
	return http.NewResponseController(tw.w).SetWriteDeadline(t)
}

// EnableFullDuplex lets the handler read the request body while writing
// the response on HTTP/1.1, unless the timeout answer was sent.
func (tw *timeoutWriter) EnableFullDuplex() error {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.cutLocked() {
		return tw.cutErr
	}
	return http.NewResponseController(tw.w).EnableFullDuplex()
}

// Unwrap returns nil: the writer below is not handed out, so that a
// handler cannot keep it and write past the deadline. See Timeout.
func (tw *timeoutWriter) Unwrap() http.ResponseWriter { return nil }

// finish runs when the handler returns. Unless it was cut off, it passes
// on the header fields the handler set without writing (net/http sends
// them with its implicit 200) or after writing the header (where the
// server looks for trailers).
func (tw *timeoutWriter) finish() {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if !tw.cutLocked() {
		tw.started = true
		tw.copyHeader()
	}
}
