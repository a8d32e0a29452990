package websocket_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
	"github.com/molt-http/molt/websocket"
)

// TestShutdown checks Shutdown closes an open WebSocket with 1001 and
// waits for it, in every mode.
func TestShutdown(t *testing.T) { h2ctest.Run(t, testShutdown) }

func testShutdown(t *testing.T, mode h2ctest.Mode) {
	done := make(chan error, 1)
	ts := h2ctest.NewServer(t, echoHandler(websocket.Options{}, done))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	c.send(true, 0, 1, []byte("before"))
	if _, m, _ := c.message(); string(m) != "before" {
		t.Fatalf("echo %q", m)
	}
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(h2ctest.ShutdownContext(t)) }()
	code, reason := c.expectClose()
	if code != 1001 {
		t.Fatalf("close %d %q, want 1001", code, reason)
	}
	c.send(true, 0, 8, closePayload(1001, ""))
	c.expectEOF()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-done; websocket.CloseStatus(err) != 1001 {
		t.Fatalf("handler's read ended with %v, want the peer's close 1001", err)
	}
}

// TestReadContext checks a read whose context ends fails the connection
// with 1008 and returns the context's error.
func TestReadContext(t *testing.T) { h2ctest.Run(t, testReadContext) }

func testReadContext(t *testing.T, mode h2ctest.Mode) {
	readErr := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The ping hook runs inside the blocked read: the cancel happens
	// during it.
	opts := websocket.Options{OnPing: func([]byte) { cancel() }}
	ts := h2ctest.NewServer(t, websocket.Handler(func(_ context.Context, c *websocket.Conn) {
		_, _, err := c.Read(ctx)
		readErr <- err
	}, opts))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	c.send(true, 0, 9, nil)
	if f, err := c.next(); err != nil || f.op != 10 {
		t.Fatalf("got %+v %v, want pong", f, err)
	}
	if code, _ := c.expectClose(); code != 1008 {
		t.Fatalf("close %d, want 1008", code)
	}
	if err := <-readErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("Read: %v, want context.Canceled", err)
	}
}

// TestReadDeadline checks SetReadDeadline interrupts a read.
func TestReadDeadline(t *testing.T) { h2ctest.Run(t, testReadDeadline) }

func testReadDeadline(t *testing.T, mode h2ctest.Mode) {
	readErr := make(chan error, 1)
	ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		if err := c.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
			t.Error(err)
		}
		_, _, err := c.Read(ctx)
		readErr <- err
	}, websocket.Options{}))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	if err := <-readErr; websocket.CloseStatus(err) != websocket.StatusAbnormalClosure {
		t.Fatalf("Read: %v, want an abnormal closure", err)
	}
}

// TestMiddlewareStack runs an echo behind molt's usual middleware and
// through Upgrade and ConnFrom.
func TestMiddlewareStack(t *testing.T) { h2ctest.Run(t, testMiddlewareStack) }

func testMiddlewareStack(t *testing.T, mode h2ctest.Mode) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	stack := func(h http.Handler) http.Handler {
		h = middleware.Timeout(middleware.TimeoutOptions{Duration: time.Minute})(h)
		h = middleware.Compress(middleware.CompressOptions{})(h)
		h = middleware.Logger(middleware.LoggerOptions{Logger: logger})(h)
		h = middleware.RequestID(middleware.RequestIDOptions{})(h)
		return middleware.Recoverer(middleware.RecovererOptions{})(h)
	}
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := websocket.ConnFrom(r)
		if c == nil {
			t.Error("ConnFrom: nil")
			return
		}
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if c.Write(r.Context(), typ, msg) != nil {
				return
			}
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/handler", stack(echoHandler(websocket.Options{}, nil)))
	mux.Handle("/upgrade", stack(websocket.Upgrade(websocket.Options{})(echo)))
	ts := h2ctest.NewServer(t, mux)
	for _, path := range []string{"/handler", "/upgrade"} {
		c := dialWS(t, ts, mode, path, http.Header{"Accept-Encoding": {"gzip"}})
		wsOK(t, c, mode)
		if c.header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id on the handshake response", path)
		}
		c.send(true, 0, 1, []byte(strings.Repeat("through the stack ", 100)))
		if op, m, _ := c.message(); op != 1 || len(m) != 1800 {
			t.Fatalf("%s: echo op %d, %d bytes", path, op, len(m))
		}
		c.send(true, 0, 8, closePayload(1000, ""))
		if code, _ := c.expectClose(); code != 1000 {
			t.Fatalf("%s: close %d", path, code)
		}
	}
}

