package websocket

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/molt-http/molt/server"
)

// closeTimeout bounds every wait of the closing handshake: for the
// write lock, for the peer's close frame, for the close frame's write.
const closeTimeout = 5 * time.Second

// aLongTimeAgo is a deadline in the past, to interrupt a blocked read or
// write at once.
var aLongTimeAgo = time.Unix(1, 0)

// errClosed is returned by operations on a closed Conn.
var errClosed = errors.New("websocket: use of closed connection")

// Conn is a WebSocket connection, over an HTTP/1.1 connection taken over
// after the handshake or over an HTTP/2 stream (RFC 8441).
//
// Reads (Read, AppendMessage, Reader) must come from one goroutine at a
// time; they also answer pings and the peer's close, so an application
// that only writes should still read, if only to discard. Writes (Write,
// Writer, Ping, Close) may come from any number of goroutines: a data
// message is never interleaved with another, and control frames go
// between the frames of a message written with Writer.
//
// A context passed to a read or write that ends during the operation
// interrupts it and fails the connection: it is closed at once, after a
// best-effort close frame 1008 (policy violation) for a read; the
// operation returns the context's error. Deadlines (SetReadDeadline,
// SetWriteDeadline) are a net.Conn's, on HTTP/2 too: when one passes
// during an operation, or before one starts, the operation fails and the
// connection is closed; one that passes while the connection is idle does
// nothing.
type Conn struct {
	req         *http.Request
	http2       bool
	client      bool     // the dialing side: frames out are masked, frames in must not be
	netConn     net.Conn // HTTP/1.1: the hijacked connection; a dialed Conn's transport
	h2          *stream  // HTTP/2, accepted: the stream
	resp        *http.Response
	br          *bufio.Reader
	bw          *bufio.Writer
	subprotocol string
	onPing      func([]byte)
	onPong      func([]byte)

	// permessage-deflate
	deflate   bool
	dp        deflateParams
	threshold int
	ownFlate  bool          // this side keeps a compressor: context takeover or a small window
	wflate    *flate.Writer // the kept compressor, created by the first compressed message
	rflate    io.ReadCloser // kept across messages with the peer's context takeover
	rwindow   window

	readLimit atomic.Int64

	// write side
	msgSem   chan struct{} // held for a whole data message
	frameSem chan struct{} // held while one frame is written
	whdr     [maxHeaderLen]byte
	wvec     [2][]byte   // header and payload of a large frame, for writev
	wbufs    net.Buffers // over wvec
	wsink    byteSink    // compressed output
	wctx     ctxWatch
	mw       messageWriter
	wclosed  bool          // a close frame was written; guarded by frameSem
	maskRand *rand.ChaCha8 // a dialed Conn's mask keys; guarded by frameSem

	// read side
	rsem      chan struct{} // held by the reading goroutine
	rdl       atomic.Int64  // the read deadline in Unix nanoseconds, 0 for none
	rdlMoved  chan struct{} // signalled when the read deadline changes
	rctx      ctxWatch
	rhdr      [maxHeaderLen]byte
	h         frameHeader
	remaining int64 // unread payload bytes of the current data frame
	maskPos   int
	inMsg     bool // a data message is being read
	lastFrame bool // the current data frame has FIN
	msgType   MessageType
	msgComp   bool
	msgRead   int64
	utf8      utf8State
	tailPos   int // bytes of inflateTail given to the decompressor
	msgFlate  io.ReadCloser
	ctrl      [maxControlPayload]byte
	readErr   error // sticky: once a read fails, every later read does
	rawEOF    bool  // the compressed message's frames are all read
	one       [1]byte
	mr        messageReader
	raw       rawReader

	// closing
	closeSent  atomic.Bool
	closeRcvd  chan struct{} // closed when the peer's close frame arrived
	peerClosed atomic.Bool   // the peer's close frame was read, valid or not
	peerClose  *CloseError   // the peer's valid close, set before closeRcvd is closed
	closed     chan struct{} // closed by CloseNow
	closeOnce  sync.Once
	closeCause atomic.Pointer[error] // why the connection was closed, for the reader: the keepalive's error
	unhook     func()
	dlMu       sync.Mutex // orders deadline changes with CloseNow; guards unhook

	pingMu sync.Mutex
	pings  map[string]chan struct{}
}

