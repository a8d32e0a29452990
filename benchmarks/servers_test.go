package benchmarks

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/demo"
	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/server"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// A target is one of the servers under comparison.
type target struct {
	name  string
	start func(tb testing.TB) (addr string)
}

// targets are molt's core and the x/net h2c baseline, both serving
// demo.Handler().
var targets = []target{
	{"molt", startMolt},
	{"xneth2c", startXNetH2C},
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

// startMolt starts molt's server in-process, as `molt serve -quiet` but
// with logs discarded, and stops it when tb ends.
func startMolt(tb testing.TB) string {
	tb.Helper()
	srv, err := server.New(server.Config{
		Handler: demo.Handler(),
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatalf("server.New: %v", err)
	}
	ln := listen(tb)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	tb.Cleanup(func() {
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

// startXNetH2C starts the baseline in-process, configured as
// cmd/xneth2c, and stops it when tb ends. Connections that h2c.NewHandler
// hijacked (prior knowledge and upgrades) are out of the http.Server's
// reach; the tests and benchmarks close them from the client side.
func startXNetH2C(tb testing.TB) string {
	tb.Helper()
	hs := &http.Server{
		Handler:           h2c.NewHandler(demo.Handler(), &http2.Server{}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.DiscardHandler, slog.LevelWarn),
	}
	ln := listen(tb)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	tb.Cleanup(func() {
		hs.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("xneth2c Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// newClient returns a client that speaks only HTTP/1.1 (h2c false) or only
// HTTP/2 by prior knowledge (h2c true), and counts the connections it
// dials. Its idle connections are closed when tb ends.
func newClient(tb testing.TB, h2c bool) (*http.Client, *atomic.Int64) {
	dials := new(atomic.Int64)
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		Protocols:           new(http.Protocols),
		DisableCompression:  true,
		MaxIdleConnsPerHost: 64, // one kept-alive HTTP/1.1 connection per goroutine
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	}
	if h2c {
		tr.Protocols.SetUnencryptedHTTP2(true)
	} else {
		tr.Protocols.SetHTTP1(true)
	}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: time.Minute}, dials
}

// upgradeGet dials addr, sends GET / with "Upgrade: h2c" through
// h2ctest.Upgrade, reads the response of stream 1 and closes the
// connection. It returns the 101's status, the response's ProtoMajor and
// its body.
func upgradeGet(addr string) (switching, proto int, body []byte, err error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, 0, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return 0, 0, nil, err
	}
	res, err := h2ctest.Upgrade(c, req, h2ctest.ClientOptions{})
	if err != nil {
		return 0, 0, nil, err
	}
	if res.Conn != nil {
		defer res.Conn.Close()
	}
	if res.Switching != nil {
		switching = res.Switching.StatusCode
	}
	if res.Response == nil {
		return switching, 0, nil, errors.New("no response on stream 1")
	}
	defer res.Response.Body.Close()
	body, err = io.ReadAll(res.Response.Body)
	if err == nil && res.Response.StatusCode != http.StatusOK {
		err = errors.New("stream 1: " + res.Response.Status)
	}
	return switching, res.Response.ProtoMajor, body, err
}

// TestBaselineServes checks that both servers the benchmarks compare
// answer GET / with "hello" over HTTP/1.1, after an h2c upgrade, and over
// HTTP/2 by prior knowledge, so that the benchmarks measure real answers.
func TestBaselineServes(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			addr := tg.start(t)

			t.Run("h1", func(t *testing.T) {
				c, _ := newClient(t, false)
				resp, err := c.Get("http://" + addr + "/")
				if err != nil {
					t.Fatal(err)
				}
				body := h2ctest.ReadBody(t, resp)
				if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 || string(body) != "hello" {
					t.Errorf("GET / over h1: %s %s %q, want 200 HTTP/1.1 \"hello\"", resp.Proto, resp.Status, body)
				}
			})

			t.Run("h2c-upgrade", func(t *testing.T) {
				switching, proto, body, err := upgradeGet(addr)
				if err != nil {
					t.Fatal(err)
				}
				if switching != http.StatusSwitchingProtocols || proto != 2 || string(body) != "hello" {
					t.Errorf("GET / with Upgrade: h2c: switching %d, then HTTP/%d %q; want 101, then HTTP/2 \"hello\"", switching, proto, body)
				}
			})

			t.Run("h2c-prior", func(t *testing.T) {
				c, dials := newClient(t, true)
				for range 3 {
					resp, err := c.Get("http://" + addr + "/")
					if err != nil {
						t.Fatal(err)
					}
					body := h2ctest.ReadBody(t, resp)
					if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || string(body) != "hello" {
						t.Fatalf("GET / by prior knowledge: %s %s %q, want 200 HTTP/2.0 \"hello\"", resp.Proto, resp.Status, body)
					}
				}
				if n := dials.Load(); n != 1 {
					t.Errorf("3 requests by prior knowledge dialled %d connections, want 1", n)
				}
			})
		})
	}
}
