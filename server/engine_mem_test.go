package server_test

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/molt-http/molt/internal/h2ctest"
)

// The memory benchmarks open raw prior-knowledge connections (bare sockets
// on both sides of loopback, so the client's share is the same for both
// engines), bring each to the state measured, and report the heap and the
// stack in use afterwards, after a GC, per connection or per stream, on
// each engine side by side:
//
//	go test -run '^$' -bench 'Memory' -benchtime 2000x ./server
//
// MOLT_MEMPROFILE=DIR also writes, for each, a heap profile taken where
// the memory is measured (every allocation sampled), DIR/NAME.heap, to
// compare states: go tool pprof -sample_index=inuse_space -top -base
// DIR/BenchmarkIdleConnMemory_h2_fresh.heap
// DIR/BenchmarkIdleConnMemory_h2_served.heap

// BenchmarkIdleConnMemory measures an idle HTTP/2 connection, b.N
// connections: SETTINGS exchanged and no stream yet ("fresh"), just after
// one request was served ("served"), and a while after that ("rested":
// two seconds, past the second molt's engine keeps a connection's
// handler goroutines waiting for its next stream).
func BenchmarkIdleConnMemory(b *testing.B) {
	for _, e := range h2ctest.Engines {
		for _, state := range []string{"fresh", "served", "rested"} {
			served := state != "fresh"
			b.Run(string(e)+"/"+state, func(b *testing.B) {
				ts := h2ctest.NewServer(b, http.HandlerFunc(hello), h2ctest.WithEngine(e))
				requests := 0
				if served {
					requests = 1
				}
				hello := clientHello(requests)
				conns := make([]net.Conn, 0, b.N)
				defer func() { closeAll(conns) }()
				measureMemory(b, b.N, "conn", func() {
					for range b.N {
						c := ts.Dial(b)
						conns = append(conns, c)
						if _, err := c.Write(hello); err != nil {
							b.Fatal(err)
						}
						awaitServed(b, c, served)
					}
					if state == "rested" {
						time.Sleep(2 * time.Second)
					}
				})
			})
		}
	}
}

// BenchmarkOpenStreamMemory measures an open stream whose handler waits:
// b.N streams, 100 on each connection, the per-connection cost included.
func BenchmarkOpenStreamMemory(b *testing.B) {
	const perConn = 100
	for _, e := range h2ctest.Engines {
		b.Run(string(e), func(b *testing.B) {
			release := make(chan struct{})
			var running atomic.Int64
			ts := h2ctest.NewServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				running.Add(1)
				<-release
			}), h2ctest.WithEngine(e))
			var conns []net.Conn
			defer func() { closeAll(conns) }()
			defer close(release)
			measureMemory(b, b.N, "stream", func() {
				for opened := 0; opened < b.N; opened += perConn {
					n := min(perConn, b.N-opened)
					c := ts.Dial(b)
					conns = append(conns, c)
					if _, err := c.Write(clientHello(n)); err != nil {
						b.Fatal(err)
					}
				}
				for running.Load() < int64(b.N) {
					runtime.Gosched()
				}
			})
		})
	}
}

func hello(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }

// clientHello is what a client sends first: the preface, SETTINGS, the
// ACK of the server's, and n requests GET / on the streams 1, 3, ...
func clientHello(n int) []byte {
	var buf, block bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	fr.WriteSettings()
	fr.WriteSettingsAck()
	enc := hpack.NewEncoder(&block)
	for i := range n {
		block.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "molt.test"}, {":path", "/"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
	}
	return buf.Bytes()
}

// awaitServed reads the server's SETTINGS, and, if served, frames until
// the end of stream 1's response.
func awaitServed(b *testing.B, c net.Conn, served bool) {
	fr := http2.NewFramer(nil, c)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		if !served {
			return // the SETTINGS: the engine serves the connection
		}
		if f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagDataEndStream) {
			return
		}
	}
}

// measureMemory reports the heap and stack that open, run once, leaves in
// use, per unit.
func measureMemory(b *testing.B, n int, unit string, open func()) {
	dir := os.Getenv("MOLT_MEMPROFILE")
	if dir != "" {
		rate := runtime.MemProfileRate
		runtime.MemProfileRate = 1
		defer func() { runtime.MemProfileRate = rate }()
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	open()
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if dir != "" {
		writeHeapProfile(b, filepath.Join(dir, strings.ReplaceAll(b.Name(), "/", "_")+".heap"))
	}
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(n), "B/"+unit)
	b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/float64(n), "stackB/"+unit)
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// writeHeapProfile writes the heap profile as it is now to path.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}
