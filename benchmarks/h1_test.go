package benchmarks

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/molt-http/molt"
	"github.com/molt-http/molt/internal/demo"
)

// startMoltApp starts what `molt serve -quiet` runs: a molt App with the
// demo routes on its router and no middleware.
func startMoltApp(tb testing.TB) string {
	tb.Helper()
	app := molt.New(molt.WithLogger(slog.New(slog.DiscardHandler)))
	demo.Register(app)
	ln := listen(tb)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- app.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			tb.Errorf("molt App Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// h1Targets are the servers BenchmarkH1Raw compares: what `molt serve
// -quiet` serves (molt-app), molt's core with an http.ServeMux
// (molt-core), and the x/net h2c baseline.
var h1Targets = []target{
	{"molt-app", startMoltApp},
	{"molt-core", startMolt},
	{"xneth2c", startXNetH2C},
}

// BenchmarkH1Raw sends GET / over kept-alive HTTP/1.1 connections, one
// per goroutine, with a client that allocates nothing, so that allocs/op
// and a CPU profile show the server's own costs per request. It is the
// in-process counterpart of h2load --h1 -c N -m 1.
func BenchmarkH1Raw(b *testing.B) {
	const req = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
	for _, tg := range h1Targets {
		b.Run(tg.name, func(b *testing.B) {
			addr := tg.start(b)
			// One response, to learn its exact size.
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			io.WriteString(c, req)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				b.Fatal(err)
			}
			var raw bytes.Buffer
			resp.Write(&raw)
			c.Close()
			size := raw.Len()
			if resp.StatusCode != 200 {
				b.Fatalf("GET /: %s", resp.Status)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				buf := make([]byte, size)
				for pb.Next() {
					if _, err := io.WriteString(c, req); err != nil {
						b.Error(err)
						return
					}
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					if _, err := io.ReadFull(c, buf); err != nil {
						if !errors.Is(err, net.ErrClosed) {
							b.Error(err)
						}
						return
					}
				}
			})
		})
	}
}
