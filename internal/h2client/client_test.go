package h2client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// testTimeout bounds every wait in these tests, so that a bug fails a test
// instead of hanging it.
const testTimeout = 30 * time.Second

// checkNoLeaks fails t if, once its other cleanups have run, goroutines
// running this package's code remain. Call it first in a test.
func checkNoLeaks(t *testing.T) {
	t.Cleanup(func() {
		var leaked []string
		for range 1000 { // goroutines may take a moment to notice closed conns
			leaked = leaked[:0]
			buf := make([]byte, 1<<20)
			stacks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
			for _, g := range stacks[1:] { // stacks[0] is this goroutine
				if strings.Contains(g, "/internal/h2client.") {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("%d goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	})
}

// serveLoopback accepts connections on a loopback port and runs serve for
// each. Everything is closed and waited for when the test ends.
func serveLoopback(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		conns  = make(map[net.Conn]bool)
		closed bool
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				serve(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// startH2 serves h over HTTP/2 with prior knowledge using x/net's server.
func startH2(t testing.TB, srv *http2.Server, h http.Handler) string {
	t.Helper()
	if srv == nil {
		srv = &http2.Server{}
	}
	return serveLoopback(t, func(c net.Conn) {
		srv.ServeConn(c, &http2.ServeConnOpts{Handler: h})
	})
}

// dialH2 connects a ClientConn to addr, closed when the test ends.
func dialH2(t testing.TB, addr string, opts ClientOptions) *ClientConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := NewClientConn(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// newRequest builds a request bounded by testTimeout.
func newRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// await receives from ch, failing the test after testTimeout.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// pattern returns n deterministic, non-repeating-looking bytes.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// connWindowBalanced reports whether every byte the server may send on cc's
// connection is either still allowed or owed back to it: no credit leaked.
func connWindowBalanced(cc *ClientConn) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.recvAvail+cc.recvUnacked == defaultWindow+int64(cc.cfg.connExtra)
}

func TestClientGet(t *testing.T) {
	checkNoLeaks(t)
	addr := startH2(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var problems []string
		check := func(what, got, want string) {
			if got != want {
				problems = append(problems, fmt.Sprintf("%s = %q, want %q", what, got, want))
			}
		}
		check("proto", r.Proto, "HTTP/2.0")
		check("host", r.Host, "example.test:8080")
		check("request URI", r.RequestURI, "/path/x?q=1")
		check("X-Custom", r.Header.Get("X-Custom"), "a, b")
		check("Te", r.Header.Get("Te"), "trailers")
		for _, h := range []string{"Connection", "Keep-Alive", "Upgrade", "Transfer-Encoding", "Proxy-Connection"} {
			check(h, r.Header.Get(h), "")
		}
		w.Header().Set("X-Problems", strings.Join(problems, "; "))
		w.Header().Set("X-Multi", "1")
		w.Header().Add("X-Multi", "2")
		io.WriteString(w, "hello")
	}))
	cc := dialH2(t, addr, ClientOptions{})

	for i := range 3 { // several streams on one connection
		req := newRequest(t, "GET", "http://"+addr+"/path/x?q=1", nil)
		req.Host = "example.test:8080"
		req.Header.Set("x-custom", "a, b")
		req.Header.Set("Connection", "close")
		req.Header.Set("Keep-Alive", "timeout=5")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Proxy-Connection", "keep-alive")
		req.Header.Set("TE", "trailers")
		resp, err := cc.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if p := resp.Header.Get("X-Problems"); p != "" {
			t.Errorf("server saw: %s", p)
		}
		if resp.StatusCode != 200 || resp.Status != "200 OK" || resp.Proto != "HTTP/2.0" || resp.ProtoMajor != 2 || resp.ProtoMinor != 0 {
			t.Errorf("status %q proto %q %d.%d", resp.Status, resp.Proto, resp.ProtoMajor, resp.ProtoMinor)
		}
		if resp.Request != req {
			t.Error("resp.Request is not the request")
		}
		if got := resp.Header["X-Multi"]; len(got) != 2 || got[0] != "1" || got[1] != "2" {
			t.Errorf("X-Multi = %q", got)
		}
		if resp.ContentLength != 5 {
			t.Errorf("ContentLength = %d, want 5", resp.ContentLength)
		}
		if b := ReadBody(t, resp); string(b) != "hello" {
			t.Errorf("body = %q", b)
		}
	}
	if !cc.CanTakeNewRequest() {
		t.Error("CanTakeNewRequest = false on a healthy connection")
	}
	if _, _, ok := cc.GoAwayReceived(); ok {
		t.Error("GoAwayReceived reports a GOAWAY that was not sent")
	}
}

func TestClientHead(t *testing.T) {
	checkNoLeaks(t)
	addr := startH2(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1234")
		if r.Method != "HEAD" {
			w.Write(make([]byte, 1234))
		}
	}))
	cc := dialH2(t, addr, ClientOptions{})
	resp, err := cc.RoundTrip(newRequest(t, "HEAD", "http://"+addr+"/", nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ContentLength != 1234 {
		t.Errorf("status %d, ContentLength %d; want 200, 1234", resp.StatusCode, resp.ContentLength)
	}
	if resp.Body != http.NoBody {
		t.Errorf("HEAD response Body is %T, want http.NoBody", resp.Body)
	}
	if b := ReadBody(t, resp); len(b) != 0 {
		t.Errorf("HEAD body has %d bytes", len(b))
	}
}

func TestClientOptionsAsterisk(t *testing.T) {
	checkNoLeaks(t)
	addr := startH2(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Method+" "+r.RequestURI)
	}))
	cc := dialH2(t, addr, ClientOptions{})
	req := newRequest(t, "OPTIONS", "http://"+addr, nil)
	req.URL.Opaque = "*"
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if b := ReadBody(t, resp); string(b) != "OPTIONS *" {
		t.Errorf("server saw %q, want %q", b, "OPTIONS *")
	}
}

func TestClientLargeHeaders(t *testing.T) {
	checkNoLeaks(t)
	big := strings.Repeat("v", 50_000) // needs CONTINUATION frames both ways
	addr := startH2(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("X-Big"))
	}))
	cc := dialH2(t, addr, ClientOptions{})
	req := newRequest(t, "GET", "http://"+addr+"/", nil)
	req.Header.Set("X-Big", big)
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	ReadBody(t, resp)
	if resp.Header.Get("X-Echo") != big {
		t.Errorf("echoed header has %d bytes, want %d", len(resp.Header.Get("X-Echo")), len(big))
	}
}

