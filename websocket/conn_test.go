package websocket_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/websocket"
)

// echoHandler echoes every message with its type and reports the error
// its read loop ended with on done (if non-nil).
func echoHandler(opts websocket.Options, done chan<- error) http.Handler {
	return websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		var buf []byte
		for {
			typ, msg, err := c.AppendMessage(ctx, buf[:0])
			if err != nil {
				if done != nil {
					done <- err
				}
				return
			}
			buf = msg
			if err := c.Write(ctx, typ, msg); err != nil {
				if done != nil {
					done <- err
				}
				return
			}
		}
	}, opts)
}

func wsOK(t testing.TB, c *wsClient, mode h2ctest.Mode) {
	t.Helper()
	want := http.StatusSwitchingProtocols
	if mode != h2ctest.H1 {
		want = http.StatusOK
	}
	if c.status != want {
		t.Fatalf("handshake status %d, want %d", c.status, want)
	}
}

func TestEcho(t *testing.T) { h2ctest.Run(t, testEcho) }

func testEcho(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, echoHandler(websocket.Options{}, nil))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20}
	for _, n := range sizes {
		for _, op := range []byte{1, 2} {
			payload := bytes.Repeat([]byte("a"), n)
			c.send(true, 0, op, payload)
			gotOp, got, rsv1 := c.message()
			if gotOp != op || !bytes.Equal(got, payload) || rsv1 {
				t.Fatalf("size %d op %d: echo op %d, %d bytes, rsv1 %v", n, op, gotOp, len(got), rsv1)
			}
		}
	}
	// Fragmented, with a ping between fragments: the pong comes first.
	c.send(false, 0, 1, []byte("hel"))
	c.send(true, 0, 9, []byte("ping!"))
	c.send(false, 0, 0, []byte("lo "))
	c.send(true, 0, 0, []byte("world"))
	f, err := c.next()
	if err != nil || f.op != 10 || string(f.payload) != "ping!" {
		t.Fatalf("got %+v, %v; want pong \"ping!\"", f, err)
	}
	if op, got, _ := c.message(); op != 1 || string(got) != "hello world" {
		t.Fatalf("fragmented echo: op %d %q", op, got)
	}
	// Close handshake started by the client.
	c.send(true, 0, 8, closePayload(1000, "bye"))
	if code, _ := c.expectClose(); code != 1000 {
		t.Fatalf("close echo code %d, want 1000", code)
	}
	c.expectEOF()
}

// TestProtocolErrors sends what a server must refuse and checks the
// close code it answers with.
func TestProtocolErrors(t *testing.T) { h2ctest.Run(t, testProtocolErrors) }

