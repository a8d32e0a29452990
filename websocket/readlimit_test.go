package websocket_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/websocket"
)

// hangGuard bounds a client connection over HTTP/1.1, so that a server
// that never answers fails the test instead of hanging it (dialWS bounds
// HTTP/2 streams with its context).
func hangGuard(c *wsClient) {
	if c.nc != nil {
		c.nc.SetDeadline(time.Now().Add(time.Minute))
	}
}

// closeWrite ends the client's half of the connection or stream.
func (c *wsClient) closeWrite() {
	if cw, ok := c.w.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// TestReadLimitHugeContinuation attacks the read limit with a message
// whose first fragment has one byte and whose continuation frame declares
// 1<<63-1 bytes, then streams payload at it: msgRead plus the declared
// length overflows int64, and a check of the sum let the frame through,
// so the message grew without bound. The continuation's header alone must
// fail the connection with close 1009, and the reader's buffer must stay
// small.
func TestReadLimitHugeContinuation(t *testing.T) { h2ctest.Run(t, testReadLimitHugeContinuation) }

func testReadLimitHugeContinuation(t *testing.T, mode h2ctest.Mode) {
	for _, tc := range []struct {
		name  string
		limit int64
	}{
		{"1KiB", 1024},
		{"default", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type result struct {
				err error
				cap int
			}
			done := make(chan result, 1)
			ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
				var buf []byte
				for {
					_, msg, err := c.AppendMessage(ctx, buf[:0])
					buf = msg
					if err != nil {
						done <- result{err, cap(buf)}
						return
					}
				}
			}, websocket.Options{ReadLimit: tc.limit}))
			c := dialWS(t, ts, mode, "/", nil)
			wsOK(t, c, mode)
			hangGuard(c)
			c.send(false, 0, 2, []byte{1})
			hdr := []byte{0x80, 0x80 | 127}
			hdr = binary.BigEndian.AppendUint64(hdr, math.MaxInt64)
			c.raw(append(hdr, testKey...))
			// 4 MiB of payload, then the end of the client's side.
			wrote := make(chan struct{})
			go func() {
				defer close(wrote)
				chunk := make([]byte, 64<<10)
				for range 64 {
					if _, err := c.w.Write(chunk); err != nil {
						return
					}
				}
				c.closeWrite()
			}()
			code, _ := c.expectClose()
			<-wrote
			if code != 1009 {
				t.Fatalf("close %d, want 1009", code)
			}
			r := <-done
			if got := websocket.CloseStatus(r.err); got != websocket.StatusMessageTooBig {
				t.Fatalf("read error %v (status %d), want status 1009", r.err, got)
			}
			if r.cap > 64<<10 {
				t.Fatalf("the reader's buffer grew to %d bytes for a limit of %d", r.cap, tc.limit)
			}
		})
	}
}

// TestReadLimitMaxInt64 sets the read limit to math.MaxInt64, the usual
// "no limit", through Options and through SetReadLimit, and reads
// compressed messages: the room left under the limit plus one overflowed
// and sliced the buffer out of range, in reads and in the discard of a
// message that Close's closing handshake reads past.
func TestReadLimitMaxInt64(t *testing.T) { h2ctest.Run(t, testReadLimitMaxInt64) }

func testReadLimitMaxInt64(t *testing.T, mode h2ctest.Mode) {
	text := bytes.Repeat([]byte("no limit at all "), 64)
	comp := newDeflater().compress(text, true)
	hdr := http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate"}}
	for _, tc := range []struct {
		name string
		opts int64 // Options.ReadLimit
		set  bool  // call SetReadLimit(math.MaxInt64)
		// afterClose: the handler calls Close after one echo, and the
		// client sends a compressed message after the server's close
		// frame, which the closing handshake reads and discards.
		afterClose bool
	}{
		{name: "Options", opts: math.MaxInt64},
		{name: "SetReadLimit", set: true},
		{name: "closing handshake", opts: math.MaxInt64, afterClose: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			opts := websocket.Options{ReadLimit: tc.opts, Compression: websocket.CompressionNoContextTakeover}
			ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
				if tc.set {
					c.SetReadLimit(math.MaxInt64)
				}
				for {
					typ, msg, err := c.Read(ctx)
					if err != nil {
						done <- err
						return
					}
					if err := c.Write(ctx, typ, msg); err != nil {
						done <- err
						return
					}
					if tc.afterClose {
						done <- closeRecovering(c)
						return
					}
				}
			}, opts))
			c := dialWS(t, ts, mode, "/", hdr)
			wsOK(t, c, mode)
			hangGuard(c)
			if tc.afterClose {
				// A plain message first: only the discard decompresses.
				c.send(true, 0, 1, []byte("plain"))
				if op, got, _ := c.message(); op != 1 || string(got) != "plain" {
					t.Fatalf("echo op %d %q, want text \"plain\"", op, got)
				}
			}
			for i := 0; i < 2 && !tc.afterClose; i++ {
				c.send(true, 4, 1, comp)
				op, got, rsv1 := c.message()
				if rsv1 {
					got = (&inflater{}).inflate(t, got, false)
				}
				if op != 1 || !bytes.Equal(got, text) {
					t.Fatalf("echo op %d, %d bytes, want text of %d", op, len(got), len(text))
				}
			}
			if tc.afterClose {
				if code, _ := c.expectClose(); code != 1000 {
					t.Fatalf("close %d, want 1000", code)
				}
				c.send(true, 4, 1, comp)
			}
			c.send(true, 0, 8, closePayload(1000, ""))
			if !tc.afterClose {
				if code, _ := c.expectClose(); code != 1000 {
					t.Fatalf("close %d, want 1000", code)
				}
			}
			c.expectEOF()
			err := <-done
			if tc.afterClose {
				if err != nil {
					t.Fatalf("Close: %v", err)
				}
				return
			}
			if got := websocket.CloseStatus(err); got != websocket.StatusNormalClosure {
				t.Fatalf("read error %v, want the peer's close 1000", err)
			}
		})
	}
}

// closeRecovering calls Close, reporting a panic as an error.
func closeRecovering(c *websocket.Conn) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("Close panicked: %v", p)
		}
	}()
	return c.Close(websocket.StatusNormalClosure, "")
}

// TestDefaultReadLimit checks the default read limit is 1 MiB: a message
// of DefaultReadLimit bytes is read, a frame declaring one byte more is
// refused with close 1009 at its header.
func TestDefaultReadLimit(t *testing.T) { h2ctest.Run(t, testDefaultReadLimit) }

func testDefaultReadLimit(t *testing.T, mode h2ctest.Mode) {
	done := make(chan error, 1)
	ts := h2ctest.NewServer(t, echoHandler(websocket.Options{}, done))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	hangGuard(c)
	full := bytes.Repeat([]byte{7}, 1<<20)
	c.send(true, 0, 2, full)
	if op, got, _ := c.message(); op != 2 || !bytes.Equal(got, full) {
		t.Fatalf("echo op %d, %d bytes, want binary of %d", op, len(got), len(full))
	}
	hdr := []byte{0x82, 0x80 | 127}
	hdr = binary.BigEndian.AppendUint64(hdr, 1<<20+1)
	c.raw(append(hdr, testKey...))
	if code, _ := c.expectClose(); code != 1009 {
		t.Fatalf("close %d, want 1009", code)
	}
	c.closeWrite()
	if err := <-done; websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("read error %v, want status 1009", err)
	}
}