// echoHandler replies with the request body, reporting what it saw in
// headers.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("X-Request-Content-Length", fmt.Sprint(r.ContentLength))
	w.Header().Set("X-Request-Trailer", r.Trailer.Get("X-Req-Trailer"))
	w.Write(body)
}

func TestClientPostLargeBody(t *testing.T) {
	checkNoLeaks(t)
	// Small server receive windows make the client wait for WINDOW_UPDATEs.
	srv := &http2.Server{MaxUploadBufferPerStream: 16 << 10, MaxUploadBufferPerConnection: 65535}
	addr := startH2(t, srv, http.HandlerFunc(echoHandler))
	cc := dialH2(t, addr, ClientOptions{})
	want := pattern(1<<20, 1)
	for _, known := range []bool{true, false} {
		t.Run(fmt.Sprintf("known-length=%v", known), func(t *testing.T) {
			var body io.Reader = bytes.NewReader(want)
			wantCL := fmt.Sprint(len(want))
			if !known {
				body = io.MultiReader(body) // hides the length
				wantCL = "-1"
			}
			resp, err := cc.RoundTrip(newRequest(t, "POST", "http://"+addr+"/", body))
			if err != nil {
				t.Fatal(err)
			}
			got := ReadBody(t, resp)
			if !bytes.Equal(got, want) {
				t.Errorf("echoed body differs: got %d bytes, want %d", len(got), len(want))
			}
			if cl := resp.Header.Get("X-Request-Content-Length"); cl != wantCL {
				t.Errorf("server saw ContentLength %s, want %s", cl, wantCL)
			}
		})
	}
}

