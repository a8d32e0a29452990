package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// conn wraps every accepted connection for as long as it lives, whatever
// becomes of it, so the Server can count, drain and close it. Close removes
// it from the Server's set.
type conn struct {
	net.Conn
	srv *Server

	// replay holds bytes already read from the connection (while sniffing,
	// or buffered by net/http before a hijack) that Read returns first;
	// pooled is the sniffing buffer behind it, returned to sniffBuffers once
	// replay is drained. Only the connection's single reader touches them.
	replay []byte
	pooled *[]byte

	// info is what requests on the connection learn through their context
	// (for an upgraded connection, a new connInfo replaces it).
	info connInfo
	// w is the writer of the HTTP/1.1 request being served (see serveH1).
	w h1Writer

	// accepted is when Serve accepted the connection: ReadHeaderTimeout
	// runs from there to the end of the first request's header.
	accepted time.Time
	// headerDeadline, unless zero, is that end as UnixNano: the first
	// SetReadDeadline, net/http's for the first request's header, is held
	// to it, so the sniff and net/http's header read share one budget.
	headerDeadline atomic.Int64

	// requests and streams count what the connection served, until
	// forget folds them into the Server's counters and sets gone: one
	// counter per connection, so that requests on different cores do not
	// contend for a shared one.
	requests, streams atomic.Int64
	gone              atomic.Bool

	// sniffMu guards sniffCut, sniffEnd and sniffOver: Shutdown may cut the sniff
	// short (cutSniff) while the connection's goroutine sets and clears
	// the sniff's read deadline.
	sniffMu   sync.Mutex
	sniffCut  time.Time // if not zero, the sniff ends by then (Shutdown)
	sniffEnd  time.Time // the sniff's read deadline once begun (zero: none)
	sniffOver bool      // the sniff has ended; its deadline is not Shutdown's to touch

	// h1Pending is set while c, handed to net/http, counts in
	// Server.sniffs until net/http has read its first request (serveH1)
	// or c is closed: net/http drops a request it reads once its own
	// Shutdown has begun. h1Read clears it.
	h1Pending atomic.Bool

	proto     atomic.Int32 // index into protocolNames
	state     atomic.Int32 // a ConnState
	upgrading atomic.Bool  // the Server itself hijacks it for h2c
	resumed   atomic.Bool  // given back to net/http with a declined upgrade request first
	closeOnce sync.Once
}

func (c *conn) Read(p []byte) (int, error) {
	if len(c.replay) > 0 {
		n := copy(p, c.replay)
		c.replay = c.replay[n:]
		if len(c.replay) == 0 {
			c.replay = nil
			if c.pooled != nil {
				sniffBuffers.Put(c.pooled)
				c.pooled = nil
			}
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// ReadFrom keeps the underlying connection's sendfile/splice path for
// net/http's response writer.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// WriteBuffers writes bufs with one writev system call where the
// connection underneath supports it (net.Buffers.WriteTo), so that a
// handler that hijacked the connection, molt's websocket package for one,
// can send a frame's header and a large payload together without copying
// the payload. net.Buffers cannot see through a wrapper by itself.
func (c *conn) WriteBuffers(bufs *net.Buffers) (int64, error) {
	return bufs.WriteTo(c.Conn)
}

// CloseWrite shuts down the writing side of the connection underneath, so
// the peer reads EOF while the connection can still be read. net/http
// calls it after an error response (431, 400), so the client sees the
// response end at once rather than when net/http's lingering close ends
// half a second later; and a handler that hijacked the connection can
// half-close it.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("server: %T cannot half-close: %w", c.Conn, errors.ErrUnsupported)
}

// SetReadDeadline sets the read deadline of the connection underneath.
// The first call once the connection is handed to net/http, which sets
// the deadline of the first request's header, is held to the deadline
// ReadHeaderTimeout gives from accept (see serveHTTP1); later calls pass
// through unchanged.
func (c *conn) SetReadDeadline(t time.Time) error {
	if c.headerDeadline.Load() != 0 {
		if d := c.headerDeadline.Swap(0); d != 0 {
			if dl := time.Unix(0, d); t.IsZero() || t.After(dl) {
				t = dl
			}
		}
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		c.srv.forget(c)
	})
	return err
}

// h1Read ends c's count in Server.sniffs, once, if it is handed to
// net/http and counted (h1Pending): its first request has been read, or
// it is closed.
func (c *conn) h1Read() {
	if c.h1Pending.Load() && c.h1Pending.CompareAndSwap(true, false) {
		c.srv.sniffs.Done()
	}
}

// count adds one to n, c's counter of requests or streams; if c has
// already been forgotten (an HTTP/2 stream can start as its connection
// closes), it folds n into total, the Server's counter, itself.
func (c *conn) count(n, total *atomic.Int64) {
	n.Add(1)
	if c.gone.Load() {
		total.Add(n.Swap(0))
	}
}

// protocolNames gives the index stored in conn.proto its Protocol; 0 is
// a connection still being sniffed.
var protocolNames = [...]Protocol{"", H1, H2CUpgrade, H2CPrior}

// protocol returns the connection's protocol, "" while it is still sniffed.
func (c *conn) protocol() Protocol { return protocolNames[c.proto.Load()] }

// setState records a state change and reports it to Config.ConnState.
func (c *conn) setState(p Protocol, s ConnState) {
	if p != "" {
		for i, name := range protocolNames {
			if name == p {
				c.proto.Store(int32(i))
			}
		}
	}
	c.state.Store(int32(s))
	if hook := c.srv.cfg.ConnState; hook != nil {
		hook(c, c.protocol(), s)
	}
}

// connQueue is the net.Listener through which sniffed HTTP/1.x connections
// reach net/http's server.
type connQueue struct {
	addr      net.Addr
	ch        chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{
		addr: &net.TCPAddr{},
		ch:   make(chan net.Conn),
		done: make(chan struct{}),
	}
}

// push hands c to net/http. It reports false once the queue is closed.
func (q *connQueue) push(c net.Conn) bool {
	select {
	case <-q.done:
		return false
	default:
	}
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.closeOnce.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }
