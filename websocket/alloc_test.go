package websocket_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/websocket"
)

// TestEchoAllocs checks that a steady echo loop with AppendMessage and
// Write (or Writer) allocates nothing per message once its buffer has
// grown, plain and with permessage-deflate (no context takeover).
func TestEchoAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations")
	}
	cases := []struct {
		name    string
		opts    websocket.Options
		offer   string
		payload []byte
		chunk   int // echo through Writer in Writes of chunk bytes, 0: Write
	}{
		{"16B", websocket.Options{}, "", bytes.Repeat([]byte("x"), 16), 0},
		{"64KiB", websocket.Options{}, "", bytes.Repeat([]byte("x"), 64<<10), 0},
		{"deflate 1KiB", websocket.Options{Compression: websocket.CompressionNoContextTakeover}, "permessage-deflate", bytes.Repeat([]byte("compressible "), 80), 0},
		{"Writer 1KiB in 10B", websocket.Options{}, "", bytes.Repeat([]byte("x"), 1000), 10},
		{"Writer 64KiB in 1KiB", websocket.Options{}, "", bytes.Repeat([]byte("x"), 64<<10), 1 << 10},
		{"Writer deflate 1KiB in 100B", websocket.Options{Compression: websocket.CompressionNoContextTakeover}, "permessage-deflate", bytes.Repeat([]byte("compressible "), 80), 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if raceEnabled && tc.offer != "" {
				t.Skip("sync.Pool drops items under the race detector")
			}
			ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
				var buf []byte
				for {
					typ, msg, err := c.AppendMessage(ctx, buf[:0])
					if err != nil {
						return
					}
					buf = msg
					if tc.chunk == 0 {
						if c.Write(ctx, typ, msg) != nil {
							return
						}
						continue
					}
					w, err := c.Writer(ctx, typ)
					if err != nil {
						return
					}
					for p := msg; len(p) > 0; p = p[min(tc.chunk, len(p)):] {
						if _, err := w.Write(p[:min(tc.chunk, len(p))]); err != nil {
							return
						}
					}
					if w.Close() != nil {
						return
					}
				}
			}, tc.opts))
			hdr := map[string][]string{}
			if tc.offer != "" {
				hdr["Sec-WebSocket-Extensions"] = []string{tc.offer}
			}
			c := dialWS(t, ts, h2ctest.H1, "/", hdr)
			wsOK(t, c, h2ctest.H1)
			var out []byte
			if tc.offer != "" {
				out = frame(true, 4, 2, newDeflater().compress(tc.payload, true), testKey)
			} else {
				out = frame(true, 0, 2, tc.payload, testKey)
			}
			// The echo's length on the wire: learn it once, then read
			// exactly that.
			c.raw(out)
			wire := 0
			for {
				f, err := c.next()
				if err != nil {
					t.Fatal(err)
				}
				switch n := len(f.payload); {
				case n <= 125:
					wire += 2 + n
				case n <= 65535:
					wire += 4 + n
				default:
					wire += 10 + n
				}
				if f.fin {
					break
				}
			}
			in := make([]byte, wire)
			roundTrip := func() {
				if _, err := c.nc.Write(out); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c.br, in); err != nil {
					t.Fatal(err)
				}
			}
			for range 10 {
				roundTrip()
			}
			if a := testing.AllocsPerRun(200, roundTrip); a != 0 {
				t.Fatalf("%.2f allocations per echoed message, want 0", a)
			}
		})
	}
}

// TestCompressorAllocatedLazily checks that a connection with
// CompressionContextTakeover allocates its compressor (some 600 KiB) only
// when it first compresses a message: the handshake and a close cost
// about what they cost without compression. It compares the bytes
// allocated per connection, over HTTP/1.1, with and without compression.
func TestCompressorAllocatedLazily(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations")
	}
	perConn := func(opts websocket.Options, offer string) uint64 {
		ts := h2ctest.NewServer(t, echoHandler(opts, nil))
		hdr := map[string][]string{}
		if offer != "" {
			hdr["Sec-WebSocket-Extensions"] = []string{offer}
		}
		open := func() {
			c := dialWS(t, ts, h2ctest.H1, "/", hdr)
			wsOK(t, c, h2ctest.H1)
			if offer != "" && c.header.Get("Sec-WebSocket-Extensions") == "" {
				t.Fatal("permessage-deflate not negotiated")
			}
			c.send(true, 0, 8, closePayload(1000, ""))
			c.expectClose()
			c.expectEOF()
			c.nc.Close()
		}
		open() // warm up
		const n = 20
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range n {
			open()
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / n
	}
	plain := perConn(websocket.Options{}, "")
	ctx := perConn(websocket.Options{Compression: websocket.CompressionContextTakeover}, "permessage-deflate")
	t.Logf("bytes allocated per connection: %d plain, %d with context takeover", plain, ctx)
	if ctx > plain+128<<10 {
		t.Fatalf("a connection with context takeover that sends no message allocates %d bytes, %d more than a plain one", ctx, ctx-plain)
	}
}