func TestClientRequestBodyLengthMismatch(t *testing.T) {
	checkNoLeaks(t)
	addr := startH2(t, nil, http.HandlerFunc(echoHandler))
	cc := dialH2(t, addr, ClientOptions{})
	for _, n := range []int{5, 20} {
		req := newRequest(t, "POST", "http://"+addr+"/", io.MultiReader(bytes.NewReader(make([]byte, n))))
		req.ContentLength = 10
		resp, err := cc.RoundTrip(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "ContentLength") {
			t.Errorf("body of %d bytes for ContentLength 10: err = %v, want a length error", n, err)
		}
	}
	if !cc.CanTakeNewRequest() {
		t.Error("a bad request body broke the connection")
	}
}

func TestClientFlowControlSlowRead(t *testing.T) {
	checkNoLeaks(t)
	const size = 4 << 20
	want := pattern(size, 2)
	handlerDone := make(chan struct{})
	addr := startH2(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		for p := want; len(p) > 0; p = p[16<<10:] {
			if _, err := w.Write(p[:16<<10]); err != nil {
				return
			}
		}
	}))
	// 64 KiB windows for the stream and the connection: the server can
	// finish only if the client keeps returning credit as it reads.
	cc := dialH2(t, addr, ClientOptions{
		Settings:   []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 65535}},
		ConnWindow: -1,
	})
	resp, err := cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make([]byte, 0, size)
	buf := make([]byte, 1000)
	for len(got) < 1<<20 {
		n, err := resp.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
	}
	select {
	case <-handlerDone:
		t.Fatalf("handler wrote all %d bytes while the client had read only %d", size, len(got))
	default:
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got = append(got, rest...); !bytes.Equal(got, want) {
		t.Fatalf("body differs: got %d bytes, want %d", len(got), size)
	}
	await(t, handlerDone, "handler")
	if !connWindowBalanced(cc) {
		t.Error("connection receive window is unbalanced after the response")
	}
}

// trailerBody sets a request trailer when the body reaches EOF, as
// http.Request.Trailer documents.
type trailerBody struct {
	r   io.Reader
	req *http.Request
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.req.Trailer.Set("X-Req-Trailer", "request-trailer-value")
	}
	return n, err
}

func TestClientTrailers(t *testing.T) {
	checkNoLeaks(t)
	addr := startH2(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Res-Trailer")
		echoHandler(w, r)
		w.Header().Set("X-Res-Trailer", "response-trailer-value")
		w.Header().Set(http.TrailerPrefix+"X-Undeclared", "undeclared-value")
	}))
	cc := dialH2(t, addr, ClientOptions{})
	req := newRequest(t, "POST", "http://"+addr+"/", nil)
	req.Body = io.NopCloser(&trailerBody{r: strings.NewReader("payload"), req: req})
	req.Trailer = http.Header{"X-Req-Trailer": nil}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := resp.Trailer["X-Res-Trailer"]; !ok || v != nil {
		t.Errorf("before EOF, resp.Trailer = %v; want the declared key with no value", resp.Trailer)
	}
	if b := ReadBody(t, resp); string(b) != "payload" {
		t.Errorf("body = %q", b)
	}
	if got := resp.Header.Get("X-Request-Trailer"); got != "request-trailer-value" {
		t.Errorf("server saw request trailer %q", got)
	}
	if got := resp.Trailer.Get("X-Res-Trailer"); got != "response-trailer-value" {
		t.Errorf("response trailer X-Res-Trailer = %q", got)
	}
	if got := resp.Trailer.Get("X-Undeclared"); got != "undeclared-value" {
		t.Errorf("response trailer X-Undeclared = %q", got)
	}
}

