package h2client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// upgradeServer is a test-only server for h2c upgrades: it reads an
// HTTP/1.1 request, and either declines the upgrade or switches to HTTP/2
// served by x/net's server.
type upgradeServer struct {
	handler      http.Handler
	decline      bool // answer with HTTP/1.1 instead of switching
	ignoreExpect bool // never send 100 Continue
	earlyHints   bool // send a 103 before the 101

	accepted atomic.Int32
	mu       sync.Mutex
	settings []byte // the last decoded HTTP2-Settings
}

func (s *upgradeServer) start(t *testing.T) string {
	return serveLoopback(t, func(c net.Conn) {
		s.accepted.Add(1)
		if err := s.serve(c); err != nil {
			t.Errorf("upgrade server: %v", err)
		}
	})
}

func (s *upgradeServer) serve(c net.Conn) error {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return err
	}
	if !httpguts.HeaderValuesContainsToken(req.Header["Upgrade"], "h2c") ||
		!httpguts.HeaderValuesContainsToken(req.Header["Connection"], "Upgrade") ||
		!httpguts.HeaderValuesContainsToken(req.Header["Connection"], "HTTP2-Settings") ||
		len(req.Header["Http2-Settings"]) != 1 {
		return fmt.Errorf("not an h2c upgrade request: %v", req.Header)
	}
	settings, err := base64.RawURLEncoding.DecodeString(req.Header.Get("HTTP2-Settings"))
	if err != nil {
		return fmt.Errorf("HTTP2-Settings: %v", err)
	}
	s.mu.Lock()
	s.settings = settings
	s.mu.Unlock()
	if req.Header.Get("Expect") == "100-continue" && !s.ignoreExpect {
		io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return fmt.Errorf("reading request body: %v", err)
	}
	if s.decline {
		reply := "declined " + string(body)
		_, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(reply), reply)
		return err
	}
	if s.earlyHints {
		io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </hint>\r\n\r\n")
	}
	if _, err := io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"); err != nil {
		return err
	}
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/2.0", 2, 0
	req.Body = io.NopCloser(bytes.NewReader(body))
	(&http2.Server{}).ServeConn(&bufferedConn{Conn: c, r: br}, &http2.ServeConnOpts{
		Handler:        s.handler,
		UpgradeRequest: req,
		Settings:       settings,
	})
	return nil
}

func (s *upgradeServer) lastSettings() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settings
}

// bufferedConn reads what is left in r before reading from the Conn.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// closeRecorder records whether Close was called.
type closeRecorder struct {
	net.Conn
	closed atomic.Bool
}

func (c *closeRecorder) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

// dialUpgrade dials addr and upgrades with req, closing the connection when
// the test ends.
func dialUpgrade(t *testing.T, addr string, req *http.Request, opts ClientOptions) *UpgradeResult {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Upgrade(c, req, opts)
	if err != nil {
		t.Fatalf("Upgrade: %v", err)
	}
	if res.Conn != nil {
		t.Cleanup(func() { res.Conn.Close() })
	}
	return res
}

func TestUpgradeGet(t *testing.T) {
	checkNoLeaks(t)
	srv := &upgradeServer{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s", r.Proto, r.Method, r.URL.Path)
	})}
	addr := srv.start(t)
	settings := []http2.Setting{
		{ID: http2.SettingEnablePush, Val: 0},
		{ID: http2.SettingInitialWindowSize, Val: 1 << 20},
		{ID: http2.SettingMaxHeaderListSize, Val: 1 << 16},
	}
	res := dialUpgrade(t, addr, newRequest(t, "GET", "http://"+addr+"/first", nil), ClientOptions{Settings: settings})
	if res.Switching == nil || res.Switching.StatusCode != 101 || res.Conn == nil {
		t.Fatalf("no switch: %+v", res)
	}
	wantSettings, _ := base64.RawURLEncoding.DecodeString(encodeSettings(settings))
	if got := srv.lastSettings(); !bytes.Equal(got, wantSettings) || len(got) != 18 {
		t.Errorf("server decoded HTTP2-Settings %x, want %x", got, wantSettings)
	}
	resp := res.Response
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Errorf("stream 1 response: %s %s", resp.Proto, resp.Status)
	}
	if b := ReadBody(t, resp); string(b) != "HTTP/2.0 GET /first" {
		t.Errorf("stream 1 body = %q", b)
	}
	// Later requests are new streams on the upgraded connection.
	resp, err := res.Conn.RoundTrip(newRequest(t, "GET", "http://"+addr+"/second", nil))
	if err != nil {
		t.Fatal(err)
	}
	if b := ReadBody(t, resp); string(b) != "HTTP/2.0 GET /second" {
		t.Errorf("stream 3 body = %q", b)
	}
}