// TestImportTouchesNoGODEBUG checks that the websocket package does not
// reach the x/net engine's process-wide switch: neither it nor anything
// it imports is package server/xconnect (this test binary imports that
// package itself, in xnet_test.go, so GODEBUG cannot be checked here).
func TestImportTouchesNoGODEBUG(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/molt-http/molt/websocket").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !slices.Contains(deps, "github.com/molt-http/molt/websocket") {
		t.Fatalf("go list -deps printed no dependency list:\n%s", out)
	}
	for _, d := range deps {
		if strings.HasSuffix(d, "/xconnect") {
			t.Errorf("websocket depends on %s, which sets GODEBUG", d)
		}
	}
}

// TestUpgradeWriterRefusesWrites checks the ResponseWriter that Upgrade
// hands the next handler: Write fails with an error wrapping
// http.ErrHijacked, WriteHeader is ignored, Header works, and
// http.ResponseController cannot flush, hijack or set deadlines through
// it, so nothing the handler writes reaches the connection (over HTTP/2 it
// would land in the WebSocket stream as frame bytes).
func TestUpgradeWriterRefusesWrites(t *testing.T) { h2ctest.Run(t, testUpgradeWriterRefusesWrites) }

func testUpgradeWriterRefusesWrites(t *testing.T, mode h2ctest.Mode) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := websocket.ConnFrom(r)
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			t.Errorf("Read: %v", err)
			return
		}
		// A stray error answer, as an HTTP handler would write it.
		http.Error(w, "stray error body", http.StatusInternalServerError)
		if _, err := w.Write([]byte("more stray bytes")); !errors.Is(err, http.ErrHijacked) {
			t.Errorf("Write: %v, want an error wrapping http.ErrHijacked", err)
		}
		w.WriteHeader(http.StatusTeapot)
		if w.Header() == nil {
			t.Error("Header: nil")
		}
		w.Header().Set("X-After", "ignored")
		rc := http.NewResponseController(w)
		if err := rc.Flush(); err == nil {
			t.Error("ResponseController.Flush: nil error")
		}
		if _, _, err := rc.Hijack(); err == nil {
			t.Error("ResponseController.Hijack: nil error")
		}
		if err := rc.SetReadDeadline(time.Now()); err == nil {
			t.Error("ResponseController.SetReadDeadline: nil error")
		}
		if err := rc.SetWriteDeadline(time.Now()); err == nil {
			t.Error("ResponseController.SetWriteDeadline: nil error")
		}
		if err := rc.EnableFullDuplex(); err == nil {
			t.Error("ResponseController.EnableFullDuplex: nil error")
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		if err := c.Write(r.Context(), typ, msg); err != nil {
			t.Errorf("Write to the Conn: %v", err)
		}
		c.Close(websocket.StatusNormalClosure, "")
	})
	ts := h2ctest.NewServer(t, websocket.Upgrade(websocket.Options{})(next))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	c.send(true, 0, 1, []byte("ping me back"))
	// The very next bytes on the connection must be the echo's frame.
	f, err := c.next()
	if err != nil || f.op != 1 || string(f.payload) != "ping me back" {
		t.Fatalf("got %v %v, want the text echo and nothing before it", f, err)
	}
	if code, _ := c.expectClose(); code != 1000 {
		t.Fatalf("close %d, want 1000", code)
	}
	c.send(true, 0, 8, closePayload(1000, ""))
	c.expectEOF()
}

// TestIdleDeadlines checks that deadlines mean what a net.Conn's mean on
// every transport: one that passes while nothing is read or written does
// nothing (over HTTP/2 it used to reset the stream), so the keepalive
// pattern of a fresh deadline before each read and write works.
func TestIdleDeadlines(t *testing.T) { h2ctest.Run(t, testIdleDeadlines) }