func TestClientInformational(t *testing.T) {
	checkNoLeaks(t)
	addr := startH2(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Link", "</script.js>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "final")
	}))
	cc := dialH2(t, addr, ClientOptions{})

	var mu sync.Mutex
	var got []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%d %s", code, h.Get("Link")))
		return nil
	}}
	req := newRequest(t, "GET", "http://"+addr+"/", nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if b := ReadBody(t, resp); resp.StatusCode != 200 || string(b) != "final" {
		t.Errorf("final response %d %q", resp.StatusCode, b)
	}
	mu.Lock()
	want := []string{"103 </style.css>; rel=preload", "103 </script.js>; rel=preload"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Got1xxResponse calls = %q, want %q", got, want)
	}
	mu.Unlock()

	// An error from the hook aborts the request.
	hookErr := errors.New("no hints, please")
	trace = &httptrace.ClientTrace{Got1xxResponse: func(int, textproto.MIMEHeader) error { return hookErr }}
	req = newRequest(t, "GET", "http://"+addr+"/", nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	if _, err := cc.RoundTrip(req); !errors.Is(err, hookErr) {
		t.Errorf("RoundTrip error = %v, want the hook's error", err)
	}
}

func TestClientConcurrentStreams(t *testing.T) {
	checkNoLeaks(t)
	srv := &http2.Server{MaxUploadBufferPerStream: 16 << 10, MaxUploadBufferPerConnection: 65535}
	addr := startH2(t, srv, http.HandlerFunc(echoHandler))
	cc := dialH2(t, addr, ClientOptions{
		Settings:   []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 32 << 10}},
		ConnWindow: 128 << 10,
	})
	const n = 20
	errc := make(chan error, n)
	for i := range n {
		go func() {
			want := pattern(100_000+i*1000, byte(i))
			resp, err := cc.RoundTrip(newRequest(t, "PUT", fmt.Sprintf("http://%s/%d", addr, i), bytes.NewReader(want)))
			if err != nil {
				errc <- fmt.Errorf("stream %d: %w", i, err)
				return
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err == nil && !bytes.Equal(got, want) {
				err = fmt.Errorf("echo differs: got %d bytes, want %d", len(got), len(want))
			}
			if err != nil {
				err = fmt.Errorf("stream %d: %w", i, err)
			}
			errc <- err
		}()
	}
	for range n {
		if err := await(t, errc, "a concurrent request"); err != nil {
			t.Error(err)
		}
	}
	if !connWindowBalanced(cc) {
		t.Error("connection receive window is unbalanced")
	}
}

func TestClientContextCancel(t *testing.T) {
	checkNoLeaks(t)
	started := make(chan struct{}, 1)
	canceled := make(chan struct{}, 1)
	addr := startH2(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
		}
		started <- struct{}{}
		<-r.Context().Done() // the client's RST_STREAM cancels it
		canceled <- struct{}{}
	}))
	cc := dialH2(t, addr, ClientOptions{})

	t.Run("awaiting headers", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/headers", nil)
		errc := make(chan error, 1)
		go func() {
			_, err := cc.RoundTrip(req)
			errc <- err
		}()
		await(t, started, "handler start")
		cancel()
		if err := await(t, errc, "RoundTrip"); !errors.Is(err, context.Canceled) {
			t.Errorf("RoundTrip error = %v, want context.Canceled", err)
		}
		await(t, canceled, "handler to see the cancellation")
	})

	t.Run("reading body", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/body", nil)
		resp, err := cc.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		await(t, started, "handler start")
		cancel()
		if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
			t.Errorf("Body.Read error = %v, want context.Canceled", err)
		}
		await(t, canceled, "handler to see the cancellation")
	})

	t.Run("closing body", func(t *testing.T) {
		resp, err := cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/body", nil))
		if err != nil {
			t.Fatal(err)
		}
		await(t, started, "handler start")
		resp.Body.Close()
		await(t, canceled, "handler to see the RST_STREAM")
		if _, err := resp.Body.Read(make([]byte, 1)); !errors.Is(err, errBodyClosed) {
			t.Errorf("Read after Close: %v, want errBodyClosed", err)
		}
	})

	if !cc.CanTakeNewRequest() {
		t.Error("cancellations broke the connection")
	}
}

