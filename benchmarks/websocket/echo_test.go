package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/molt-http/molt/server"
)

// An echoServer is one of the servers under comparison.
type echoServer struct {
	name  string
	h2    bool // reachable over HTTP/2 with extended CONNECT
	start func(tb testing.TB) (addr string)
}

// echoServers are the servers of the comparison: molt's websocket package
// on molt's server, with the HTTP/2 engine on x/net ("molt") and with
// molt's own (package h2, "molt-h2"; over HTTP/1.1 the two are the
// same server, measured twice); gorilla/websocket and coder/websocket on net/http's
// server (they hijack, so they cannot serve HTTP/2 streams); and the floor.
var echoServers = []echoServer{
	{"molt", true, func(tb testing.TB) string { return startMolt(tb, MoltEcho(), server.NewXNetEngine) }},
	{"molt-h2", true, func(tb testing.TB) string { return startMolt(tb, MoltEcho(), server.NewH2Engine) }},
	{"gorilla", false, func(tb testing.TB) string { return startHTTP(tb, GorillaEcho()) }},
	{"coder", false, func(tb testing.TB) string { return startHTTP(tb, CoderEcho()) }},
	{"floor", true, func(tb testing.TB) string { return startFloor(tb, 1<<20) }},
}

// A transport is a way the client reaches the server.
type transport struct {
	name string
	dial func(addr, path string) (*client, error)
}

var transports = []transport{
	{"h1", dialH1},
	{"h2c-prior", dialH2},
}

// benchSizes are the message sizes of the benchmarks.
var benchSizes = []struct {
	name string
	n    int
}{
	{"16B", 16},
	{"1KiB", 1 << 10},
	{"64KiB", 64 << 10},
}

// listen opens a loopback listener on a free port.
func listen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	return ln
}

// tracked wraps h so that waitHandlers can wait for its calls to return:
// a hijacked connection is out of the server's reach, and its handler
// returns only once the client has closed.
func tracked(h http.Handler) (http.Handler, *sync.WaitGroup) {
	wg := new(sync.WaitGroup)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		h.ServeHTTP(w, r)
	}), wg
}

// waitHandlers waits at most 10 seconds for wg.
func waitHandlers(tb testing.TB, name string, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		tb.Errorf("%s: handlers still running 10s after the clients closed", name)
	}
}

// startMolt serves h with molt's server (HTTP/1.1, h2c upgrade and h2c
// prior knowledge on one port) on the given HTTP/2 engine (nil: the
// default) and stops it when tb ends; the clients, registered later, are
// closed first.
func startMolt(tb testing.TB, h http.Handler, engine func(server.Config) (server.Engine, error)) string {
	tb.Helper()
	h, wg := tracked(h)
	srv, err := server.New(server.Config{Handler: h, Engine: engine, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatalf("server.New: %v", err)
	}
	ln := listen(tb)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		waitHandlers(tb, "molt", wg)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("molt Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("molt Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// startHTTP serves h with net/http's server and stops it when tb ends.
func startHTTP(tb testing.TB, h http.Handler) string {
	tb.Helper()
	h, wg := tracked(h)
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.DiscardHandler, slog.LevelWarn),
	}
	ln := listen(tb)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	tb.Cleanup(func() {
		waitHandlers(tb, "net/http", wg)
		hs.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("net/http Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// startFloor serves the floor (serveFloor, with the given batch of
// HTTP/2 window) on its own accept loop and stops it when tb ends.
func startFloor(tb testing.TB, batch uint32) string {
	tb.Helper()
	ln := listen(tb)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serveFloor(c, batch) })
		}
	})
	tb.Cleanup(func() {
		ln.Close()
		waitHandlers(tb, "floor", &wg)
	})
	return ln.Addr().String()
}

// dial opens a client to srv over tr, closed (close 1000 expected back)
// when tb ends.
func dial(tb testing.TB, srv echoServer, tr transport, addr string) *client {
	tb.Helper()
	c, err := tr.dial(addr, "/ws")
	if err != nil {
		tb.Fatalf("%s over %s: %v", srv.name, tr.name, err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Errorf("%s over %s: close: %v", srv.name, tr.name, err)
		}
	})
	return c
}

// payload returns n bytes: printable ASCII for a text message (so valid
// UTF-8), random bytes for a binary one.
func payload(op byte, n int, rng *rand.Rand) []byte {
	p := make([]byte, n)
	for i := range p {
		if op == opText {
			p[i] = byte(' ' + rng.IntN(95))
		} else {
			p[i] = byte(rng.Uint32())
		}
	}
	return p
}

