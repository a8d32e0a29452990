package benchmarks

import (
	"fmt"
	"io"
	"net/http"
	"testing"
)

// BenchmarkUpgrade measures h2c upgrade handshakes: each iteration dials a
// fresh TCP connection, sends GET / with "Upgrade: h2c", reads the 101 and
// the response on stream 1 ("hello"), and closes the connection. It
// reports handshakes per second as conns/s.
func BenchmarkUpgrade(b *testing.B) {
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			addr := tg.start(b)
			b.ReportAllocs()
			for b.Loop() {
				switching, proto, body, err := upgradeGet(addr)
				if err != nil {
					b.Fatal(err)
				}
				if switching != http.StatusSwitchingProtocols || proto != 2 || len(body) != len("hello") {
					b.Fatalf("upgrade: switching %d, then HTTP/%d %q", switching, proto, body)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
		})
	}
}

// BenchmarkPrior measures GET / on one HTTP/2 prior-knowledge connection
// per server, made with net/http's client: one request at a time
// ("serial"), and from several goroutines at once ("parallel",
// 4 x GOMAXPROCS goroutines sharing the connection). It reports req/s.
func BenchmarkPrior(b *testing.B) { benchmarkRequests(b, true) }

// BenchmarkH1 is BenchmarkPrior over HTTP/1.1 keep-alive: "serial" uses one
// connection, "parallel" one connection per goroutine.
func BenchmarkH1(b *testing.B) { benchmarkRequests(b, false) }

func benchmarkRequests(b *testing.B, h2c bool) {
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			addr := tg.start(b)
			url := "http://" + addr + "/"
			c, dials := newClient(b, h2c)
			get := func() error {
				resp, err := c.Get(url)
				if err != nil {
					return err
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && (resp.StatusCode != http.StatusOK || n != int64(len("hello"))) {
					err = fmt.Errorf("GET /: %s, %d bytes", resp.Status, n)
				}
				return err
			}
			if err := get(); err != nil { // opens the first connection
				b.Fatal(err)
			}
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := get(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := get(); err != nil {
							b.Error(err) // not Fatal: this is not the benchmark goroutine
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
			if n := dials.Load(); h2c && n != 1 {
				b.Errorf("dialled %d connections, want 1", n)
			}
		})
	}
}
