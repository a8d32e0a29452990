package websocket

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/molt-http/molt/internal/h2client"
)

// streamConn is a dialed Conn's transport when it has no net.Conn of its
// own: an HTTP/2 stream (h2client.Stream), or the body of an http.Client's
// 101 response. It is a net.Conn whose deadlines work as a net.Conn's
// (the stream type's, as the server side keeps them). A deadline that
// passes during a read or write ends the transport, the only way to
// interrupt one.
type streamConn struct {
	rw         io.ReadWriter
	closeWrite func() error // ends the client's side, for a graceful close; nil if none
	finish     func() error // closes everything
	laddr      net.Addr
	raddr      net.Addr
	rd, wd     deadline
	once       sync.Once
	rmu        sync.Mutex // held by Read
	// graceful is set once the close handshake is done: over HTTP/2,
	// Close then waits (bounded) for the server to end the stream before
	// closing it, so that the stream ends with END_STREAM both ways
	// rather than a reset (RFC 8441, section 5), which could cost the
	// peer our close frame.
	graceful atomic.Bool
}

// newH2StreamConn is the transport over an HTTP/2 stream; the Conn owns
// the HTTP/2 connection it dialed for the stream, which Close closes.
func newH2StreamConn(s *h2client.Stream, cc *h2client.ClientConn, nc net.Conn, cancel context.CancelFunc) *streamConn {
	c := &streamConn{
		rw:         s,
		closeWrite: s.CloseWrite,
		laddr:      nc.LocalAddr(),
		raddr:      nc.RemoteAddr(),
		finish: func() error {
			s.CloseWrite()
			s.Close()
			cancel()
			if err := cc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				return err
			}
			return nil
		},
	}
	c.rd.interrupt = func() { s.Close() }
	c.wd.interrupt = func() { s.Close() }
	return c
}

// newBodyConn is the transport over the body of a 101 response that an
// http.Client returned.
func newBodyConn(body io.ReadWriteCloser, raddr string) *streamConn {
	c := &streamConn{rw: body, finish: body.Close, laddr: wsAddr(""), raddr: wsAddr(raddr)}
	c.rd.interrupt = func() { body.Close() }
	c.wd.interrupt = func() { body.Close() }
	return c
}

func (c *streamConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if err := c.rd.begin(); err != nil {
		return 0, err
	}
	n, err := c.rw.Read(p)
	return n, c.rd.end(err)
}

func (c *streamConn) Write(p []byte) (int, error) {
	if err := c.wd.begin(); err != nil {
		return 0, err
	}
	n, err := c.rw.Write(p)
	return n, c.wd.end(err)
}

// Close ends the transport: over HTTP/2, after a close handshake, it ends
// the client's side (END_STREAM) and reads to the server's END_STREAM,
// for at most closeTimeout, before it resets whatever is left.
func (c *streamConn) Close() error {
	err := errClosed
	c.once.Do(func() {
		if c.graceful.Load() && c.closeWrite != nil && c.closeWrite() == nil && c.rmu.TryLock() {
			// No read is under way (a reader blocked now would be one
			// that CloseNow interrupts): read to the server's END_STREAM.
			c.rd.set(time.Now().Add(closeTimeout))
			var buf [512]byte
			for range 1 << 14 {
				if err := c.rd.begin(); err != nil {
					break
				}
				_, rerr := c.rw.Read(buf[:])
				if c.rd.end(rerr) != nil {
					break
				}
			}
			c.rmu.Unlock()
		}
		c.rd.abort()
		c.wd.abort()
		c.rd.stop()
		c.wd.stop()
		err = c.finish()
	})
	return err
}

func (c *streamConn) LocalAddr() net.Addr  { return c.laddr }
func (c *streamConn) RemoteAddr() net.Addr { return c.raddr }

func (c *streamConn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

func (c *streamConn) SetReadDeadline(t time.Time) error {
	c.rd.set(t)
	return nil
}

func (c *streamConn) SetWriteDeadline(t time.Time) error {
	c.wd.set(t)
	return nil
}

var _ net.Conn = (*streamConn)(nil)
