package load

import (
	"context"
	"errors"
	"math"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/demo"
	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/websocket"
)

// TestRunWS runs ModeWS against molt's WebSocket echo (internal/demo, the
// /ws of molt serve) on both engines, over HTTP/1.1 and RFC 8441, closed
// and open loop, one and several messages in flight, and checks the
// report's counts: every message echoed, one handshake per connection.
func TestRunWS(t *testing.T) {
	checkNoLeaks(t)
	h2ctest.RunEngines(t, func(t *testing.T, e h2ctest.Engine) {
		ts := h2ctest.NewServer(t, demo.WebSocket, h2ctest.WithEngine(e))
		tests := []struct {
			name       string
			cfg        Config
			wantStatus string
		}{
			{"h1", Config{Conns: 2}, "101"},
			{"h1 pipelined", Config{Conns: 2, Streams: 8, WSSize: 1000}, "101"},
			{"h1 tiny", Config{Conns: 1, Streams: 3, WSSize: 3}, "101"},
			{"h1 open loop", Config{Conns: 2, Streams: 4, Rate: 2000}, "101"},
			{"h2", Config{Conns: 2, WSHTTP2: true}, "200"},
			{"h2 pipelined", Config{Conns: 2, Streams: 8, WSHTTP2: true, WSSize: 70000}, "200"},
			{"h2 open loop", Config{Conns: 2, Streams: 4, Rate: 2000, WSHTTP2: true}, "200"},
			{"h2 reached by upgrade", Config{Conns: 2, Streams: 4, WSHTTP2: true, WSUpgrade: true}, "200"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cfg := tt.cfg
				cfg.Mode = ModeWS
				cfg.URL = ts.URL + "/ws"
				cfg.Requests = 120
				rep, err := Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				size := uint64(cfg.WSSize)
				if size == 0 {
					size = DefaultWSSize
				}
				if rep.Requests != 120 || rep.Errors != 0 || rep.BodyBytes != 120*size || rep.Latency.Count != 120 {
					t.Errorf("report: %d messages, %d errors %v, %d bytes, %d latencies; want 120 echoed of %d bytes",
						rep.Requests, rep.Errors, rep.ErrorSample, rep.BodyBytes, rep.Latency.Count, size)
				}
				// One connection can echo all 120 messages before another
				// has finished its handshake: that one is not counted.
				ws := rep.WebSocket
				if ws == nil || ws.HTTP2 != cfg.WSHTTP2 || ws.H2CUpgrade != cfg.WSUpgrade || ws.MessageSize != int(size) || ws.Handshake.Count < 1 || ws.Handshake.Count > uint64(cfg.Conns) {
					t.Fatalf("websocket report %+v, want http2 %v, size %d, 1 to %d handshakes", ws, cfg.WSHTTP2, size, cfg.Conns)
				}
				shook := ws.Handshake.Count
				if rep.Status[tt.wantStatus] != shook || len(rep.Status) != 1 {
					t.Errorf("handshake status %v, want %s: %d", rep.Status, tt.wantStatus, shook)
				}
				if rep.Connects < shook || rep.Connects > uint64(cfg.Conns) || rep.Upgrade != nil || rep.TTFB.Count != 0 {
					t.Errorf("%d connects, upgrade %v, ttfb %d; want %d to %d connects, neither of the others", rep.Connects, rep.Upgrade, rep.TTFB.Count, shook, cfg.Conns)
				}
				if rep.Mode != ModeWS {
					t.Errorf("mode %q", rep.Mode)
				}
			})
		}
	})
}

// badEcho echoes the first message (the probe's) and then returns every
// message with its last byte changed, or, with swap set, the messages of
// each pair in reverse order.
func badEcho(swap bool) http.Handler {
	return websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		first := true
		var held []byte
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			switch {
			case first:
				first = false
			case swap && held == nil:
				held = msg
				continue
			case swap:
				if err := c.Write(ctx, typ, msg); err != nil {
					return
				}
				msg, held = held, nil
			case len(msg) > 0:
				msg[len(msg)-1]++
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	}, websocket.Options{})
}

