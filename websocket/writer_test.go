package websocket_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/websocket"
)

// TestWriterContextEndsBetweenFrames ends a Writer's context after its
// first frame went out: the message can never be finished, so the
// connection must fail (close 1011) before the next message, which would
// otherwise start a data frame inside the unfinished one.
func TestWriterContextEndsBetweenFrames(t *testing.T) {
	h2ctest.Run(t, testWriterContextEndsBetweenFrames)
}

func testWriterContextEndsBetweenFrames(t *testing.T, mode h2ctest.Mode) {
	type result struct{ write, next error }
	done := make(chan result, 1)
	ts := h2ctest.NewServer(t, websocket.Handler(func(_ context.Context, c *websocket.Conn) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w, err := c.Writer(ctx, websocket.Binary)
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := w.Write(bytes.Repeat([]byte("1"), websocket.WriterFrameSize)); err != nil {
			t.Error(err)
			return
		}
		cancel()
		var r result
		_, r.write = w.Write([]byte("part2"))
		r.next = c.Write(context.Background(), websocket.Text, []byte("next"))
		done <- r
	}, websocket.Options{}))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	hangGuard(c)
	f, err := c.next()
	if err != nil || f.op != 2 || f.fin || !bytes.Equal(f.payload, bytes.Repeat([]byte("1"), websocket.WriterFrameSize)) {
		t.Fatalf("first frame %v (%v), want a non-final binary frame of WriterFrameSize bytes", f, err)
	}
	f, err = c.next()
	if err != nil {
		t.Fatalf("after the first frame: %v, want a close frame", err)
	}
	if f.op != 8 || len(f.payload) < 2 || int(f.payload[0])<<8|int(f.payload[1]) != 1011 {
		t.Fatalf("after the first frame got %v %q, want a close frame 1011", f, f.payload)
	}
	c.expectEOF() // the connection is failed: no wait for the client's close
	r := <-done
	if r.write == nil {
		t.Error("Write after the context ended succeeded")
	}
	if r.next == nil {
		t.Error("a message after the unfinished one was written")
	}
}

// TestWriterAbortResetsCompressor fails a compressed Writer message whose
// data the compressor held back (no frame went out) and then writes a
// message with context takeover: the aborted input must not reach the
// peer, in that message or any later one, and the connection stays
// usable.
func TestWriterAbortResetsCompressor(t *testing.T) { h2ctest.Run(t, testWriterAbortResetsCompressor) }

func testWriterAbortResetsCompressor(t *testing.T, mode h2ctest.Mode) {
	aborted := bytes.Repeat([]byte("aborted input "), 10)
	msgs := [][]byte{
		bytes.Repeat([]byte("the message after it "), 10),
		bytes.Repeat([]byte("and one more "), 20),
	}
	done := make(chan error, 1)
	opts := websocket.Options{Compression: websocket.CompressionContextTakeover}
	ts := h2ctest.NewServer(t, websocket.Handler(func(_ context.Context, c *websocket.Conn) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w, err := c.Writer(ctx, websocket.Text)
		if err != nil {
			done <- err
			return
		}
		if _, err := w.Write(aborted); err != nil {
			done <- err
			return
		}
		cancel()
		if err := w.Close(); err == nil {
			t.Error("Close after the context ended succeeded")
		}
		for _, m := range msgs {
			if err := c.Write(context.Background(), websocket.Text, m); err != nil {
				done <- err
				return
			}
		}
		_, _, err = c.Read(context.Background())
		done <- err
	}, opts))
	c := dialWS(t, ts, mode, "/", http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate"}})
	wsOK(t, c, mode)
	hangGuard(c)
	var in inflater
	for _, m := range msgs {
		op, got, rsv1 := c.message()
		if !rsv1 {
			t.Fatalf("message not compressed")
		}
		got = in.inflate(t, got, true)
		if op != 1 || !bytes.Equal(got, m) {
			t.Fatalf("got op %d %q, want text %q", op, got, m)
		}
	}
	c.send(true, 0, 8, closePayload(1000, ""))
	if code, _ := c.expectClose(); code != 1000 {
		t.Fatalf("close %d, want 1000", code)
	}
	c.expectEOF()
	if err := <-done; websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("handler: %v", err)
	}
}