func maskKey(rng *rand.Rand) [4]byte {
	var k [4]byte
	for i := range k {
		k[i] = byte(rng.Uint32())
	}
	return k
}

// TestEcho checks that every server echoes text and binary messages of
// every size the benchmarks use (and the length encodings' edges) byte for
// byte, with their type, over every transport it supports, and answers
// the client's close 1000 with a close 1000; so that no server can look
// fast by not doing the work.
func TestEcho(t *testing.T) {
	sizes := []int{0, 1, 16, 125, 126, 1 << 10, 65535, 64 << 10, 64<<10 + 1, 1 << 20}
	for _, srv := range echoServers {
		for _, tr := range transports {
			if tr.name != "h1" && !srv.h2 {
				continue
			}
			t.Run(srv.name+"/"+tr.name, func(t *testing.T) {
				c := dial(t, srv, tr, srv.start(t))
				c.SetDeadline(time.Now().Add(time.Minute))
				rng := rand.New(rand.NewPCG(1, 2))
				for _, n := range sizes {
					for _, op := range []byte{opText, opBinary} {
						p := payload(op, n, rng)
						gotOp, got, err := c.RoundTrip(maskedFrame(op, p, maskKey(rng)))
						if err != nil {
							t.Fatalf("%d-byte message of type %d: %v", n, op, err)
						}
						if gotOp != op || !bytes.Equal(got, p) {
							t.Fatalf("%d-byte message of type %d: echo of type %d, %d bytes, equal %v",
								n, op, gotOp, len(got), bytes.Equal(got, p))
						}
					}
				}
				c.SetDeadline(time.Time{})
			})
		}
	}
}

