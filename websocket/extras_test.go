package websocket_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/websocket"
)

func TestJSON(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		ts := h2ctest.NewServer(t, echoHandler(websocket.Options{}, nil))
		c := mustDial(t, ts, mode, "/", nil)
		ctx := testContext(t)
		type point struct {
			X, Y int
			Name string
		}
		in := point{3, -4, "molt ✓"}
		if err := websocket.WriteJSON(ctx, c, in); err != nil {
			t.Fatal(err)
		}
		var out point
		if err := websocket.ReadJSON(ctx, c, &out); err != nil || out != in {
			t.Fatalf("ReadJSON = %+v, %v; want %+v", out, err, in)
		}
		// A binary message and text that is not JSON are errors, and the
		// connection goes on.
		c.Write(ctx, websocket.Binary, []byte(`{"X":1}`))
		if err := websocket.ReadJSON(ctx, c, &out); err == nil || !strings.Contains(err.Error(), "want text") {
			t.Errorf("ReadJSON of a binary message: %v", err)
		}
		c.Write(ctx, websocket.Text, []byte(`{"X":`))
		if err := websocket.ReadJSON(ctx, c, &out); err == nil {
			t.Error("ReadJSON of bad JSON succeeded")
		}
		if err := websocket.WriteJSON(ctx, c, func() {}); err == nil {
			t.Error("WriteJSON of a func succeeded")
		}
		if err := websocket.WriteJSON(ctx, c, []int{1, 2}); err != nil {
			t.Fatal(err)
		}
		var ints []int
		if err := websocket.ReadJSON(ctx, c, &ints); err != nil || len(ints) != 2 {
			t.Fatalf("ReadJSON after errors = %v, %v", ints, err)
		}
	})
}

func TestNetConn(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		t.Run("echo", func(t *testing.T) {
			ts := h2ctest.NewServer(t, echoHandler(websocket.Options{}, nil))
			c := mustDial(t, ts, mode, "/", nil)
			nc := websocket.NetConn(testContext(t), c, websocket.Binary)
			// Each Write is a message; Read returns the stream of payloads,
			// across message boundaries, in pieces as small as asked.
			for _, s := range []string{"hello, ", "", "molt", strings.Repeat("x", 70000)} {
				if n, err := nc.Write([]byte(s)); err != nil || n != len(s) {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			want := "hello, molt" + strings.Repeat("x", 70000)
			got := make([]byte, len(want))
			for i := 0; i < len(got); {
				n, err := nc.Read(got[i:min(len(got), i+3)])
				if err != nil {
					t.Fatalf("Read after %d bytes: %v", i, err)
				}
				i += n
			}
			if string(got) != want {
				t.Fatalf("read %q..., want %q...", got[:20], want[:20])
			}
			if nc.RemoteAddr() == nil || nc.LocalAddr() == nil || nc.RemoteAddr().String() == "" {
				t.Errorf("addresses %v %v", nc.LocalAddr(), nc.RemoteAddr())
			}
			// A deadline in the past fails the read as a net.Error time-out.
			nc.SetReadDeadline(time.Now().Add(-time.Second))
			_, err := nc.Read(got)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("Read past the deadline: %v, want a net.Error time-out", err)
			}
			if _, ok := err.(net.Error); !ok {
				t.Errorf("Read past the deadline: %T is not a net.Error itself", err)
			}
		})
		t.Run("close is EOF", func(t *testing.T) {
			h := websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
				for _, s := range []string{"a", "bc", "def"} {
					c.Write(ctx, websocket.Text, []byte(s))
				}
				c.Close(websocket.StatusNormalClosure, "done")
			}, websocket.Options{})
			ts := h2ctest.NewServer(t, h)
			c := mustDial(t, ts, mode, "/", nil)
			nc := websocket.NetConn(testContext(t), c, websocket.Text)
			b, err := io.ReadAll(nc)
			if err != nil || string(b) != "abcdef" {
				t.Fatalf("ReadAll = %q, %v; want abcdef, nil", b, err)
			}
			if n, err := nc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Errorf("Read after EOF = %d, %v", n, err)
			}
		})
		t.Run("wrong type", func(t *testing.T) {
			ts := h2ctest.NewServer(t, echoHandler(websocket.Options{}, nil))
			c := mustDial(t, ts, mode, "/", nil)
			ctx := testContext(t)
			c.Write(ctx, websocket.Text, []byte("text"))
			nc := websocket.NetConn(ctx, c, websocket.Binary)
			if _, err := nc.Read(make([]byte, 10)); err == nil || !strings.Contains(err.Error(), "want binary") {
				t.Fatalf("Read of a text message: %v", err)
			}
			if err := c.Write(ctx, websocket.Binary, []byte("x")); err == nil {
				t.Error("the connection is still open after a message of the wrong type")
			}
		})
	})
}

// TestKeepAlive checks that the keepalive's pings are answered by a peer
// that reads, and that a peer that never answers fails the connection.
func TestKeepAlive(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		t.Run("answered", func(t *testing.T) {
			ts := h2ctest.NewServer(t, echoHandler(websocket.Options{}, nil))
			pongs := make(chan struct{}, 16)
			// The interval is also the pong's deadline: long enough that
			// a loaded machine answers within it (5 ms failed now and then).
			c := mustDial(t, ts, mode, "/", &websocket.DialOptions{KeepAlive: 250 * time.Millisecond, OnPong: func([]byte) {
				select {
				case pongs <- struct{}{}:
				default:
				}
			}})
			ctx := testContext(t)
			rctx := c.CloseRead(ctx)
			for range 3 {
				select {
				case <-pongs:
				case <-rctx.Done():
					t.Fatal("the connection ended while the peer answered pings")
				}
			}
			if err := c.Write(ctx, websocket.Text, []byte("alive")); err != nil {
				t.Fatalf("Write after three keepalive pings: %v", err)
			}
		})
		t.Run("unanswered", func(t *testing.T) {
			// The server never reads, so it never answers a ping.
			release := make(chan struct{})
			defer close(release)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				select {
				case <-release:
				case <-r.Context().Done():
				}
				c.CloseNow()
			})
			ts := h2ctest.NewServer(t, h)
			c := mustDial(t, ts, mode, "/", &websocket.DialOptions{KeepAlive: 5 * time.Millisecond})
			_, _, err := c.Read(testContext(t))
			if err == nil || !strings.Contains(err.Error(), "keepalive") {
				t.Fatalf("Read = %v, want the keepalive's error", err)
			}
		})
	})
}

// TestCloseRead checks that a handler that only writes, with CloseRead,
// answers pings and sees the peer's close.
func TestCloseRead(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		ended := make(chan error, 1)
		h := websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
			ctx = c.CloseRead(ctx)
			c.Write(ctx, websocket.Text, []byte("first"))
			<-ctx.Done()
			ended <- c.Write(context.Background(), websocket.Text, []byte("after close"))
		}, websocket.Options{})
		ts := h2ctest.NewServer(t, h)
		c := mustDial(t, ts, mode, "/", nil)
		ctx := testContext(t)
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != "first" {
			t.Fatalf("Read = %q, %v", msg, err)
		}
		c.CloseRead(ctx) // the client's pongs come to its reader
		if err := c.Ping(ctx, []byte("anyone?")); err != nil {
			t.Fatalf("Ping of a write-only handler: %v", err)
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-ended; err == nil {
			t.Error("the handler wrote after the close")
		}
	})
}