func TestUpgradeWithBody(t *testing.T) {
	checkNoLeaks(t)
	srv := &upgradeServer{handler: http.HandlerFunc(echoHandler)}
	addr := srv.start(t)
	want := pattern(256<<10, 3)
	for _, tc := range []struct {
		name    string
		body    func() io.Reader
		trailer bool
	}{
		{"content-length", func() io.Reader { return bytes.NewReader(want) }, false},
		{"chunked", func() io.Reader { return io.MultiReader(bytes.NewReader(want)) }, false},
		{"chunked-trailers", func() io.Reader { return bytes.NewReader(want) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(t, "POST", "http://"+addr+"/", tc.body())
			if tc.trailer {
				req.Body = io.NopCloser(&trailerBody{r: req.Body, req: req})
				req.Trailer = http.Header{"X-Req-Trailer": nil}
			}
			res := dialUpgrade(t, addr, req, ClientOptions{})
			if res.Conn == nil {
				t.Fatal("upgrade declined")
			}
			if got := ReadBody(t, res.Response); !bytes.Equal(got, want) {
				t.Errorf("echo differs: got %d bytes, want %d", len(got), len(want))
			}
			if tc.trailer {
				if got := res.Response.Header.Get("X-Request-Trailer"); got != "request-trailer-value" {
					t.Errorf("server saw request trailer %q", got)
				}
			}
		})
	}
}

func TestUpgradeExpectContinue(t *testing.T) {
	checkNoLeaks(t)
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprintf("server-ignores-expect=%v", ignore), func(t *testing.T) {
			srv := &upgradeServer{handler: http.HandlerFunc(echoHandler), ignoreExpect: ignore, earlyHints: true}
			addr := srv.start(t)
			var mu sync.Mutex
			var codes []int
			trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				mu.Lock()
				defer mu.Unlock()
				codes = append(codes, code)
				return nil
			}}
			req := newRequest(t, "PUT", "http://"+addr+"/", strings.NewReader("expected body"))
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
			req.Header.Set("Expect", "100-continue")
			// When the server stays silent, the body goes out after the timeout.
			res := dialUpgrade(t, addr, req, ClientOptions{ExpectContinueTimeout: 10 * time.Millisecond})
			if res.Conn == nil {
				t.Fatal("upgrade declined")
			}
			if b := ReadBody(t, res.Response); string(b) != "expected body" {
				t.Errorf("echo = %q", b)
			}
			want := "[100 103]"
			if ignore {
				want = "[103]"
			}
			mu.Lock()
			if fmt.Sprint(codes) != want {
				t.Errorf("Got1xxResponse codes = %v, want %s", codes, want)
			}
			mu.Unlock()
		})
	}
}

func TestUpgradeDeclined(t *testing.T) {
	checkNoLeaks(t)
	srv := &upgradeServer{decline: true}
	addr := srv.start(t)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &closeRecorder{Conn: nc}
	res, err := Upgrade(c, newRequest(t, "POST", "http://"+addr+"/", strings.NewReader("data")), ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Conn != nil || res.Switching != nil {
		t.Fatalf("declined upgrade returned Conn %v, Switching %v", res.Conn, res.Switching)
	}
	if res.Response.ProtoMajor != 1 || res.Response.StatusCode != 200 {
		t.Errorf("response %s %s", res.Response.Proto, res.Response.Status)
	}
	if b := ReadBody(t, res.Response); string(b) != "declined data" {
		t.Errorf("body = %q", b)
	}
	if !c.closed.Load() {
		t.Error("closing the declined response's body did not close the connection")
	}
}

func TestUpgradeCancel(t *testing.T) {
	checkNoLeaks(t)
	t.Run("during handshake", func(t *testing.T) {
		addr := serveLoopback(t, func(c net.Conn) { io.Copy(io.Discard, c) }) // never answers
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
		errc := make(chan error, 1)
		go func() {
			_, err := Upgrade(c, req, ClientOptions{})
			errc <- err
		}()
		cancel()
		if err := await(t, errc, "Upgrade"); !errors.Is(err, context.Canceled) {
			t.Errorf("Upgrade error = %v, want context.Canceled", err)
		}
	})

	t.Run("stream 1", func(t *testing.T) {
		// x/net does not tie an upgrade request's context to stream 1, so
		// the handler notices the RST_STREAM when its writes fail.
		canceled := make(chan struct{}, 1)
		srv := &upgradeServer{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/stream" {
				return
			}
			for {
				if _, err := w.Write(make([]byte, 1024)); err != nil {
					canceled <- struct{}{}
					return
				}
				w.(http.Flusher).Flush()
			}
		})}
		addr := srv.start(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/stream", nil)
		res := dialUpgrade(t, addr, req, ClientOptions{
			Settings: []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 65535}},
		})
		if _, err := res.Response.Body.Read(make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := io.ReadAll(res.Response.Body); !errors.Is(err, context.Canceled) {
			t.Errorf("Body.Read error = %v, want context.Canceled", err)
		}
		await(t, canceled, "handler to see the RST_STREAM")
		// The connection survives.
		resp, err := res.Conn.RoundTrip(newRequest(t, "GET", "http://"+addr+"/", nil))
		if err != nil {
			t.Fatal(err)
		}
		ReadBody(t, resp)
	})
}