func testIdleDeadlines(t *testing.T, mode h2ctest.Mode) {
	done := make(chan error, 1)
	ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		done <- func() error {
			// Deadlines already passed, on an idle connection, then moved.
			if err := c.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
				return err
			}
			if err := c.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
				return err
			}
			// Deadlines whose timers fire while the connection is idle.
			c.SetReadDeadline(time.Now().Add(time.Millisecond))
			c.SetWriteDeadline(time.Now().Add(time.Millisecond))
			time.Sleep(20 * time.Millisecond)
			for range 3 {
				c.SetReadDeadline(time.Now().Add(time.Minute))
				typ, msg, err := c.Read(ctx)
				if err != nil {
					return err
				}
				c.SetWriteDeadline(time.Now().Add(time.Minute))
				if err := c.Write(ctx, typ, msg); err != nil {
					return err
				}
			}
			return nil
		}()
	}, websocket.Options{}))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	for i := range 3 {
		msg := fmt.Sprintf("message %d", i)
		c.send(true, 0, 1, []byte(msg))
		if op, m, _ := c.message(); op != 1 || string(m) != msg {
			t.Fatalf("echo %d %q, want %q", op, m, msg)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("handler: %v", err)
	}
	if code, _ := c.expectClose(); code != 1000 {
		t.Fatalf("close %d, want 1000", code)
	}
}

// TestDeadlineInterrupts checks a deadline still fails a read or write in
// progress when it passes, with an error wrapping os.ErrDeadlineExceeded,
// on every transport.
func TestDeadlineInterrupts(t *testing.T) { h2ctest.Run(t, testDeadlineInterrupts) }

func testDeadlineInterrupts(t *testing.T, mode h2ctest.Mode) {
	t.Run("read", func(t *testing.T) {
		readErr := make(chan error, 1)
		ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
			c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			_, _, err := c.Read(ctx) // the client sends nothing
			readErr <- err
		}, websocket.Options{}))
		c := dialWS(t, ts, mode, "/", nil)
		wsOK(t, c, mode)
		err := <-readErr
		if !errors.Is(err, os.ErrDeadlineExceeded) || websocket.CloseStatus(err) != websocket.StatusAbnormalClosure {
			t.Fatalf("Read: %v, want a deadline error and close status 1006", err)
		}
	})
	t.Run("write", func(t *testing.T) {
		writeErr := make(chan error, 1)
		ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			msg := make([]byte, 256<<10)
			// The client reads nothing: some write blocks on a full
			// socket buffer or flow-control window, until the deadline.
			for range 1024 {
				if err := c.Write(ctx, websocket.Binary, msg); err != nil {
					writeErr <- err
					return
				}
			}
			writeErr <- errors.New("256 MiB written to a client that reads nothing")
		}, websocket.Options{}))
		c := dialWS(t, ts, mode, "/", nil)
		wsOK(t, c, mode)
		if err := <-writeErr; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write: %v, want a deadline error", err)
		}
	})
	// A context that ends during a blocked write still reports itself, not
	// the past deadline the Conn interrupts the write with.
	t.Run("write context", func(t *testing.T) {
		writeErr := make(chan error, 1)
		ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			time.AfterFunc(100*time.Millisecond, cancel)
			msg := make([]byte, 256<<10)
			for range 1024 {
				if err := c.Write(wctx, websocket.Binary, msg); err != nil {
					writeErr <- err
					return
				}
			}
			writeErr <- errors.New("256 MiB written to a client that reads nothing")
		}, websocket.Options{}))
		c := dialWS(t, ts, mode, "/", nil)
		wsOK(t, c, mode)
		if err := <-writeErr; !errors.Is(err, context.Canceled) || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write: %v, want context.Canceled", err)
		}
	})
}

// TestConnAfterHandlerReturned checks the gorilla idiom: Accept, start a
// goroutine that uses the Conn, return. Over HTTP/1.1 the connection is
// hijacked and the goroutine serves it. Over HTTP/2 the stream ends with
// the handler, and every operation afterwards, deadlines included,
// returns an error instead of reaching the retired response writer
// (x/net panicked).
func TestConnAfterHandlerReturned(t *testing.T) { h2ctest.Run(t, testConnAfterHandlerReturned) }

