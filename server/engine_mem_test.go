package server_test

import (
	"bytes"
	"net"
	"runtime"
	"testing"

	"golang.org/x/net/http2"

	"github.com/molt-http/molt/internal/h2ctest"
)

// BenchmarkIdleConnMemory measures the heap each idle HTTP/2 connection
// (prior knowledge, SETTINGS exchanged, no stream) costs, on each engine,
// side by side: it opens b.N raw connections, waits until the server has
// answered each one's preface, and reports the heap in use afterwards,
// after a GC, per connection ("B/conn"). The clients are bare sockets on
// both sides of loopback, so their share is the same for both engines.
//
//	go test -run '^$' -bench BenchmarkIdleConnMemory -benchtime 2000x ./server
func BenchmarkIdleConnMemory(b *testing.B) {
	for _, e := range h2ctest.Engines {
		b.Run(string(e), func(b *testing.B) {
			ts := h2ctest.NewServer(b, describe, h2ctest.WithEngine(e))
			var hello bytes.Buffer
			hello.WriteString(http2.ClientPreface)
			fr := http2.NewFramer(&hello, nil)
			fr.WriteSettings()
			fr.WriteSettingsAck()
			conns := make([]net.Conn, 0, b.N)
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for range b.N {
				c := ts.Dial(b)
				conns = append(conns, c)
				if _, err := c.Write(hello.Bytes()); err != nil {
					b.Fatal(err)
				}
				// The server's SETTINGS: the engine serves the connection.
				if _, err := http2.NewFramer(nil, c).ReadFrame(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(b.N), "B/conn")
			b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/float64(b.N), "stackB/conn")
		})
	}
}