func testProtocolErrors(t *testing.T, mode h2ctest.Mode) {
	type step struct {
		fin     bool
		rsv, op byte
		payload []byte
		unmask  bool
	}
	bad := []byte{0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64}
	cases := []struct {
		name  string
		steps []step
		want  int
	}{
		{"unmasked", []step{{fin: true, op: 1, payload: []byte("hi"), unmask: true}}, 1002},
		{"rsv1 without deflate", []step{{fin: true, rsv: 4, op: 1, payload: []byte("hi")}}, 1002},
		{"rsv2", []step{{fin: true, rsv: 2, op: 1, payload: []byte("hi")}}, 1002},
		{"rsv3 on ping", []step{{fin: true, rsv: 1, op: 9}}, 1002},
		{"opcode 3", []step{{fin: true, op: 3}}, 1002},
		{"opcode 7", []step{{fin: true, op: 7, payload: []byte("x")}}, 1002},
		{"opcode 11", []step{{fin: true, op: 11}}, 1002},
		{"opcode 15", []step{{fin: true, op: 15, payload: []byte("x")}}, 1002},
		{"ping 126 bytes", []step{{fin: true, op: 9, payload: make([]byte, 126)}}, 1002},
		{"fragmented ping", []step{{fin: false, op: 9, payload: []byte("a")}, {fin: true, op: 0, payload: []byte("b")}}, 1002},
		{"continuation first", []step{{fin: true, op: 0, payload: []byte("x")}}, 1002},
		{"text inside fragmented", []step{{fin: false, op: 1, payload: []byte("a")}, {fin: true, op: 1, payload: []byte("b")}}, 1002},
		{"invalid utf8", []step{{fin: true, op: 1, payload: bad}}, 1007},
		{"invalid utf8 first fragment", []step{{fin: false, op: 1, payload: bad[:13]}}, 1007},
		{"utf8 truncated at end", []step{{fin: true, op: 1, payload: []byte{0x61, 0xe2, 0x82}}}, 1007},
		{"utf8 split then bad", []step{{fin: false, op: 1, payload: []byte{0xe2}}, {fin: true, op: 0, payload: []byte{0x28, 0xa1}}}, 1007},
		{"close 1 byte", []step{{fin: true, op: 8, payload: []byte{3}}}, 1002},
		{"close code 999", []step{{fin: true, op: 8, payload: closePayload(999, "")}}, 1002},
		{"close code 1004", []step{{fin: true, op: 8, payload: closePayload(1004, "")}}, 1002},
		{"close code 1005", []step{{fin: true, op: 8, payload: closePayload(1005, "")}}, 1002},
		{"close code 1006", []step{{fin: true, op: 8, payload: closePayload(1006, "")}}, 1002},
		{"close code 1015", []step{{fin: true, op: 8, payload: closePayload(1015, "")}}, 1002},
		{"close code 2999", []step{{fin: true, op: 8, payload: closePayload(2999, "")}}, 1002},
		{"close code 5000", []step{{fin: true, op: 8, payload: closePayload(5000, "")}}, 1002},
		{"close bad utf8 reason", []step{{fin: true, op: 8, payload: append(closePayload(1000, ""), 0xff)}}, 1007},
		{"too big", []step{{fin: true, op: 2, payload: make([]byte, 1025)}}, 1009},
		{"too big in fragments", []step{{fin: false, op: 2, payload: make([]byte, 1000)}, {fin: true, op: 0, payload: make([]byte, 100)}}, 1009},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			ts := h2ctest.NewServer(t, echoHandler(websocket.Options{ReadLimit: 1024}, done))
			c := dialWS(t, ts, mode, "/", nil)
			wsOK(t, c, mode)
			for _, s := range tc.steps {
				key := testKey
				if s.unmask {
					key = nil
				}
				c.raw(frame(s.fin, s.rsv, s.op, s.payload, key))
			}
			code, _ := c.expectClose()
			if code != tc.want {
				t.Fatalf("close code %d, want %d", code, tc.want)
			}
			c.send(true, 0, 8, closePayload(code, ""))
			c.expectEOF()
			err := <-done
			if got := websocket.CloseStatus(err); got != websocket.StatusCode(tc.want) {
				t.Fatalf("server read error %v (status %d), want status %d", err, got, tc.want)
			}
		})
	}
}

// TestCloseCodes checks the codes a peer may send are accepted and the
// reason reaches the handler.
func TestCloseCodes(t *testing.T) { h2ctest.Run(t, testCloseCodes) }

func testCloseCodes(t *testing.T, mode h2ctest.Mode) {
	for _, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999, 0} {
		done := make(chan error, 1)
		ts := h2ctest.NewServer(t, echoHandler(websocket.Options{}, done))
		c := dialWS(t, ts, mode, "/", nil)
		wsOK(t, c, mode)
		payload := closePayload(code, "reason é")
		wantCode := code
		if code == 0 {
			payload, wantCode = nil, 1005
		}
		c.send(true, 0, 8, payload)
		got, _ := c.expectClose()
		if got != wantCode {
			t.Fatalf("code %d: echoed %d", code, got)
		}
		c.expectEOF()
		err := <-done
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || int(ce.Code) != wantCode {
			t.Fatalf("code %d: handler got %v", code, err)
		}
		if code != 0 && ce.Reason != "reason é" {
			t.Fatalf("reason %q", ce.Reason)
		}
	}
}

// TestServerClose checks Close's handshake and the close Handler sends
// when its function returns, for a private code and for the codes IANA
// registered after RFC 6455.
func TestServerClose(t *testing.T) { h2ctest.Run(t, testServerClose) }