func testConnAfterHandlerReturned(t *testing.T, mode h2ctest.Mode) {
	type result struct {
		op  string
		err error
	}
	results := make(chan []result, 1)
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		go func() {
			<-r.Context().Done() // the handler has returned
			ctx := context.Background()
			var rs []result
			add := func(op string, err error) { rs = append(rs, result{op, err}) }
			add("SetReadDeadline", c.SetReadDeadline(time.Now().Add(time.Minute)))
			add("SetWriteDeadline", c.SetWriteDeadline(time.Now().Add(time.Minute)))
			if mode == h2ctest.H1 {
				typ, msg, err := c.Read(ctx)
				add("Read", err)
				add("Write", c.Write(ctx, typ, msg))
			} else {
				add("Write", c.Write(ctx, websocket.Text, []byte("lost")))
				_, _, err := c.Read(ctx)
				add("Read", err)
				add("Ping", c.Ping(ctx, nil))
			}
			add("Close", c.Close(websocket.StatusNormalClosure, ""))
			results <- rs
		}()
	}))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	if mode == h2ctest.H1 {
		c.send(true, 0, 1, []byte("served after return"))
		if op, m, _ := c.message(); op != 1 || string(m) != "served after return" {
			t.Fatalf("echo %d %q", op, m)
		}
		if code, _ := c.expectClose(); code != 1000 {
			t.Fatalf("close %d, want 1000", code)
		}
		c.send(true, 0, 8, closePayload(1000, ""))
		for _, r := range <-results {
			if r.err != nil {
				t.Errorf("%s: %v", r.op, r.err)
			}
		}
		return
	}
	for _, r := range <-results {
		if r.err == nil {
			t.Errorf("%s after the handler returned: nil error", r.op)
		} else {
			t.Logf("%s: %v", r.op, r.err)
		}
	}
	if f, err := c.next(); err == nil {
		t.Fatalf("got %v after the handler returned, want the stream's end", f)
	}
}

// TestUpgradeGoServe checks the same idiom behind Upgrade works on every
// transport: the next handler starts a goroutine with the Conn and
// returns, and Upgrade keeps the connection (and the HTTP/2 stream) until
// the goroutine closes it.
func TestUpgradeGoServe(t *testing.T) { h2ctest.Run(t, testUpgradeGoServe) }

func testUpgradeGoServe(t *testing.T, mode h2ctest.Mode) {
	served := make(chan error, 1)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := websocket.ConnFrom(r)
		go func() {
			ctx := r.Context() // ends when the connection closes
			for {
				typ, msg, err := c.Read(ctx)
				if err != nil {
					served <- err
					return
				}
				c.SetWriteDeadline(time.Now().Add(time.Minute))
				if err := c.Write(ctx, typ, msg); err != nil {
					served <- err
					return
				}
			}
		}()
	})
	ts := h2ctest.NewServer(t, websocket.Upgrade(websocket.Options{})(next))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	for i := range 3 {
		msg := fmt.Sprintf("after return %d", i)
		c.send(true, 0, 1, []byte(msg))
		if op, m, _ := c.message(); op != 1 || string(m) != msg {
			t.Fatalf("echo %d %q, want %q", op, m, msg)
		}
	}
	c.send(true, 0, 8, closePayload(1000, "bye"))
	if code, _ := c.expectClose(); code != 1000 {
		t.Fatalf("close %d, want 1000", code)
	}
	c.expectEOF()
	if err := <-served; websocket.CloseStatus(err) != 1000 {
		t.Fatalf("goroutine's read ended with %v, want the peer's close 1000", err)
	}
}

// TestStalledStreamDoesNotBlockNeighbours opens two WebSockets on one
// HTTP/2 connection. The first one's handler reads nothing while the
// client fills the stream's whole receive window; the second must still
// echo. With the connection window equal to the stream window (x/net
// refunds connection credit only as a handler reads), the first stream
// took all of it and the second one stalled.
func TestStalledStreamDoesNotBlockNeighbours(t *testing.T) {
	h2ctest.Run(t, testStalledStreamDoesNotBlockNeighbours, h2ctest.H2CUpgrade, h2ctest.H2CPrior)
}

