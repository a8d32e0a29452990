package middleware_test

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
	"github.com/molt-http/molt/router"
)

// fullStack is a router with every middleware of the package that wraps
// ordinary routes, in a plausible order.
func fullStack(t *testing.T) *router.Router {
	r := router.New()
	r.Use(
		middleware.Recoverer(middleware.RecovererOptions{Logger: slog.New(slog.DiscardHandler)}),
		middleware.RequestID(middleware.RequestIDOptions{}),
		middleware.ClientIP(middleware.ClientIPOptions{}),
		middleware.Logger(middleware.LoggerOptions{Logger: slog.New(slog.DiscardHandler)}),
		middleware.Health(middleware.HealthOptions{}),
		middleware.CORS(middleware.CORSOptions{AllowedOrigins: []string{"https://app.example"}}),
		middleware.RateLimit(middleware.RateLimitOptions{Requests: 1000, Period: time.Second, Burst: 1000}),
		middleware.Timeout(middleware.TimeoutOptions{Duration: time.Minute}),
		middleware.BodyLimit(middleware.BodyLimitOptions{Limit: 1 << 20}),
		middleware.NoCache,
		middleware.Compress(middleware.CompressOptions{MinSize: 1}),
		middleware.ETag(middleware.ETagOptions{}),
	)
	return r
}

// Under the whole stack a handler still streams with Flush (compressed,
// event by event) in every mode, takes over an HTTP/1.1 connection for a
// WebSocket-style upgrade, and learns over HTTP/2 that Hijack is not
// supported.
func TestFullStackKeepsStreamingAndHijacking(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		next := make(chan struct{})
		r := fullStack(t)
		r.Get("/events", func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			rc := http.NewResponseController(w)
			for i := range 3 {
				fmt.Fprintf(w, "data: event %d\n\n", i)
				if err := rc.Flush(); err != nil {
					return
				}
				select {
				case <-next: // the client read the event
				case <-req.Context().Done():
					return
				}
			}
		})
		r.Get("/ws", func(w http.ResponseWriter, req *http.Request) {
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				if !errors.Is(err, http.ErrNotSupported) {
					t.Errorf("Hijack: %v, want ErrNotSupported", err)
				}
				http.Error(w, "no hijack here", http.StatusNotImplemented)
				return
			}
			defer c.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			io.Copy(c, brw) // echo until the client closes
		})
		ts := h2ctest.NewServer(t, r)
		client := ts.Client(t, mode)

		req, _ := http.NewRequest("GET", ts.URL+"/events", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" || resp.Header.Get("X-Request-Id") == "" {
			t.Fatalf("Content-Encoding %q, X-Request-Id %q: the stack did not run", ce, resp.Header.Get("X-Request-Id"))
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(zr)
		for i := range 3 {
			// Each event arrives while the handler waits for this loop:
			// without working flushes through every layer, this blocks.
			for _, want := range []string{fmt.Sprintf("data: event %d\n", i), "\n"} {
				line, err := br.ReadString('\n')
				if err != nil || line != want {
					t.Fatalf("event %d: %q, %v; want %q", i, line, err, want)
				}
			}
			next <- struct{}{}
		}

		if mode != h2ctest.H1 {
			resp, err := client.Get(ts.URL + "/ws")
			if err != nil {
				t.Fatal(err)
			}
			h2ctest.ReadBody(t, resp)
			if resp.StatusCode != http.StatusNotImplemented {
				t.Errorf("/ws over HTTP/2: status %d, want 501", resp.StatusCode)
			}
			return
		}
		c := ts.Dial(t)
		io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nAccept-Encoding: gzip\r\nContent-Length: 0\r\n\r\n")
		cr := bufio.NewReader(c)
		up, err := http.ReadResponse(cr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if up.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: status %d, want 101", up.StatusCode)
		}
		io.WriteString(c, "ping\n")
		if line, err := cr.ReadString('\n'); err != nil || line != "ping\n" {
			t.Errorf("echo over the hijacked connection: %q, %v", line, err)
		}
		if strings.Contains(fmt.Sprint(up.Header), "Content-Encoding") {
			t.Errorf("the upgrade response was touched: %v", up.Header)
		}
	})
}