// TestRunWSErrors checks the failures of ModeWS: a server that does not
// open the WebSocket, or whose probe echo is wrong, fails the set-up with
// the step named; a reply that is not the message sent, changed or out
// of order, counts as a protocol error.
func TestRunWSErrors(t *testing.T) {
	checkNoLeaks(t)
	mux := http.NewServeMux()
	mux.Handle("/ws", demo.WebSocket)
	mux.Handle("/changed", badEcho(false))
	mux.Handle("/swapped", badEcho(true))
	mux.Handle("/stalled", websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		typ, msg, err := c.Read(ctx) // the first message is echoed, the others not
		if err != nil || c.Write(ctx, typ, msg) != nil {
			return
		}
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}, websocket.Options{}))
	mux.Handle("/silent", websocket.Handler(func(ctx context.Context, c *websocket.Conn) { c.Read(ctx) }, websocket.Options{}))
	mux.HandleFunc("/", hello)
	ts := h2ctest.NewServer(t, mux)
	setup := []struct {
		name string
		cfg  Config
		want string
	}{
		{"not a websocket", Config{URL: ts.URL + "/"}, "the server declined the WebSocket: websocket: dial: server did not switch protocols (400 Bad Request)"},
		{"not a websocket h2", Config{URL: ts.URL + "/", WSHTTP2: true}, "the server declined the WebSocket"},
		{"no echo", Config{URL: ts.URL + "/silent"}, "the WebSocket opened but the echo failed"},
		{"reserved header", Config{URL: ts.URL + "/ws", WSHTTP2: true, Header: http.Header{"Sec-Websocket-Key": {"x"}}}, "WebSocket handshake failed"},
	}
	for _, tt := range setup {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Mode, cfg.Requests, cfg.Timeout = ModeWS, 10, 300e6
			_, err := Run(context.Background(), cfg)
			if !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %v, want ErrSetup and %q", err, tt.want)
			}
		})
	}
	t.Run("/stalled", func(t *testing.T) {
		rep, err := Run(context.Background(), Config{URL: ts.URL + "/stalled", Mode: ModeWS, Conns: 1, Streams: 2, Requests: 6, Timeout: 200e6})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Requests >= 6 || rep.ErrorKinds[KindTimeout] == 0 {
			t.Errorf("%d messages echoed, errors %v; want timeouts", rep.Requests, rep.ErrorSample)
		}
	})
	for _, path := range []string{"/changed", "/swapped"} {
		t.Run(path, func(t *testing.T) {
			// Each connection's first message comes back whole, the
			// second does not; the reconnections go on until 20 are done.
			rep, err := Run(context.Background(), Config{URL: ts.URL + path, Mode: ModeWS, Conns: 1, Streams: 2, Requests: 20, WSSize: 16, Timeout: 500e6})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Requests >= 20 || rep.ErrorKinds[KindProtocol] == 0 || rep.ErrorKinds[KindOther] != 0 {
				t.Errorf("%d messages echoed, errors %v; want protocol errors (and nothing of kind other)", rep.Requests, rep.ErrorSample)
			}
			if want := "websocket echo mismatch: the reply is not the message sent (protocol): message 1 of 16 bytes"; !strings.Contains(rep.ErrorSample[KindProtocol], want) {
				t.Errorf("protocol error %q, want %q", rep.ErrorSample[KindProtocol], want)
			}
		})
	}
}

