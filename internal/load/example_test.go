package load_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/molt-http/molt/internal/load"
	"github.com/molt-http/molt/websocket"
)

// ExampleRun loads a server that speaks HTTP/2 by prior knowledge (here
// net/http's, with unencrypted HTTP/2 on) with 2 connections of 4 streams
// each, for 100 requests.
func ExampleRun() {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()

	rep, err := load.Run(context.Background(), load.Config{
		URL: srv.URL + "/", Mode: load.ModeH2C, Conns: 2, Streams: 4, Requests: 100,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d answered (%d with 200), %d failed, %d body bytes\n", rep.Requests, rep.Status["200"], rep.Errors, rep.BodyBytes)
	fmt.Println("latency samples:", rep.Latency.Count)
	// Output:
	// 100 answered (100 with 200), 0 failed, 500 body bytes
	// latency samples: 100
}

// ExampleRun_ws loads a WebSocket echo over HTTP/1.1 (here a
// websocket.Handler on net/http's server) with 2 connections of 4
// messages in flight each, for 200 messages of 128 bytes.
func ExampleRun_ws() {
	echo := websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		var buf []byte
		for {
			typ, msg, err := c.AppendMessage(ctx, buf[:0])
			if err != nil || c.Write(ctx, typ, msg) != nil {
				return
			}
			buf = msg
		}
	}, websocket.Options{})
	srv := httptest.NewServer(echo)
	defer srv.Close()

	rep, err := load.Run(context.Background(), load.Config{
		URL: srv.URL + "/", Mode: load.ModeWS, Conns: 2, Streams: 4, Requests: 200, WSSize: 128,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d echoed, %d failed, %d bytes\n", rep.Requests, rep.Errors, rep.BodyBytes)
	fmt.Printf("handshakes: %d (%d answered 101)\n", rep.WebSocket.Handshake.Count, rep.Status["101"])
	// Output:
	// 200 echoed, 0 failed, 25600 bytes
	// handshakes: 2 (2 answered 101)
}

// ExampleHistogram records latencies and reads quantiles, exact to 0.1%.
func ExampleHistogram() {
	var h load.Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	fmt.Println("count:", h.Count())
	fmt.Println("min:", h.Min(), "max:", h.Max())
	fmt.Println("p50:", h.Quantile(0.5).Round(time.Microsecond))
	fmt.Println("p99:", h.Quantile(0.99).Round(time.Microsecond))
	// Output:
	// count: 1000
	// min: 1µs max: 1ms
	// p50: 500µs
	// p99: 990µs
}