// TestClientCloseBodyReturnsCredit closes a body holding unread data and then
// needs the connection window it occupied.
func TestClientCloseBodyReturnsCredit(t *testing.T) {
	checkNoLeaks(t)
	addr := startH2(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stall" {
			w.Write(make([]byte, 60_000))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		w.Write(make([]byte, 300_000))
	}))
	cc := dialH2(t, addr, ClientOptions{ConnWindow: -1}) // 65,535-byte connection window
	resp, err := cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/stall", nil))
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the server's data sits unread in the body, so Close must
	// discard it.
	cs := resp.Body.(clientBody).cs
	for i := 0; ; i++ {
		cc.mu.Lock()
		got := cs.gotBytes
		cc.mu.Unlock()
		if got == 60_000 {
			break
		}
		if i == 3000 {
			t.Fatalf("only %d bytes arrived", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp.Body.Close()

	resp, err = cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/big", nil))
	if err != nil {
		t.Fatal(err)
	}
	if b := ReadBody(t, resp); len(b) != 300_000 {
		t.Errorf("got %d bytes, want 300000", len(b))
	}
	if !connWindowBalanced(cc) {
		t.Error("connection receive window is unbalanced")
	}
}

func TestClientConnClose(t *testing.T) {
	checkNoLeaks(t)
	addr := startH2(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	cc := dialH2(t, addr, ClientOptions{})
	resp, err := cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/", nil))
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		readErr <- err
	}()
	cc.Close()
	if err := await(t, readErr, "body read to fail"); err == nil {
		t.Error("body read succeeded on a closed connection")
	}
	if cc.CanTakeNewRequest() {
		t.Error("CanTakeNewRequest = true after Close")
	}
	if _, err := cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/", nil)); !errors.Is(err, ErrStreamRefused) {
		t.Errorf("RoundTrip after Close: %v, want ErrStreamRefused", err)
	}
}

// rawServer is a hand-driven HTTP/2 server for behaviour x/net's server
// cannot be made to show on demand.
type rawServer struct {
	t    *testing.T
	fr   *http2.Framer
	henc *hpack.Encoder
	hbuf bytes.Buffer
}

// startRaw runs script on each connection after the preface and an
// exchange of SETTINGS (with settings from the server).
func startRaw(t *testing.T, settings []http2.Setting, script func(s *rawServer)) string {
	return serveLoopback(t, func(c net.Conn) {
		preface := make([]byte, len(http2.ClientPreface))
		if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
			t.Errorf("bad preface %q: %v", preface, err)
			return
		}
		s := &rawServer{t: t, fr: http2.NewFramer(c, c)}
		s.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		s.henc = hpack.NewEncoder(&s.hbuf)
		s.fr.WriteSettings(settings...)
		script(s)
	})
}

// readHeaders reads frames, acknowledging SETTINGS, until a HEADERS frame
// arrives, and returns its stream ID; 0 if the connection ended.
func (s *rawServer) readHeaders() uint32 {
	for {
		f, err := s.fr.ReadFrame()
		if err != nil {
			return 0
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				s.fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			return f.StreamID
		}
	}
}

// respond sends a complete response with the given status and no body.
func (s *rawServer) respond(id uint32, status string) {
	s.hbuf.Reset()
	s.henc.WriteField(hpack.HeaderField{Name: ":status", Value: status})
	s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: s.hbuf.Bytes(), EndStream: true, EndHeaders: true})
}

// drain reads until the client closes the connection.
func (s *rawServer) drain() {
	for s.readHeaders() != 0 {
	}
}

func TestClientGoAwayRefusesStream(t *testing.T) {
	checkNoLeaks(t)
	addr := startRaw(t, nil, func(s *rawServer) {
		a, b := s.readHeaders(), s.readHeaders()
		if a == 0 || b == 0 {
			return
		}
		first := min(a, b)
		s.fr.WriteGoAway(first, http2.ErrCodeNo, []byte("shutting down"))
		s.respond(first, "200")
		s.drain()
	})
	cc := dialH2(t, addr, ClientOptions{})
	type result struct {
		resp *http.Response
		err  error
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			resp, err := cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/", nil))
			results <- result{resp, err}
		}()
	}
	var ok, refused int
	for range 2 {
		r := await(t, results, "a request")
		switch {
		case r.err == nil && r.resp.StatusCode == 200:
			ok++
			ReadBody(t, r.resp)
		case errors.Is(r.err, ErrStreamRefused):
			refused++
		default:
			t.Errorf("unexpected result: %v %v", r.resp, r.err)
		}
	}
	if ok != 1 || refused != 1 {
		t.Errorf("%d succeeded and %d were refused, want 1 and 1", ok, refused)
	}
	if id, code, got := cc.GoAwayReceived(); !got || id != 1 || code != http2.ErrCodeNo {
		t.Errorf("GoAwayReceived = %d, %v, %v; want 1, NO_ERROR, true", id, code, got)
	}
	if cc.CanTakeNewRequest() {
		t.Error("CanTakeNewRequest = true after GOAWAY")
	}
	if _, err := cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/", nil)); !errors.Is(err, ErrStreamRefused) {
		t.Errorf("RoundTrip after GOAWAY: %v, want ErrStreamRefused", err)
	}
}