// TestRunWSBadConfig checks the ws options are refused where they do not
// apply, and out of range.
func TestRunWSBadConfig(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Mode: ModeH2C, WSHTTP2: true}, "apply to mode ws"},
		{Config{Mode: ModeH1, WSSize: 10}, "apply to mode ws"},
		{Config{Mode: ModeWS, WSUpgrade: true}, "over HTTP/2 (WSHTTP2) only"},
		{Config{Mode: ModeWS, WSSize: -1}, "message size -1"},
		{Config{Mode: ModeWS, WSSize: maxWSSize + 1}, "message size"},
		{Config{Mode: ModeWS, Conns: 1000, WSSize: maxWSSize}, "at most 1073741824 bytes of message buffers"},
		{Config{Mode: ModeWS, Method: "POST"}, "takes no method or body"},
		{Config{Mode: ModeWS, Body: []byte("x")}, "takes no method or body"},
	}
	for _, tt := range tests {
		cfg := tt.cfg
		cfg.URL, cfg.Requests = "http://127.0.0.1:1/ws", 1
		if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Run(%+v) = %v, want an error containing %q", tt.cfg, err, tt.want)
		}
	}
}

// wsMallocs returns the heap allocations of the process during a ModeWS
// run of n messages against ts on one connection.
func wsMallocs(t *testing.T, url string, http2 bool, n int64) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rep, err := Run(context.Background(), Config{URL: url, Mode: ModeWS, Conns: 1, Requests: n, WSHTTP2: http2})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != uint64(n) {
		t.Fatalf("%d messages echoed, want %d (errors %v)", rep.Requests, n, rep.ErrorSample)
	}
	return after.Mallocs - before.Mallocs
}

// TestRunWSAllocs measures the allocations per message in steady state:
// the difference between a run of 4000 messages and one of 2000, divided
// by 2000, so that the set-up cancels out. It counts the whole process,
// the echo server included (whose Conn, like the client's, allocates
// nothing per message over HTTP/1.1). Over HTTP/1.1 the total must stay
// under one allocation per message; over HTTP/2 it is only logged, as the
// stream's data frames go through the engine. With MOLT_BENCH_WS_URL set
// to the /ws of a molt serve in another process, it counts the client's
// allocations alone.
func TestRunWSAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations over 6000 messages")
	}
	url := os.Getenv("MOLT_BENCH_WS_URL") // a molt serve in another process: the client's allocations alone
	if url == "" {
		url = h2ctest.NewServer(t, demo.WebSocket).URL + "/ws"
	}
	for _, http2 := range []bool{false, true} {
		// The least of three tries: the count is the whole process's, and
		// goroutines left by earlier tests may still be winding down.
		per := math.Inf(1)
		for range 3 {
			small := wsMallocs(t, url, http2, 2000)
			large := wsMallocs(t, url, http2, 4000)
			per = min(per, (float64(large)-float64(small))/2000)
		}
		t.Logf("http2 %v: %.2f allocations per message (client and server)", http2, per)
		if !http2 && per >= 1 {
			t.Errorf("HTTP/1.1: %.2f allocations per message, want under 1", per)
		}
	}
}

// TestRunWSCancel cancels a ws run in the middle: Run returns at once
// with what was measured, and leaves no goroutine behind, over HTTP/1.1
// and HTTP/2.
func TestRunWSCancel(t *testing.T) {
	checkNoLeaks(t)
	ts := h2ctest.NewServer(t, demo.WebSocket)
	for _, http2 := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan *Report, 1)
		go func() {
			rep, err := Run(ctx, Config{URL: ts.URL + "/ws", Mode: ModeWS, Conns: 2, Streams: 4, WSHTTP2: http2, Duration: time.Minute})
			if err != nil {
				t.Error(err)
			}
			done <- rep
		}()
		time.Sleep(200 * time.Millisecond)
		cancel()
		select {
		case rep := <-done:
			if rep != nil && (rep.Requests == 0 || rep.Errors != 0) {
				t.Errorf("http2 %v: %d messages, errors %v; want some echoed and no error counted for the interruption", http2, rep.Requests, rep.ErrorSample)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("http2 %v: Run did not return after cancel", http2)
		}
	}
}