// newConn builds a Conn over its transport and registers it with the
// serving molt server's shutdown hooks.
func newConn(r *http.Request, opts *Options) *Conn {
	c := &Conn{
		req:       r,
		onPing:    opts.OnPing,
		onPong:    opts.OnPong,
		threshold: opts.compressionThreshold(),
		msgSem:    make(chan struct{}, 1),
		frameSem:  make(chan struct{}, 1),
		rsem:      make(chan struct{}, 1),
		rdlMoved:  make(chan struct{}, 1),
		closeRcvd: make(chan struct{}),
		closed:    make(chan struct{}),
	}
	c.readLimit.Store(opts.readLimit())
	c.mr.c = c
	c.raw.c = c
	c.mw.c = c
	c.rctx.init(c.interruptRead)
	c.wctx.init(c.interruptWrite)
	// A write deadline that resets an HTTP/2 stream ends the request's
	// context, and so the contexts made from it: the write failed by its
	// deadline, not by that context.
	c.wctx.preempted = func() bool { return c.h2 != nil && c.h2.wd.expired() }
	return c
}

func (c *Conn) start() {
	if srv := server.FromRequest(c.req); srv != nil {
		unhook := srv.RegisterOnShutdown(func() {
			c.Close(StatusGoingAway, "server shutting down")
		})
		// During a shutdown the hook runs at once, and its CloseNow
		// reads unhook.
		c.dlMu.Lock()
		c.unhook = unhook
		c.dlMu.Unlock()
	}
}

func (c *Conn) setDeflate(p deflateParams) {
	c.deflate = true
	c.dp = p
	// The compressor (some 500 KiB) is made on first use: many sockets
	// never send a message large enough to compress.
	c.ownFlate = p.ownMaxBits < 15 || !p.ownNoContext
}

// Subprotocol returns the negotiated subprotocol, or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// Request returns the handshake request. For an accepted Conn its
// context is the handler's: over HTTP/1.1 it may end once the handler
// returns. For a dialed Conn it is the request Dial sent.
func (c *Conn) Request() *http.Request { return c.req }

// Response returns the server's handshake response for a Conn made by
// Dial (101 Switching Protocols over HTTP/1.1, 200 over HTTP/2), with
// its headers; its Body is empty. It returns nil for an accepted Conn.
func (c *Conn) Response() *http.Response { return c.resp }

// HTTP2 reports whether the connection is an HTTP/2 stream (RFC 8441).
func (c *Conn) HTTP2() bool { return c.http2 }

// SetReadDeadline sets the deadline for reads, including the wait for the
// peer's close in Close; a zero t means none. It works as a net.Conn's
// deadline, over HTTP/1.1 and HTTP/2 alike: a read in progress when it
// passes, or begun after it, fails with an error wrapping
// os.ErrDeadlineExceeded and fails the connection (close 1006); a
// deadline that passes while nothing is read does nothing, so it can be
// moved before every read. Over HTTP/2 it returns an error once the
// stream has ended.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	if c.isClosed() {
		return errClosed
	}
	var err error
	if c.h2 != nil {
		err = c.h2.setReadDeadline(t)
	} else {
		err = c.netConn.SetReadDeadline(t)
	}
	if err == nil {
		// Kept for the waits of a read that are not reads of the
		// transport: the automatic pong's for the frame lock.
		var ns int64
		if !t.IsZero() {
			ns = t.UnixNano()
		}
		c.rdl.Store(ns)
		select {
		case c.rdlMoved <- struct{}{}:
		default:
		}
	}
	return err
}

// SetWriteDeadline sets the deadline for writes; a zero t means none. A
// write in progress when it passes, or begun after it, fails with an
// error wrapping os.ErrDeadlineExceeded and fails the connection; as for
// SetReadDeadline, an idle connection is left alone.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	if c.isClosed() {
		return errClosed
	}
	if c.h2 != nil {
		return c.h2.setWriteDeadline(t)
	}
	return c.netConn.SetWriteDeadline(t)
}

