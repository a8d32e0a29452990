// Package h2ctest runs molt's protocol tests in every client mode, the way
// net/http's clientserver_test.go runs each test under several protocols.
// A mode is one of the three ways into a molt server: h1, h2c-upgrade and
// h2c-prior. The HTTP/2 client the h2c modes need (Go's own client cannot
// continue a connection after an upgrade) is internal/h2client; its names
// are repeated here for the tests.
//
//	func TestHello(t *testing.T) { h2ctest.Run(t, testHello) }
//
//	func testHello(t *testing.T, mode h2ctest.Mode) {
//		ts := h2ctest.NewServer(t, handler)
//		resp, err := ts.Client(t, mode).Get(ts.URL + "/")
//		...
//	}
package h2ctest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/molt-http/molt/server"
)

// Mode is a client mode, named like the server.Protocol it exercises.
type Mode = server.Protocol

// The client modes.
const (
	H1         = server.H1
	H2CUpgrade = server.H2CUpgrade
	H2CPrior   = server.H2CPrior
)

// Modes lists every client mode.
var Modes = server.Protocols

// Run runs f as a parallel-safe subtest once per mode, named after the mode.
// With no modes given it runs every mode.
func Run(t *testing.T, f func(t *testing.T, mode Mode), modes ...Mode) {
	t.Helper()
	if len(modes) == 0 {
		modes = Modes
	}
	for _, m := range modes {
		t.Run(string(m), func(t *testing.T) { f(t, m) })
	}
}

// Server is a molt server on a loopback port, stopped when its test ends.
type Server struct {
	*server.Server
	// URL is the base URL, "http://127.0.0.1:port", with no trailing slash.
	URL string
	// Addr is the listening address, "127.0.0.1:port".
	Addr string

	served   chan struct{} // closed when Serve has returned
	serveErr error
}

// NewServer starts a molt server for h on 127.0.0.1, configured by the
// optional configure functions, and registers its Close with t.Cleanup.
// Its log lines go to t.Log at debug level. A configuration that names no
// Engine gets [DefaultEngine]'s, so that MOLT_ENGINE=xnet runs every
// protocol test against the x/net engine; [WithEngine] picks one.
func NewServer(t testing.TB, h http.Handler, configure ...func(*server.Config)) *Server {
	t.Helper()
	logs := &testWriter{t: t}
	t.Cleanup(logs.stop) // registered first, so it runs after Close
	cfg := server.Config{
		Handler: h,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range configure {
		f(&cfg)
	}
	if cfg.Engine == nil {
		cfg.Engine = DefaultEngine().factory()
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ts := &Server{Server: srv, Addr: ln.Addr().String(), URL: "http://" + ln.Addr().String(), served: make(chan struct{})}
	go func() {
		ts.serveErr = srv.Serve(ln)
		close(ts.served)
	}()
	t.Cleanup(func() {
		srv.Close()
		if err := ts.Served(); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ts
}

// Served returns the error Serve returned, waiting for it; use it after
// Shutdown to check the server stopped as it should.
func (ts *Server) Served() error {
	<-ts.served
	return ts.serveErr
}

// Client returns an HTTP client that reaches ts in mode. Its idle
// connections are closed when the test ends.
func (ts *Server) Client(t testing.TB, mode Mode) *http.Client {
	t.Helper()
	rt := NewTransport(mode)
	t.Cleanup(func() {
		if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	})
	return &http.Client{Transport: rt, Timeout: time.Minute}
}

// NewTransport returns a RoundTripper that speaks mode: net/http's
// transport with only HTTP/1.1 or only unencrypted HTTP/2 enabled, or an
// UpgradeTransport for h2c-upgrade.
func NewTransport(mode Mode) http.RoundTripper {
	switch mode {
	case H2CUpgrade:
		return &UpgradeTransport{}
	case H1, H2CPrior:
		tr := &http.Transport{
			Protocols:             new(http.Protocols),
			ExpectContinueTimeout: 5 * time.Second,
			DisableCompression:    true,
			MaxIdleConnsPerHost:   64,
		}
		if mode == H1 {
			tr.Protocols.SetHTTP1(true)
		} else {
			tr.Protocols.SetUnencryptedHTTP2(true)
		}
		return tr
	}
	panic("h2ctest: unknown mode " + string(mode))
}

// WantProto returns the ProtoMajor a response in mode must carry.
func WantProto(mode Mode) int {
	if mode == H1 {
		return 1
	}
	return 2
}

// Dial opens a raw TCP connection to ts that is closed when the test
// ends, with a deadline that keeps a broken test from hanging.
func (ts *Server) Dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", ts.Addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	t.Cleanup(func() { c.Close() })
	return c
}

// ShutdownContext returns a context for Shutdown that ends well after any
// healthy shutdown, so a hang fails the test instead of stalling it.
func ShutdownContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// ReadBody reads and closes resp.Body, failing the test on error.
func ReadBody(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return b
}

// testWriter sends log output to t.Log until the test ends, and drops it
// after that (t.Log panics once a test is over).
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