func TestUpgradeTransport(t *testing.T) {
	checkNoLeaks(t)
	srv := &upgradeServer{handler: http.HandlerFunc(echoHandler)}
	addr := srv.start(t)
	tr := &UpgradeTransport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: testTimeout}
	post := func(body string) error {
		resp, err := client.Post("http://"+addr+"/", "text/plain", strings.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		switch {
		case err != nil:
			return err
		case resp.ProtoMajor != 2:
			return fmt.Errorf("response over %s", resp.Proto)
		case string(got) != body:
			return fmt.Errorf("echo %q, want %q", got, body)
		}
		return nil
	}

	errc := make(chan error, 10)
	for i := range 10 { // concurrent requests share one upgrade
		go func() { errc <- post(fmt.Sprint("concurrent ", i)) }()
	}
	for range 10 {
		if err := await(t, errc, "a request"); err != nil {
			t.Error(err)
		}
	}
	for i := range 3 {
		if err := post(fmt.Sprint("sequential ", i)); err != nil {
			t.Error(err)
		}
	}
	if n := srv.accepted.Load(); n != 1 {
		t.Errorf("%d connections accepted, want 1", n)
	}

	tr.CloseIdleConnections()
	if err := post("after close"); err != nil {
		t.Error(err)
	}
	if n := srv.accepted.Load(); n != 2 {
		t.Errorf("%d connections accepted, want 2", n)
	}
}

func TestUpgradeTransportDeclined(t *testing.T) {
	checkNoLeaks(t)
	srv := &upgradeServer{decline: true}
	addr := srv.start(t)
	tr := &UpgradeTransport{}
	defer tr.CloseIdleConnections()
	for i := range 2 {
		resp, err := tr.RoundTrip(newRequest(t, "POST", "http://"+addr+"/", strings.NewReader("x")))
		if err != nil {
			t.Fatal(err)
		}
		if b := ReadBody(t, resp); resp.ProtoMajor != 1 || string(b) != "declined x" {
			t.Errorf("request %d: %s %q", i, resp.Proto, b)
		}
	}
	if n := srv.accepted.Load(); n != 2 {
		t.Errorf("%d connections accepted, want 2 (a declined connection is not reused)", n)
	}
}

// TestUpgradeResponseHeaderBounded answers an upgrade with a header
// section that never ends (and, in a second case, with 1xx responses that
// never end): the upgrade fails with ErrUpgradeResponseTooLarge once
// MaxUpgradeResponseHeader bytes are read, instead of reading forever.
func TestUpgradeResponseHeaderBounded(t *testing.T) {
	checkNoLeaks(t)
	for _, tc := range []struct {
		name  string
		first string
		chunk string
	}{
		{"endless header", "HTTP/1.1 200 OK\r\n", "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"},
		{"endless 1xx", "", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			sent := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					sent <- 0
					return
				}
				defer c.Close()
				go io.Copy(io.Discard, c)
				n, _ := io.WriteString(c, tc.first)
				total := int64(n)
				for total < 8*MaxUpgradeResponseHeader {
					n, err := io.WriteString(c, tc.chunk)
					total += int64(n)
					if err != nil {
						break
					}
				}
				sent <- total
			}()
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_, err = Upgrade(nc, newRequest(t, "GET", "http://"+ln.Addr().String()+"/", nil), ClientOptions{})
			if !errors.Is(err, ErrUpgradeResponseTooLarge) {
				t.Fatalf("error %v, want ErrUpgradeResponseTooLarge", err)
			}
			nc.Close()
			if n := <-sent; n >= 8*MaxUpgradeResponseHeader {
				t.Fatalf("the server wrote all %d bytes: the client read them", n)
			}
		})
	}
}
