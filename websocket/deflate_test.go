package websocket_test

import (
	"bytes"
	"compress/flate"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/websocket"
)

// deflater compresses messages the way a client does, keeping its
// context across messages unless reset.
type deflater struct {
	buf bytes.Buffer
	w   *flate.Writer
}

func newDeflater() *deflater {
	d := &deflater{}
	d.w, _ = flate.NewWriter(&d.buf, flate.BestCompression)
	return d
}

func (d *deflater) compress(p []byte, reset bool) []byte {
	d.buf.Reset()
	if reset {
		d.w.Reset(&d.buf)
	}
	d.w.Write(p)
	d.w.Flush()
	b := bytes.Clone(d.buf.Bytes())
	return bytes.TrimSuffix(b, []byte{0, 0, 0xff, 0xff})
}

// inflater decompresses the server's messages, with a dictionary of what
// came before when the server keeps its context.
type inflater struct{ hist []byte }

func (f *inflater) inflate(t testing.TB, p []byte, keep bool) []byte {
	t.Helper()
	src := io.MultiReader(bytes.NewReader(p), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff"))
	dict := f.hist
	if len(dict) > 32768 {
		dict = dict[len(dict)-32768:]
	}
	r := flate.NewReaderDict(src, dict)
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflating the server's message: %v", err)
	}
	if keep {
		f.hist = append(f.hist, out...)
	}
	return out
}

func TestDeflateEcho(t *testing.T) { h2ctest.Run(t, testDeflateEcho) }

func testDeflateEcho(t *testing.T, mode h2ctest.Mode) {
	msgs := [][]byte{
		[]byte(strings.Repeat("compress me, compress me! ", 100)),
		[]byte(strings.Repeat("compress me, compress me! ", 101)),
		[]byte("short"), // under the threshold: sent back plain
		bytes.Repeat([]byte{0, 1, 2, 3, 4, 5, 6, 7}, 40000),
		{},
	}
	cases := []struct {
		name       string
		mode       websocket.Compression
		offer      string
		clientKeep bool // client keeps its context
		serverKeep bool // server keeps its context
	}{
		{"no context takeover", websocket.CompressionNoContextTakeover, "permessage-deflate; client_max_window_bits", false, false},
		{"context takeover", websocket.CompressionContextTakeover, "permessage-deflate; client_max_window_bits", true, true},
		{"context takeover, client resets", websocket.CompressionContextTakeover, "permessage-deflate; client_no_context_takeover", false, true},
		{"context takeover, server window 9", websocket.CompressionContextTakeover, "permessage-deflate; server_max_window_bits=9", true, true},
		{"server resets", websocket.CompressionContextTakeover, "permessage-deflate; server_no_context_takeover", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := h2ctest.NewServer(t, echoHandler(websocket.Options{Compression: tc.mode}, nil))
			c := dialWS(t, ts, mode, "/", http.Header{"Sec-WebSocket-Extensions": {tc.offer}})
			wsOK(t, c, mode)
			if !strings.HasPrefix(c.header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
				t.Fatalf("extensions %q", c.header.Get("Sec-WebSocket-Extensions"))
			}
			d, f := newDeflater(), &inflater{}
			for round := range 2 {
				for i, m := range msgs {
					z := d.compress(m, !tc.clientKeep)
					if round == 1 && len(z) > 10 {
						// Fragmented: RSV1 on the first frame only.
						c.send(false, 4, 2, z[:5])
						c.send(false, 0, 0, z[5:10])
						c.send(true, 0, 0, z[10:])
					} else {
						c.send(true, 4, 2, z)
					}
					op, got, rsv1 := c.message()
					if rsv1 != (len(m) >= websocket.DefaultCompressionThreshold) {
						t.Fatalf("message %d: rsv1 %v for %d bytes", i, rsv1, len(m))
					}
					if rsv1 {
						got = f.inflate(t, got, tc.serverKeep)
					} else if tc.serverKeep {
						f.hist = append(f.hist, got...)
					}
					if op != 2 || !bytes.Equal(got, m) {
						t.Fatalf("round %d message %d: op %d, %d bytes back, want %d", round, i, op, len(got), len(m))
					}
				}
			}
			c.send(true, 0, 8, closePayload(1000, ""))
			if code, _ := c.expectClose(); code != 1000 {
				t.Fatalf("close %d", code)
			}
		})
	}
}

// TestDeflateLimits checks a small frame that inflates past the read
// limit fails with 1009, and corrupt data with 1007.
func TestDeflateLimits(t *testing.T) { h2ctest.Run(t, testDeflateLimits) }

func testDeflateLimits(t *testing.T, mode h2ctest.Mode) {
	bomb := newDeflater().compress(make([]byte, 10<<20), true)
	cases := []struct {
		name    string
		payload []byte
		op      byte
		want    int
	}{
		{"bomb", bomb, 2, 1009},
		{"corrupt", []byte{0xff, 0xff, 0xff, 0xff}, 2, 1007},
		{"invalid utf8 inside", newDeflater().compress([]byte("abc\xff"), true), 1, 1007},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			ts := h2ctest.NewServer(t, echoHandler(websocket.Options{Compression: websocket.CompressionNoContextTakeover, ReadLimit: 1 << 20}, done))
			c := dialWS(t, ts, mode, "/", http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate"}})
			wsOK(t, c, mode)
			if len(bomb) > 20<<10 {
				t.Fatalf("bomb is %d bytes", len(bomb))
			}
			c.send(true, 4, tc.op, tc.payload)
			if code, _ := c.expectClose(); code != tc.want {
				t.Fatalf("close %d, want %d", code, tc.want)
			}
			c.send(true, 0, 8, closePayload(tc.want, ""))
			c.expectEOF()
			if got := websocket.CloseStatus(<-done); got != websocket.StatusCode(tc.want) {
				t.Fatalf("server error status %d", got)
			}
		})
	}
}

// TestWriterDeflate checks a streamed message is compressed.
func TestWriterDeflate(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		text := strings.Repeat("streamed and compressed ", 500)
		ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
			w, err := c.Writer(ctx, websocket.Text)
			if err != nil {
				t.Error(err)
				return
			}
			for i := 0; i < len(text); i += 1000 {
				w.Write([]byte(text[i:min(i+1000, len(text))]))
			}
			if err := w.Close(); err != nil {
				t.Error(err)
			}
			c.Read(ctx)
		}, websocket.Options{Compression: websocket.CompressionNoContextTakeover}))
		c := dialWS(t, ts, mode, "/", http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate"}})
		wsOK(t, c, mode)
		op, z, rsv1 := c.message()
		if op != 1 || !rsv1 {
			t.Fatalf("op %d rsv1 %v", op, rsv1)
		}
		if got := (&inflater{}).inflate(t, z, false); string(got) != text {
			t.Fatalf("got %d bytes, want %d", len(got), len(text))
		}
		c.send(true, 0, 8, closePayload(1000, ""))
		c.expectClose()
	})
}