// TestPongHonoursReadContext blocks a large write on a client that does
// not read, then sends a ping: the automatic pong waits for the frame
// lock that the write holds, and the read that saw the ping must still
// return when its context ends (it waited with context.Background).
func TestPongHonoursReadContext(t *testing.T) { h2ctest.Run(t, testPongHonoursReadContext) }

func testPongHonoursReadContext(t *testing.T, mode h2ctest.Mode) {
	cancelRead := make(chan struct{})
	readDone := make(chan error, 1)
	ts := h2ctest.NewServer(t, websocket.Handler(func(_ context.Context, c *websocket.Conn) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		writeDone := make(chan struct{})
		go func() {
			defer close(writeDone)
			c.Write(context.Background(), websocket.Binary, make([]byte, 32<<20))
		}()
		go func() {
			<-cancelRead
			cancel()
		}()
		_, _, err := c.Read(ctx)
		readDone <- err
		<-writeDone
	}, websocket.Options{}))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	hangGuard(c)
	// The large message's header: the write is under way, and blocks
	// once the transport's buffers (or the stream's window) fill up.
	var hdr [10]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil || hdr[0] != 0x82 || hdr[1] != 127 {
		t.Fatalf("header % x (%v), want a binary frame with a 64-bit length", hdr, err)
	}
	c.send(true, 0, 9, []byte("ping"))
	time.Sleep(200 * time.Millisecond) // the server reads the ping and waits to pong
	close(cancelRead)
	select {
	case err := <-readDone:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Read: %v, want the context's error", err)
		}
	case <-time.After(30 * time.Second): // a hang guard, not a measurement
		t.Fatal("Read ignored its context while the pong waited for a blocked write")
	}
}

// TestPongHonoursReadDeadline is TestPongHonoursReadContext with a read
// deadline instead of a context: the read that saw the ping waits for
// the frame lock that a blocked write holds, and must still fail when
// its deadline passes during that wait, or when another goroutine moves
// the deadline into the past to interrupt it, as a net.Conn's read
// would. (The wait is not a read of the transport, which the deadline
// alone interrupts.)
func TestPongHonoursReadDeadline(t *testing.T) { h2ctest.Run(t, testPongHonoursReadDeadline) }

func testPongHonoursReadDeadline(t *testing.T, mode h2ctest.Mode) {
	for _, tc := range []struct {
		name  string
		moved bool // the deadline is moved into the past during the wait
	}{
		{"passes", false},
		{"moved", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			interrupt := make(chan struct{})
			readDone := make(chan error, 1)
			ts := h2ctest.NewServer(t, websocket.Handler(func(_ context.Context, c *websocket.Conn) {
				writeDone := make(chan struct{})
				go func() {
					defer close(writeDone)
					c.Write(context.Background(), websocket.Binary, make([]byte, 32<<20))
				}()
				if tc.moved {
					go func() {
						<-interrupt
						c.SetReadDeadline(time.Now())
					}()
				} else {
					c.SetReadDeadline(time.Now().Add(time.Second))
				}
				_, _, err := c.Read(context.Background())
				readDone <- err
				<-writeDone
			}, websocket.Options{}))
			c := dialWS(t, ts, mode, "/", nil)
			wsOK(t, c, mode)
			hangGuard(c)
			var hdr [10]byte
			if _, err := io.ReadFull(c.br, hdr[:]); err != nil || hdr[0] != 0x82 || hdr[1] != 127 {
				t.Fatalf("header % x (%v), want a binary frame with a 64-bit length", hdr, err)
			}
			c.send(true, 0, 9, []byte("ping"))
			time.Sleep(200 * time.Millisecond) // the server reads the ping and waits to pong
			close(interrupt)
			select {
			case err := <-readDone:
				if !errors.Is(err, os.ErrDeadlineExceeded) || websocket.CloseStatus(err) != websocket.StatusAbnormalClosure {
					t.Fatalf("Read: %v, want a deadline error and close status 1006", err)
				}
			case <-time.After(30 * time.Second): // a hang guard, not a measurement
				t.Fatal("Read ignored its deadline while the pong waited for a blocked write")
			}
		})
	}
}