// TestClientAllocs checks that the benchmark client allocates nothing per
// round trip, over HTTP/1.1 and HTTP/2, so that the allocations the
// benchmarks report (the whole process's) are the server's. It runs
// against the floor server, which allocates nothing either: zero in total
// means zero on both sides. The floor sends a WINDOW_UPDATE after every
// DATA frame here, as x/net's server may, so that the client is seen to
// take those without allocating too.
func TestClientAllocs(t *testing.T) {
	for _, tr := range transports {
		for _, size := range benchSizes {
			t.Run(tr.name+"/"+size.name, func(t *testing.T) {
				srv := echoServer{name: "floor"}
				c := dial(t, srv, tr, startFloor(t, 0))
				rng := rand.New(rand.NewPCG(3, 4))
				f := maskedFrame(opBinary, payload(opBinary, size.n, rng), maskKey(rng))
				var err error
				allocs := testing.AllocsPerRun(500, func() {
					var msg []byte
					if _, msg, err = c.RoundTrip(f); err == nil && len(msg) != size.n {
						err = fmt.Errorf("echo of %d bytes, want %d", len(msg), size.n)
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				if allocs != 0 {
					t.Errorf("%v allocations per round trip, want 0", allocs)
				}
			})
		}
	}
}

// TestServerAllocs checks that molt's server on its own HTTP/2 engine
// allocates nothing per echoed message in steady state, over h2c prior
// knowledge (RFC 8441) and HTTP/1.1, at every benchmark size, with the
// plain echo loop and with a fresh read and write deadline per message.
// The client allocates nothing (TestClientAllocs), so the process's
// allocations are the server's. molt on the x/net engine is logged, not
// held to it (x/net allocates per message).
func TestServerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector, and the h2 engine's frame buffers are pooled")
	}
	handlers := []struct {
		name string
		h    func() http.Handler
	}{
		{"echo", MoltEcho},
		{"echo with deadlines", MoltEchoDeadlines},
	}
	engines := []struct {
		name   string
		engine func(server.Config) (server.Engine, error)
		strict bool
	}{
		{"molt-h2", server.NewH2Engine, true},
		{"molt", server.NewXNetEngine, false},
	}
	for _, e := range engines {
		for _, h := range handlers {
			for _, tr := range transports {
				for _, size := range benchSizes {
					t.Run(e.name+"/"+h.name+"/"+tr.name+"/"+size.name, func(t *testing.T) {
						addr := startMolt(t, h.h(), e.engine)
						c := dial(t, echoServer{name: e.name}, tr, addr)
						rng := rand.New(rand.NewPCG(9, 10))
						p := payload(opBinary, size.n, rng)
						f := maskedFrame(opBinary, p, maskKey(rng))
						var err error
						roundTrip := func() {
							var msg []byte
							if _, msg, err = c.RoundTrip(f); err == nil && !bytes.Equal(msg, p) {
								err = fmt.Errorf("echo of %d bytes differs from the %d sent", len(msg), size.n)
							}
						}
						for range 100 { // steady state, as in benchEcho
							roundTrip()
						}
						allocs := testing.AllocsPerRun(500, roundTrip)
						if err != nil {
							t.Fatal(err)
						}
						switch {
						case allocs == 0:
						case e.strict:
							t.Errorf("%v allocations per echoed message, want 0", allocs)
						default:
							t.Logf("%v allocations per echoed message", allocs)
						}
					})
				}
			}
		}
	}
}

// BenchmarkEcho measures one round trip per operation: the client sends a
// binary message of the size and reads the echo. Each server runs
// in-process with the client on one connection over loopback; allocs/op
// are the server's (the client's are zero, TestClientAllocs). rt/s is
// round trips per second, 1e9 / ns/op.
func BenchmarkEcho(b *testing.B) { runEchoBenchmarks(b, benchEcho) }

// runEchoBenchmarks runs bench as sub-benchmarks proto=/size=/server= for
// every transport, message size and server that supports the transport.
func runEchoBenchmarks(b *testing.B, bench func(b *testing.B, srv echoServer, tr transport, n int)) {
	for _, tr := range transports {
		b.Run("proto="+tr.name, func(b *testing.B) {
			for _, size := range benchSizes {
				b.Run("size="+size.name, func(b *testing.B) {
					for _, srv := range echoServers {
						if tr.name != "h1" && !srv.h2 {
							continue
						}
						b.Run("server="+srv.name, func(b *testing.B) {
							bench(b, srv, tr, size.n)
						})
					}
				})
			}
		})
	}
}

func benchEcho(b *testing.B, srv echoServer, tr transport, n int) {
	c := dial(b, srv, tr, serverAddr(b, srv))
	rng := rand.New(rand.NewPCG(5, 6))
	p := payload(opBinary, n, rng)
	f := maskedFrame(opBinary, p, maskKey(rng))
	// Steady state: the buffers of both sides have grown to the message.
	for range 100 {
		if _, _, err := c.RoundTrip(f); err != nil {
			b.Fatal(err)
		}
	}
	var msg []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if _, msg, err = c.RoundTrip(f); err != nil {
			b.Fatal(err)
		}
		if len(msg) != n {
			b.Fatalf("echo of %d bytes, want %d", len(msg), n)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rt/s")
	if !bytes.Equal(msg, p) {
		b.Fatal("the last echo differs from the message")
	}
}

// concurrentConns is the number of connections of BenchmarkEchoConcurrent.
const concurrentConns = 16

// BenchmarkEchoConcurrent measures throughput instead of latency:
// concurrentConns clients, each on a connection of its own, send a
// message and read its echo over and over, all at once; an operation is
// one round trip on any of them. With client and server sharing the
// machine's CPUs, the figure is bound by CPU time per message rather than
// by loopback wake-ups, so it shows what a server costs per message; the
// client's share is the same for every server.
func BenchmarkEchoConcurrent(b *testing.B) { runEchoBenchmarks(b, benchEchoConcurrent) }

func benchEchoConcurrent(b *testing.B, srv echoServer, tr transport, n int) {
	procs := runtime.GOMAXPROCS(0)
	if concurrentConns%procs != 0 {
		b.Skipf("GOMAXPROCS %d does not divide %d connections", procs, concurrentConns)
	}
	addr := serverAddr(b, srv)
	rng := rand.New(rand.NewPCG(7, 8))
	p := payload(opBinary, n, rng)
	f := maskedFrame(opBinary, p, maskKey(rng))
	clients := make(chan *client, concurrentConns)
	for range concurrentConns {
		c := dial(b, srv, tr, addr)
		for range 100 { // steady state, as in benchEcho
			if _, _, err := c.RoundTrip(f); err != nil {
				b.Fatal(err)
			}
		}
		clients <- c
	}
	b.SetParallelism(concurrentConns / procs)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := <-clients
		var msg []byte
		for pb.Next() {
			var err error
			if _, msg, err = c.RoundTrip(f); err != nil {
				b.Error(err)
				return
			}
			if len(msg) != n {
				b.Errorf("echo of %d bytes, want %d", len(msg), n)
				return
			}
		}
		if msg != nil && !bytes.Equal(msg, p) {
			b.Error("the last echo differs from the message")
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rt/s")
}

// TestUnmask checks the floor's unmask against the definition, for every
// length of tail.
func TestUnmask(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for n := range 80 {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i * 7)
		}
		unmask(p, key)
		for i := range p {
			if want := byte(i*7) ^ key[i&3]; p[i] != want {
				t.Fatalf("length %d: byte %d is %#x, want %#x", n, i, p[i], want)
			}
		}
	}
}