// TestDialAllocs checks that a dialed Conn's round trip (Write, then
// AppendMessage into the previous buffer) allocates nothing per message
// over HTTP/1.1 once its buffer has grown, against the echo handler,
// which allocates nothing either: masking with a fresh key per frame
// costs no allocation.
func TestDialAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations")
	}
	cases := []struct {
		name    string
		comp    websocket.Compression
		payload []byte
	}{
		{"16B", websocket.CompressionDisabled, bytes.Repeat([]byte("x"), 16)},
		{"64KiB", websocket.CompressionDisabled, bytes.Repeat([]byte("x"), 64<<10)},
		{"deflate 1KiB", websocket.CompressionNoContextTakeover, bytes.Repeat([]byte("compressible "), 80)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if raceEnabled && tc.comp != websocket.CompressionDisabled {
				t.Skip("sync.Pool drops items under the race detector")
			}
			ts := h2ctest.NewServer(t, echoHandler(websocket.Options{Compression: tc.comp}, nil))
			c := mustDial(t, ts, h2ctest.H1, "/", &websocket.DialOptions{Compression: tc.comp})
			ctx := context.Background()
			var buf []byte
			var err error
			roundTrip := func() {
				if err = c.Write(ctx, websocket.Binary, tc.payload); err != nil {
					return
				}
				_, buf, err = c.AppendMessage(ctx, buf[:0])
				if err == nil && len(buf) != len(tc.payload) {
					t.Fatalf("echo of %d bytes, want %d", len(buf), len(tc.payload))
				}
			}
			for range 10 {
				roundTrip()
			}
			if a := testing.AllocsPerRun(200, roundTrip); a != 0 {
				t.Fatalf("%.2f allocations per round trip, want 0", a)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDialAllocsHTTP2 is TestDialAllocs over HTTP/2 (RFC 8441), by
// prior knowledge and after an h2c upgrade, against a server on molt's
// own engine, which allocates nothing per message either
// (benchmarks/websocket's TestServerAllocs): a dialed Conn's round trip
// through internal/h2client allocates nothing once its buffers have
// grown (h2client copied every DATA payload into a new slice).
func TestDialAllocsHTTP2(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations")
	}
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector, and the engine's frame buffers are pooled")
	}
	for _, mode := range []h2ctest.Mode{h2ctest.H2CPrior, h2ctest.H2CUpgrade} {
		for _, n := range []int{16, 1 << 10, 64 << 10} {
			t.Run(fmt.Sprintf("%s/%d", mode, n), func(t *testing.T) {
				ts := h2ctest.NewServer(t, echoHandler(websocket.Options{}, nil), h2ctest.WithEngine(h2ctest.H2))
				c := mustDial(t, ts, mode, "/", &websocket.DialOptions{})
				ctx := context.Background()
				payload := bytes.Repeat([]byte("x"), n)
				var buf []byte
				var err error
				roundTrip := func() {
					if err = c.Write(ctx, websocket.Binary, payload); err != nil {
						return
					}
					_, buf, err = c.AppendMessage(ctx, buf[:0])
					if err == nil && !bytes.Equal(buf, payload) {
						err = fmt.Errorf("echo of %d bytes differs from the %d sent", len(buf), n)
					}
				}
				for range 100 {
					roundTrip()
				}
				a := testing.AllocsPerRun(300, roundTrip)
				if err != nil {
					t.Fatal(err)
				}
				if a != 0 {
					t.Fatalf("%.2f allocations per round trip, want 0", a)
				}
			})
		}
	}
}
