package websocket

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/molt-http/molt/server"
	"github.com/molt-http/molt/websocket"
)

// An echoClient is one of the WebSocket clients under comparison, with
// one connection open: roundTrip writes p as one binary message and reads
// the echo into buf, returning it.
type echoClient interface {
	roundTrip(ctx context.Context, p, buf []byte) ([]byte, error)
	close() error
}

// clientKinds are the clients of BenchmarkClientEcho, each dialing the
// same server: molt's websocket.Dial (over HTTP/1.1 and, alone of them,
// over HTTP/2), gorilla's Dialer and coder's Dial, every one at its
// fastest: a reused read buffer, single-frame writes, no compression.
var clientKinds = []struct {
	name string
	h2   bool
	dial func(ctx context.Context, addr string, h2 bool) (echoClient, error)
}{
	{"molt", true, dialMolt},        // websocket.Dial; Write, AppendMessage
	{"gorilla", false, dialGorilla}, // Dialer.DialContext; WriteMessage, NextReader
	{"coder", false, dialCoder},     // Dial; Write, Reader
}

type moltClient struct{ c *websocket.Conn }

func dialMolt(ctx context.Context, addr string, h2 bool) (echoClient, error) {
	opts := &websocket.DialOptions{ReadLimit: 32 << 20}
	if h2 {
		opts.Protocol = websocket.DialH2CPrior
	}
	c, err := websocket.Dial(ctx, "ws://"+addr+"/ws", opts)
	if err != nil {
		return nil, err
	}
	return moltClient{c}, nil
}

func (m moltClient) roundTrip(ctx context.Context, p, buf []byte) ([]byte, error) {
	if err := m.c.Write(ctx, websocket.Binary, p); err != nil {
		return nil, err
	}
	_, buf, err := m.c.AppendMessage(ctx, buf[:0])
	return buf, err
}

func (m moltClient) close() error { return m.c.Close(websocket.StatusNormalClosure, "") }

type gorillaClient struct{ c *gorilla.Conn }

func dialGorilla(ctx context.Context, addr string, _ bool) (echoClient, error) {
	c, _, err := gorilla.DefaultDialer.DialContext(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		return nil, err
	}
	return gorillaClient{c}, nil
}

func (g gorillaClient) roundTrip(_ context.Context, p, buf []byte) ([]byte, error) {
	if err := g.c.WriteMessage(gorilla.BinaryMessage, p); err != nil {
		return nil, err
	}
	_, r, err := g.c.NextReader()
	if err != nil {
		return nil, err
	}
	return readInto(buf, r)
}

func (g gorillaClient) close() error {
	msg := gorilla.FormatCloseMessage(gorilla.CloseNormalClosure, "")
	g.c.WriteControl(gorilla.CloseMessage, msg, time.Now().Add(5*time.Second))
	g.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := g.c.NextReader(); err != nil {
			break
		}
	}
	return g.c.Close()
}

type coderClient struct{ c *coder.Conn }

func dialCoder(ctx context.Context, addr string, _ bool) (echoClient, error) {
	c, _, err := coder.Dial(ctx, "ws://"+addr+"/ws", &coder.DialOptions{CompressionMode: coder.CompressionDisabled})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(32 << 20)
	return coderClient{c}, nil
}

func (k coderClient) roundTrip(ctx context.Context, p, buf []byte) ([]byte, error) {
	if err := k.c.Write(ctx, coder.MessageBinary, p); err != nil {
		return nil, err
	}
	_, r, err := k.c.Reader(ctx)
	if err != nil {
		return nil, err
	}
	return readInto(buf, r)
}

func (k coderClient) close() error { return k.c.Close(coder.StatusNormalClosure, "") }

// clientServers are the servers the clients talk to: the floor (floor.go,
// the least a server can do, so that what is measured is the client),
// over HTTP/1.1 and HTTP/2, and molt's server for comparison.
var clientServers = []struct {
	name  string
	start func(tb testing.TB) string
}{
	{"floor", func(tb testing.TB) string { return startFloor(tb, 1<<20) }},
	{"molt", func(tb testing.TB) string { return startMolt(tb, MoltEcho(), server.NewXNetEngine) }},
	{"molt-h2", func(tb testing.TB) string { return startMolt(tb, MoltEcho(), server.NewH2Engine) }},
}

func dialClient(tb testing.TB, name string, dial func(context.Context, string, bool) (echoClient, error), addr string, h2 bool) echoClient {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dial(ctx, addr, h2)
	if err != nil {
		tb.Fatalf("%s: dial: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := c.close(); err != nil {
			tb.Errorf("%s: close: %v", name, err)
		}
	})
	return c
}

// TestClients checks that every client round-trips binary messages of
// every size byte for byte against every server, over every transport it
// speaks, so that no client can look fast by not doing the work.
func TestClients(t *testing.T) {
	sizes := []int{0, 1, 16, 125, 126, 1 << 10, 65535, 64 << 10, 1 << 20}
	for _, srv := range clientServers {
		for _, k := range clientKinds {
			for _, h2 := range []bool{false, true} {
				if h2 && !k.h2 {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/h2=%v", srv.name, k.name, h2), func(t *testing.T) {
					c := dialClient(t, k.name, k.dial, srv.start(t), h2)
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					rng := rand.New(rand.NewPCG(7, 8))
					var buf []byte
					for _, n := range sizes {
						p := payload(opBinary, n, rng)
						got, err := c.roundTrip(ctx, p, buf)
						if err != nil || !bytes.Equal(got, p) {
							t.Fatalf("%d bytes: echo of %d bytes, %v", n, len(got), err)
						}
						buf = got
					}
				})
			}
		}
	}
}

// BenchmarkClientEcho measures one round trip per operation, as
// BenchmarkEcho does, with the client varying instead of the server:
// proto=/size=/server=/client=. allocs/op are both sides' together; the
// floor server allocates nothing, so against it they are the client's.
func BenchmarkClientEcho(b *testing.B) {
	for _, proto := range []string{"h1", "h2c-prior"} {
		b.Run("proto="+proto, func(b *testing.B) {
			for _, size := range benchSizes {
				b.Run("size="+size.name, func(b *testing.B) {
					for _, srv := range clientServers {
						b.Run("server="+srv.name, func(b *testing.B) {
							for _, k := range clientKinds {
								h2 := proto != "h1"
								if h2 && !k.h2 {
									continue
								}
								b.Run("client="+k.name, func(b *testing.B) {
									c := dialClient(b, k.name, k.dial, srv.start(b), h2)
									ctx := context.Background()
									p := payload(opBinary, size.n, rand.New(rand.NewPCG(9, 10)))
									buf := make([]byte, 0, size.n)
									b.SetBytes(int64(size.n))
									b.ReportAllocs()
									b.ResetTimer()
									for b.Loop() {
										got, err := c.roundTrip(ctx, p, buf)
										if err != nil || len(got) != size.n {
											b.Fatalf("echo of %d bytes, %v", len(got), err)
										}
										buf = got
									}
									b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rt/s")
								})
							}
						})
					}
				})
			}
		})
	}
}