func testServerClose(t *testing.T, mode h2ctest.Mode) {
	for _, tc := range []struct {
		code   websocket.StatusCode
		reason string
	}{
		{4001, "done here"},
		{websocket.StatusServiceRestart, "restarting"},
		{websocket.StatusTryAgainLater, "busy"},
		{websocket.StatusBadGateway, "upstream down"},
	} {
		closeErr := make(chan error, 1)
		ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
			if err := c.Write(ctx, websocket.Text, []byte("hi")); err != nil {
				t.Error(err)
			}
			if r := c.Request(); r.URL.Path != "/x" || c.HTTP2() != (mode != h2ctest.H1) {
				t.Errorf("Request path %q, HTTP2 %v", r.URL.Path, c.HTTP2())
			}
			closeErr <- c.Close(tc.code, tc.reason)
		}, websocket.Options{}))
		c := dialWS(t, ts, mode, "/x", nil)
		wsOK(t, c, mode)
		if op, msg, _ := c.message(); op != 1 || string(msg) != "hi" {
			t.Fatalf("got %d %q", op, msg)
		}
		code, reason := c.expectClose()
		if code != int(tc.code) || reason != tc.reason {
			t.Fatalf("close %d %q, want %d %q", code, reason, tc.code, tc.reason)
		}
		c.send(true, 0, 8, closePayload(code, ""))
		c.expectEOF()
		if err := <-closeErr; err != nil {
			t.Fatalf("Close(%d): %v", tc.code, err)
		}
	}
}

// TestHandlerReturnCloses checks Handler closes with 1000 when fn returns.
func TestHandlerReturnCloses(t *testing.T) { h2ctest.Run(t, testHandlerReturnCloses) }

func testHandlerReturnCloses(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {}, websocket.Options{}))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	if code, _ := c.expectClose(); code != 1000 {
		t.Fatalf("close code %d, want 1000", code)
	}
	c.send(true, 0, 8, closePayload(1000, ""))
	c.expectEOF()
}

// TestWriter checks how Writer frames a message: small Writes are
// coalesced, every frame but the last carries at least WriterFrameSize
// bytes, a large Write is a frame of its own, and Close sends the last
// frame (empty if nothing is left).
func TestWriter(t *testing.T) { h2ctest.Run(t, testWriter) }

func testWriter(t *testing.T, mode h2ctest.Mode) {
	const fs = websocket.WriterFrameSize
	for _, tc := range []struct {
		name   string
		writes []int // sizes of the Writes
		frames []int // sizes of the frames, the last one final
	}{
		{"none", nil, []int{0}},
		{"small", []int{3, 3, 5}, []int{11}},
		{"1000 of 1 byte", slices.Repeat([]int{1}, 1000), []int{1000}},
		{"exactly one frame", []int{fs}, []int{fs, 0}},
		{"large", []int{3 * fs}, []int{3 * fs, 0}},
		{"small then large", []int{6, fs + 100, 5}, []int{fs, 111}},
		{"small then two large", []int{6, fs, 2 * fs}, []int{fs, fs, fs + 6, 0}},
		{"many halves", []int{fs / 2, fs / 2, fs / 2}, []int{fs, fs / 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
				w, err := c.Writer(ctx, websocket.Binary)
				if err != nil {
					t.Error(err)
					return
				}
				var b byte
				for _, n := range tc.writes {
					p := make([]byte, n)
					for i := range p {
						p[i] = b
						b++
					}
					if k, err := w.Write(p); k != n || err != nil {
						t.Errorf("Write(%d bytes) = %d, %v", n, k, err)
					}
				}
				if err := w.Close(); err != nil {
					t.Error(err)
				}
				if _, err := w.Write([]byte("x")); err == nil {
					t.Error("Write after Close succeeded")
				}
				c.Read(ctx) // until the client's close
			}, websocket.Options{}))
			c := dialWS(t, ts, mode, "/", nil)
			wsOK(t, c, mode)
			var b byte
			for i, n := range tc.frames {
				f, err := c.next()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				op, fin := byte(0), i == len(tc.frames)-1
				if i == 0 {
					op = 2
				}
				if f.op != op || f.fin != fin || len(f.payload) != n {
					t.Fatalf("frame %d: %v, want op=%d fin=%v len=%d", i, f, op, fin, n)
				}
				for j, x := range f.payload {
					if x != b {
						t.Fatalf("frame %d byte %d = %d, want %d", i, j, x, b)
					}
					b++
				}
			}
			c.send(true, 0, 8, closePayload(1000, ""))
			if code, _ := c.expectClose(); code != 1000 {
				t.Fatalf("close %d", code)
			}
		})
	}
}

// TestReaderStream reads a fragmented message with Reader.
func TestReaderStream(t *testing.T) { h2ctest.Run(t, testReaderStream) }