// SetReadLimit sets the largest message, after decompression, that later
// reads accept; a larger one fails the connection with close 1009. A
// negative n means no limit.
func (c *Conn) SetReadLimit(n int64) { c.readLimit.Store(n) }

func (c *Conn) interruptRead() { c.SetReadDeadline(aLongTimeAgo) }

func (c *Conn) interruptWrite() { c.SetWriteDeadline(aLongTimeAgo) }

// CloseNow closes the connection at once, without a close handshake.
// Blocked reads and writes return. Over HTTP/2 it returns once no write
// is under way, and the stream ends when the handler returns.
func (c *Conn) CloseNow() error {
	err := errClosed
	c.closeOnce.Do(func() {
		err = nil
		c.dlMu.Lock()
		unhook := c.unhook
		c.dlMu.Unlock()
		if unhook != nil {
			unhook()
		}
		c.rctx.stop()
		c.wctx.stop()
		if sc, ok := c.netConn.(*streamConn); ok && c.closeSent.Load() && (isDone(c.closeRcvd) || c.peerClosed.Load()) {
			sc.graceful.Store(true)
		}
		c.dlMu.Lock()
		close(c.closed)
		if c.h2 == nil {
			err = c.netConn.Close()
			c.dlMu.Unlock()
			return
		}
		// Closing the stream ends reads and fails writes; a write in
		// progress is cut short, which resets the stream, else the stream
		// ends cleanly when the handler returns. Take the frame lock and
		// keep it, for the stream's writer is not to be used again (the
		// handler may return next).
		err = c.h2.close()
		c.dlMu.Unlock()
		c.frameSem <- struct{}{}
	})
	return err
}

func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// Close performs the closing handshake: it sends a close frame with code
// and reason (at most 123 bytes of UTF-8), waits for the peer's close
// frame (at most 5 seconds; a concurrent read sees it and returns a
// *CloseError, or else Close reads and discards messages until it
// arrives), then closes the connection. code must be one that may be
// sent: 1000-1003, 1007-1014 or 3000-4999. Calling Close again, or after
// the peer's close, only finishes closing.
func (c *Conn) Close(code StatusCode, reason string) error {
	if !validCode(code) {
		return errors.New("websocket: invalid close code " + code.String())
	}
	if len(reason) > maxCloseReasonSize {
		return errors.New("websocket: close reason longer than 123 bytes")
	}
	if c.closeSent.Swap(true) {
		<-c.waitClosed()
		return nil
	}
	err := c.writeClose(code, reason)
	if err == nil {
		c.awaitPeerClose()
	}
	if cerr := c.CloseNow(); err == nil && cerr != nil && cerr != errClosed {
		err = cerr
	}
	return err
}

// waitClosed returns a channel that is closed once the connection is
// closed, or after closeTimeout (when it closes the connection itself).
func (c *Conn) waitClosed() <-chan struct{} {
	select {
	case <-c.closed:
		return c.closed
	default:
	}
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	select {
	case <-c.closed:
	case <-t.C:
		c.CloseNow()
	}
	return c.closed
}

// awaitPeerClose waits, bounded by closeTimeout, for the peer's close
// frame: seen by a concurrent reader, or read here.
func (c *Conn) awaitPeerClose() {
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	select {
	case <-c.closeRcvd:
		return
	case <-c.closed:
		return
	case <-t.C:
		return
	case c.rsem <- struct{}{}:
	}
	defer func() { <-c.rsem }()
	if c.readErr != nil {
		return
	}
	c.SetReadDeadline(time.Now().Add(closeTimeout))
	for {
		if _, err := c.nextMessage(); err != nil {
			return
		}
		if err := c.discardMessage(); err != nil {
			return
		}
	}
}