func testStalledStreamDoesNotBlockNeighbours(t *testing.T, mode h2ctest.Mode) {
	release := make(chan struct{})
	type read struct {
		n   int
		err error
	}
	stalledRead := make(chan read, 1)
	mux := http.NewServeMux()
	mux.Handle("/stall", websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		<-release
		_, msg, err := c.Read(ctx)
		stalledRead <- read{len(msg), err}
	}, websocket.Options{}))
	mux.Handle("/echo", echoHandler(websocket.Options{}, nil))
	ts := h2ctest.NewServer(t, mux)
	window := int(ts.Config().HTTP2.MaxUploadBufferPerStream)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cc := ts.ClientConn(t, mode, h2ctest.ClientOptions{})
	hdr := http.Header{"Sec-Websocket-Version": {"13"}}
	stalled, err := cc.ExtendedConnect(ctx, "/stall", "websocket", hdr)
	if err != nil || stalled.Response().StatusCode != http.StatusOK {
		t.Fatalf("extended CONNECT /stall: %v", err)
	}
	defer stalled.Close()
	echo, err := cc.ExtendedConnect(ctx, "/echo", "websocket", hdr)
	if err != nil || echo.Response().StatusCode != http.StatusOK {
		t.Fatalf("extended CONNECT /echo: %v", err)
	}
	defer echo.Close()

	// One masked binary frame of exactly the stream's window (a 14-byte
	// header and the payload): the server buffers all of it, unread.
	big := frame(true, 0, 2, make([]byte, window-14), []byte{1, 2, 3, 4})
	if len(big) != window {
		t.Fatalf("frame of %d bytes, want %d", len(big), window)
	}
	if _, err := stalled.Write(big); err != nil {
		t.Fatalf("filling the stalled stream: %v", err)
	}

	// The neighbour's echo needs connection window. A failure here is a
	// hang, so the exchange runs under a generous bound.
	got := make(chan error, 1)
	go func() {
		if _, err := echo.Write(frame(true, 0, 1, []byte("neighbour"), []byte{5, 6, 7, 8})); err != nil {
			got <- err
			return
		}
		f, err := readFrame(bufio.NewReader(echo), 1<<20)
		if err == nil && (f.op != 1 || string(f.payload) != "neighbour") {
			err = fmt.Errorf("echo %v %q", f, f.payload)
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("neighbour's echo: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("neighbour's echo did not arrive: the stalled stream holds the connection's window")
	}

	close(release)
	if r := <-stalledRead; r.err != nil || r.n != window-14 {
		t.Fatalf("stalled handler's read: %d bytes, %v; want the whole message of %d", r.n, r.err, window-14)
	}
}

// TestUpgradeAbandonedShutdown hands the connection to a next handler
// that returns at once and leaves it to nobody: Upgrade waits for the
// connection to close, and the server's Shutdown must still end that
// wait (close 1001), on every transport, rather than leave the request
// and its goroutine behind.
func TestUpgradeAbandonedShutdown(t *testing.T) { h2ctest.Run(t, testUpgradeAbandonedShutdown) }

func testUpgradeAbandonedShutdown(t *testing.T, mode h2ctest.Mode) {
	returned := make(chan struct{})
	up := websocket.Upgrade(websocket.Options{})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect && r.Header.Get("Upgrade") != "websocket" {
			return // the h2c upgrade request
		}
		defer close(returned)
		up.ServeHTTP(w, r)
	}))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	hangGuard(c)
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(h2ctest.ShutdownContext(t)) }()
	if code, _ := c.expectClose(); code != 1001 {
		t.Fatalf("close %d, want 1001", code)
	}
	c.send(true, 0, 8, closePayload(1001, ""))
	c.expectEOF()
	select {
	case <-returned:
	case <-time.After(time.Minute):
		t.Fatal("Upgrade still waits on a connection that Shutdown closed")
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestReadAfterCloseReadThePeersClose checks that once Close has read
// the peer's close frame itself (no read was running), a later Read
// returns that close, even with a context that has ended since (Close
// ends the handler's), in every mode: TestShutdown failed now and then
// when the handler's next read came after the shutdown hook's Close.
func TestReadAfterCloseReadThePeersClose(t *testing.T) {
	h2ctest.Run(t, testReadAfterCloseReadThePeersClose)
}

func testReadAfterCloseReadThePeersClose(t *testing.T, mode h2ctest.Mode) {
	readErr := make(chan error, 1)
	ts := h2ctest.NewServer(t, websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		if err := c.Close(websocket.StatusGoingAway, ""); err != nil {
			t.Errorf("Close: %v", err)
		}
		ended, cancel := context.WithCancel(ctx)
		cancel()
		_, _, err := c.Read(ended)
		readErr <- err
	}, websocket.Options{}))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	if code, _ := c.expectClose(); code != 1001 {
		t.Fatalf("close %d, want 1001", code)
	}
	c.send(true, 0, 8, closePayload(1000, "bye"))
	if err := <-readErr; websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("Read after Close: %v, want the peer's close 1000", err)
	}
}
