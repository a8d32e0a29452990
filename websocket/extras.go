package websocket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// ReadJSON reads the next message, which must be a text message, and
// decodes it as JSON into v. A binary message, or text that is not JSON
// for v, is an error that leaves the connection open.
func ReadJSON(ctx context.Context, c *Conn, v any) error {
	typ, msg, err := c.Read(ctx)
	if err != nil {
		return err
	}
	if typ != Text {
		return fmt.Errorf("websocket: ReadJSON: got a %v message, want text", typ)
	}
	if err := json.Unmarshal(msg, v); err != nil {
		return fmt.Errorf("websocket: ReadJSON: %w", err)
	}
	return nil
}

// WriteJSON encodes v as JSON and writes it as one text message.
func WriteJSON(ctx context.Context, c *Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("websocket: WriteJSON: %w", err)
	}
	return c.Write(ctx, Text, b)
}

// CloseRead starts a goroutine that reads and discards every message, so
// that a connection that only writes still answers pings, sees the
// peer's close (and answers it) and lets Ping and the keepalive see
// pongs. It returns a context, derived from ctx, that ends when the
// reading ends: the connection closed or failed, or ctx ended (which, as
// for any read, fails the connection). After CloseRead, do not read from
// the Conn.
func (c *Conn) CloseRead(ctx context.Context) context.Context {
	rctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		for {
			_, r, err := c.Reader(rctx)
			if err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
		}
	}()
	return rctx
}

// errKeepAlive is the cause of a connection closed by the keepalive.
var errKeepAlive = errors.New("websocket: keepalive: no pong within the interval")

// startKeepAlive pings the peer every interval and fails the connection,
// at once (close 1006 for the reader), when a pong has not come back
// within the next interval. Pongs are seen by the reader: a Conn with
// keepalive needs one (a Read loop, or CloseRead).
func (c *Conn) startKeepAlive(interval time.Duration) {
	if interval <= 0 {
		return
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-c.closed:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			err := c.Ping(ctx, nil)
			cancel()
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					c.closeCause.Store(&errKeepAlive)
				}
				c.CloseNow()
				return
			}
		}
	}()
}

// NetConn returns a net.Conn over c, for code that wants a byte stream:
// Write sends each call as one message of type typ; Read reads the
// payloads of the peer's messages one after another, which must be of
// type typ (a message of the other type fails the connection with close
// 1003, unsupported data). The peer's close 1000 (normal closure) or
// 1001 (going away) reads as io.EOF. Close closes c with 1000.
//
// ctx bounds every Read and Write, as the Conn's methods' contexts do.
// The deadlines are the Conn's: one that passes during a Read or Write
// fails it with an error wrapping os.ErrDeadlineExceeded, which is a
// net.Error with Timeout() true, and, unlike on a TCP connection, fails
// the connection too; one that passes while nothing is read or written
// does nothing. Reads and writes each follow the Conn's rules: one
// reader at a time, any number of writers.
func NetConn(ctx context.Context, c *Conn, typ MessageType) net.Conn {
	return &netConn{ctx: ctx, c: c, typ: typ}
}

type netConn struct {
	ctx context.Context
	c   *Conn
	typ MessageType

	rmu sync.Mutex // guards r and eof
	r   io.Reader  // the message being read, nil between messages
	eof bool
}

func (nc *netConn) Read(p []byte) (int, error) {
	nc.rmu.Lock()
	defer nc.rmu.Unlock()
	if nc.eof {
		return 0, io.EOF
	}
	for {
		if nc.r == nil {
			typ, r, err := nc.c.Reader(nc.ctx)
			if err != nil {
				switch CloseStatus(err) {
				case StatusNormalClosure, StatusGoingAway:
					nc.eof = true
					return 0, io.EOF
				}
				return 0, netError(err)
			}
			if typ != nc.typ {
				nc.c.Close(StatusUnsupportedData, "unexpected message type")
				return 0, fmt.Errorf("websocket: NetConn: got a %v message, want %v", typ, nc.typ)
			}
			nc.r = r
		}
		n, err := nc.r.Read(p)
		if err == io.EOF {
			nc.r = nil
			if n > 0 || len(p) == 0 {
				return n, nil
			}
			continue
		}
		return n, netError(err)
	}
}

func (nc *netConn) Write(p []byte) (int, error) {
	if err := nc.c.Write(nc.ctx, nc.typ, p); err != nil {
		return 0, netError(err)
	}
	return len(p), nil
}

func (nc *netConn) Close() error {
	err := nc.c.Close(StatusNormalClosure, "")
	if errors.Is(err, errClosed) {
		return net.ErrClosed
	}
	return err
}

func (nc *netConn) LocalAddr() net.Addr  { return nc.c.localAddr() }
func (nc *netConn) RemoteAddr() net.Addr { return nc.c.remoteAddr() }

func (nc *netConn) SetDeadline(t time.Time) error {
	if err := nc.c.SetReadDeadline(t); err != nil {
		return err
	}
	return nc.c.SetWriteDeadline(t)
}

func (nc *netConn) SetReadDeadline(t time.Time) error  { return nc.c.SetReadDeadline(t) }
func (nc *netConn) SetWriteDeadline(t time.Time) error { return nc.c.SetWriteDeadline(t) }

// netError makes a deadline's error a net.Error with Timeout() true.
func netError(err error) error {
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return &timeoutError{err}
}

type timeoutError struct{ err error }

func (e *timeoutError) Error() string   { return e.err.Error() }
func (e *timeoutError) Unwrap() error   { return e.err }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }

// wsAddr is the address of an accepted HTTP/2 Conn, which has no
// net.Conn of its own: the request's RemoteAddr or Host.
type wsAddr string

func (a wsAddr) Network() string { return "websocket" }
func (a wsAddr) String() string  { return string(a) }

func (c *Conn) localAddr() net.Addr {
	if c.netConn != nil {
		return c.netConn.LocalAddr()
	}
	return wsAddr(c.req.Host)
}

func (c *Conn) remoteAddr() net.Addr {
	if c.netConn != nil {
		return c.netConn.RemoteAddr()
	}
	return wsAddr(c.req.RemoteAddr)
}

var _ net.Conn = (*netConn)(nil)