// writeClose writes a close frame, waiting at most closeTimeout for the
// write lock and the write itself. A code of 0 sends an empty close.
func (c *Conn) writeClose(code StatusCode, reason string) error {
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	select {
	case c.frameSem <- struct{}{}:
	case <-c.closed:
		return errClosed
	case <-t.C:
		return errors.New("websocket: timed out waiting to write the close frame")
	}
	defer func() { <-c.frameSem }()
	if c.wclosed || c.isClosed() {
		return errClosed
	}
	c.wclosed = true
	var p [maxControlPayload]byte
	n := 0
	if code != 0 {
		p[0], p[1] = byte(code>>8), byte(code)
		n = 2 + copy(p[2:], reason)
	}
	c.SetWriteDeadline(time.Now().Add(closeTimeout))
	if err := c.writeFrame(true, false, opClose, p[:n]); err != nil {
		return err
	}
	return c.flush()
}

// ctxWatch interrupts an operation when its context ends, with one
// context.AfterFunc registration per distinct context rather than per
// call, so that a loop with one context does not allocate.
type ctxWatch struct {
	mu          sync.Mutex // guards ctx, stopf and stopped
	stopped     bool
	ctx         context.Context
	stopf       func() bool
	fire        func()
	interrupt   func()
	preempted   func() bool // if set and true, the operation failed first for another reason
	active      atomic.Bool
	interrupted atomic.Bool
}

func (w *ctxWatch) init(interrupt func()) {
	w.interrupt = interrupt
	w.fire = func() {
		if !w.active.Load() {
			return
		}
		// The registration may be for an earlier operation's context
		// that ended just as this operation began with another.
		w.mu.Lock()
		ctx := w.ctx
		w.mu.Unlock()
		if ctx == nil || ctx.Err() == nil {
			return
		}
		if w.preempted != nil && w.preempted() {
			return
		}
		w.interrupted.Store(true)
		w.interrupt()
	}
}

// begin starts watching ctx for one operation; it fails if ctx has ended.
// A context that cannot end drops the registration of an earlier one.
func (w *ctxWatch) begin(ctx context.Context) error {
	watch := ctx
	if ctx.Done() == nil {
		watch = nil
	}
	w.mu.Lock()
	if watch != w.ctx && !w.stopped {
		if w.stopf != nil {
			w.stopf()
		}
		w.ctx, w.stopf = watch, nil
		if watch != nil {
			w.stopf = context.AfterFunc(watch, w.fire)
		}
	}
	w.mu.Unlock()
	w.active.Store(true)
	if err := ctx.Err(); err != nil {
		w.active.Store(false)
		return err
	}
	return nil
}

// end stops watching; it reports whether the context interrupted the
// operation.
func (w *ctxWatch) end() bool {
	w.active.Store(false)
	return w.interrupted.Load()
}

func (w *ctxWatch) context() context.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ctx
}

// stop drops the registration for good, when the connection closes.
func (w *ctxWatch) stop() {
	w.active.Store(false)
	w.mu.Lock()
	w.stopped = true
	if w.stopf != nil {
		w.stopf()
	}
	w.ctx, w.stopf = nil, nil
	w.mu.Unlock()
}

// acquireInRead takes sem for the read under way unless ctx ends, the
// connection closes, or the read deadline passes first (or is moved into
// the past), as it would for a read of the transport: it returns an error
// wrapping os.ErrDeadlineExceeded then.
func (c *Conn) acquireInRead(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	default:
	}
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		var expired <-chan time.Time
		if ns := c.rdl.Load(); ns != 0 {
			wait := time.Until(time.Unix(0, ns))
			if wait <= 0 {
				return fmt.Errorf("websocket: waiting to answer a ping: %w", os.ErrDeadlineExceeded)
			}
			if t == nil {
				t = time.NewTimer(wait)
			} else {
				t.Reset(wait)
			}
			expired = t.C
		}
		select {
		case sem <- struct{}{}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closed:
			return errClosed
		case <-expired:
		case <-c.rdlMoved:
		}
	}
}

// acquire takes sem unless ctx ends or the connection closes first.
func (c *Conn) acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	default:
	}
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closed:
		return errClosed
	}
}