func testReaderStream(t *testing.T, mode h2ctest.Mode) {
	got := make(chan string, 1)
	ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		typ, r, err := c.Reader(ctx)
		if err != nil || typ != websocket.Text {
			t.Errorf("Reader: %v %v", typ, err)
			return
		}
		var b strings.Builder
		buf := make([]byte, 3)
		for {
			n, err := r.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				if err.Error() != "EOF" {
					t.Errorf("read: %v", err)
				}
				break
			}
		}
		got <- b.String()
		c.Read(ctx)
	}, websocket.Options{}))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	c.send(false, 0, 1, []byte("stream"))
	c.send(false, 0, 0, []byte("ed "))
	c.send(true, 0, 0, []byte("κόσμε"))
	if s := <-got; s != "streamed κόσμε" {
		t.Fatalf("got %q", s)
	}
	c.send(true, 0, 8, closePayload(1000, ""))
	c.expectClose()
}

// TestPingPong checks Ping waits for its pong and the hooks run.
func TestPingPong(t *testing.T) { h2ctest.Run(t, testPingPong) }

func testPingPong(t *testing.T, mode h2ctest.Mode) {
	var mu sync.Mutex
	var pings []string
	pinged := make(chan error, 1)
	opts := websocket.Options{OnPing: func(p []byte) {
		mu.Lock()
		pings = append(pings, string(p))
		mu.Unlock()
	}}
	ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		go func() { pinged <- c.Ping(ctx, []byte("are you there")) }()
		c.Read(ctx)
	}, opts))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	f, err := c.next()
	if err != nil || f.op != 9 || string(f.payload) != "are you there" {
		t.Fatalf("got %+v %v, want the server's ping", f, err)
	}
	c.send(true, 0, 10, f.payload)
	if err := <-pinged; err != nil {
		t.Fatalf("Ping: %v", err)
	}
	c.send(true, 0, 9, []byte("client ping"))
	if f, err := c.next(); err != nil || f.op != 10 || string(f.payload) != "client ping" {
		t.Fatalf("got %+v %v, want pong", f, err)
	}
	c.send(true, 0, 8, closePayload(1000, ""))
	c.expectClose()
	mu.Lock()
	defer mu.Unlock()
	if len(pings) != 1 || pings[0] != "client ping" {
		t.Fatalf("OnPing saw %q", pings)
	}
}

func TestConcurrentWrites(t *testing.T) { h2ctest.Run(t, testConcurrentWrites) }

// Writes from many goroutines at once, and a Writer streaming a
// fragmented message among them, never interleave inside a message: the
// client gets every message whole, each exactly once.
func testConcurrentWrites(t *testing.T, mode h2ctest.Mode) {
	const writers, each = 8, 25
	ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		var wg sync.WaitGroup
		for g := range writers {
			wg.Go(func() {
				for i := range each {
					// Sizes around the frame header's length thresholds.
					msg := bytes.Repeat([]byte{byte('a' + g)}, 100+i*1000)
					copy(msg, fmt.Sprintf("%d/%d:", g, i))
					if err := c.Write(ctx, websocket.Binary, msg); err != nil {
						t.Errorf("writer %d: %v", g, err)
						return
					}
				}
			})
		}
		wg.Go(func() {
			w, err := c.Writer(ctx, websocket.Text)
			if err != nil {
				t.Errorf("Writer: %v", err)
				return
			}
			for i := range 10 {
				fmt.Fprintf(w, "part %d;", i)
			}
			if err := w.Close(); err != nil {
				t.Errorf("Writer.Close: %v", err)
			}
		})
		wg.Wait()
		c.Read(ctx) // until the client closes
	}, websocket.Options{}))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)

	seen := map[string]bool{}
	var text string
	for range writers*each + 1 {
		op, got, _ := c.message()
		if op == 1 {
			text = string(got)
			continue
		}
		head, _, ok := bytes.Cut(got, []byte(":"))
		var g, i int
		if _, err := fmt.Sscanf(string(head), "%d/%d", &g, &i); !ok || err != nil {
			t.Fatalf("a message with no header: %.40q", got)
		}
		want := bytes.Repeat([]byte{byte('a' + g)}, 100+i*1000)
		copy(want, fmt.Sprintf("%d/%d:", g, i))
		if !bytes.Equal(got, want) || seen[string(head)] {
			t.Fatalf("message %s: %d bytes, corrupted or repeated", head, len(got))
		}
		seen[string(head)] = true
	}
	var wantText strings.Builder
	for i := range 10 {
		fmt.Fprintf(&wantText, "part %d;", i)
	}
	if len(seen) != writers*each || text != wantText.String() {
		t.Fatalf("%d binary messages, text %q", len(seen), text)
	}
	c.send(true, 0, 8, closePayload(1000, ""))
	if code, _ := c.expectClose(); code != 1000 {
		t.Errorf("close answered with %d", code)
	}
}
