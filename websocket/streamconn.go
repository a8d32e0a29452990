package websocket

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/molt-http/molt/internal/h2client"
)

// streamConn is a dialed Conn's transport over an HTTP/2 stream: a
// net.Conn over an h2client.Stream, with deadlines that work as a
// net.Conn's (the stream type's, as the server side keeps them). A
// deadline that passes during a read or write resets the stream, the only
// way to interrupt one. The Conn owns the HTTP/2 connection it dialed for
// the stream: Close ends the stream and then the connection.
type streamConn struct {
	s      *h2client.Stream
	cc     *h2client.ClientConn
	nc     net.Conn
	cancel context.CancelFunc // ends the stream's context
	rd, wd deadline
	once   sync.Once
	rmu    sync.Mutex // held by Read
	// graceful is set once the close handshake is done: Close then waits
	// (bounded) for the server to end the stream before closing it, so
	// that the stream ends with END_STREAM both ways rather than a reset
	// (RFC 8441, section 5), which could cost the peer our close frame.
	graceful atomic.Bool
}

func newStreamConn(s *h2client.Stream, cc *h2client.ClientConn, nc net.Conn, cancel context.CancelFunc) *streamConn {
	c := &streamConn{s: s, cc: cc, nc: nc, cancel: cancel}
	c.rd.interrupt = func() { s.Close() }
	c.wd.interrupt = func() { s.Close() }
	return c
}

func (c *streamConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if err := c.rd.begin(); err != nil {
		return 0, err
	}
	n, err := c.s.Read(p)
	return n, c.rd.end(err)
}

func (c *streamConn) Write(p []byte) (int, error) {
	if err := c.wd.begin(); err != nil {
		return 0, err
	}
	n, err := c.s.Write(p)
	return n, c.wd.end(err)
}

// Close ends the client's side of the stream (END_STREAM), resets it if
// the server has not ended its own, and closes the HTTP/2 connection.
func (c *streamConn) Close() error {
	err := errClosed
	c.once.Do(func() {
		err = nil
		if c.graceful.Load() && c.s.CloseWrite() == nil && c.rmu.TryLock() {
			// No read is under way (a reader blocked now would be one
			// that CloseNow interrupts): read to the server's END_STREAM.
			c.rd.set(time.Now().Add(closeTimeout))
			var buf [512]byte
			for i := 0; i < 1<<14; i++ {
				if err := c.rd.begin(); err != nil {
					break
				}
				_, rerr := c.s.Read(buf[:])
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
		c.s.CloseWrite()
		c.s.Close()
		c.cancel()
		if cerr := c.cc.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	})
	return err
}

func (c *streamConn) LocalAddr() net.Addr  { return c.nc.LocalAddr() }
func (c *streamConn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

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