func TestClientRefusedStream(t *testing.T) {
	checkNoLeaks(t)
	addr := startRaw(t, nil, func(s *rawServer) {
		s.fr.WriteRSTStream(s.readHeaders(), http2.ErrCodeRefusedStream)
		s.respond(s.readHeaders(), "204")
		s.drain()
	})
	cc := dialH2(t, addr, ClientOptions{})
	if _, err := cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/", nil)); !errors.Is(err, ErrStreamRefused) {
		t.Errorf("RoundTrip error = %v, want ErrStreamRefused", err)
	}
	resp, err := cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/", nil))
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("request after a refused one: %v %v", resp, err)
	}
	if resp.ContentLength != 0 || resp.Body != http.NoBody {
		t.Errorf("END_STREAM response: ContentLength %d, Body %T", resp.ContentLength, resp.Body)
	}
}

// TestClientMaxConcurrentStreams checks that the client waits for a free
// slot instead of exceeding the server's limit, from the first request on.
func TestClientMaxConcurrentStreams(t *testing.T) {
	checkNoLeaks(t)
	addr := startRaw(t, []http2.Setting{{ID: http2.SettingMaxConcurrentStreams, Val: 1}}, func(s *rawServer) {
		for {
			id := s.readHeaders()
			if id == 0 {
				return
			}
			// Prove that no other request is open: a PING round trip
			// flushes anything the client wrote before the PING's ACK.
			s.fr.WritePing(false, [8]byte{1})
			for {
				f, err := s.fr.ReadFrame()
				if err != nil {
					return
				}
				if _, ok := f.(*http2.MetaHeadersFrame); ok {
					s.t.Errorf("stream %d opened while stream %d was open", f.Header().StreamID, id)
				}
				if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
					break
				}
			}
			s.respond(id, "200")
		}
	})
	cc := dialH2(t, addr, ClientOptions{})
	errc := make(chan error, 5)
	for range 5 {
		go func() {
			_, err := cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/", nil))
			errc <- err
		}()
	}
	for range 5 {
		if err := await(t, errc, "a request"); err != nil {
			t.Error(err)
		}
	}
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

// TestClientResponseHeadersReadPaths answers requests with HEADERS in
// every shape readFrame meets: a whole block (decoded in the read
// buffer), the same again (indexed now), padded, with priority, with
// CONTINUATION (read by the Framer), and a whole block with an uppercase
// name (a malformed response: the stream fails, the connection goes on).
func TestClientResponseHeadersReadPaths(t *testing.T) {
	checkNoLeaks(t)
	addr := startRaw(t, nil, func(s *rawServer) {
		block := func(n string) []byte {
			s.hbuf.Reset()
			s.henc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
			s.henc.WriteField(hpack.HeaderField{Name: "x-n", Value: n})
			return bytes.Clone(s.hbuf.Bytes())
		}
		for i := 0; ; i++ {
			id := s.readHeaders()
			if id == 0 {
				return
			}
			n := strconv.Itoa(i)
			p := http2.HeadersFrameParam{StreamID: id, BlockFragment: block(n), EndStream: true, EndHeaders: true}
			switch i {
			case 2:
				p.PadLength = 7
			case 3:
				p.Priority = http2.PriorityParam{Weight: 9}
			case 4:
				p.EndHeaders = false
				frag := p.BlockFragment
				p.BlockFragment = frag[:2]
				s.fr.WriteHeaders(p)
				s.fr.WriteContinuation(id, true, frag[2:])
				continue
			case 5:
				s.hbuf.Reset()
				s.henc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
				s.henc.WriteField(hpack.HeaderField{Name: "X-Upper", Value: "1"})
				p.BlockFragment = s.hbuf.Bytes()
			}
			s.fr.WriteHeaders(p)
		}
	})
	cc := dialH2(t, addr, ClientOptions{})
	for i := range 7 {
		resp, err := cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/", nil))
		if i == 5 {
			if err == nil {
				resp.Body.Close()
				t.Errorf("response %d, with an uppercase field name: no error", i)
			}
			continue
		}
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-N"); resp.StatusCode != 200 || got != strconv.Itoa(i) {
			t.Errorf("response %d: %d, X-N %q", i, resp.StatusCode, got)
		}
	}
}
