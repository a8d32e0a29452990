package websocket_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/websocket"
)

// dialTimeout bounds each dialing test.
const dialTimeout = 30 * time.Second

// dialProtocol maps a test mode to Dial's protocol.
func dialProtocol(mode h2ctest.Mode) websocket.Protocol {
	switch mode {
	case h2ctest.H2CPrior:
		return websocket.DialH2CPrior
	case h2ctest.H2CUpgrade:
		return websocket.DialH2CUpgrade
	}
	return websocket.DialHTTP1
}

// wsURL returns the ws:// URL of path on ts.
func wsURL(ts *h2ctest.Server, path string) string {
	return "ws://" + ts.Addr + path
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	t.Cleanup(cancel)
	return ctx
}

// mustDial dials path on ts in mode, failing the test on error; the
// connection is closed when the test ends.
func mustDial(t *testing.T, ts *h2ctest.Server, mode h2ctest.Mode, path string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	opts.Protocol = dialProtocol(mode)
	c, err := websocket.Dial(testContext(t), wsURL(ts, path), opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// runDial runs f in every mode on every engine.
func runDial(t *testing.T, f func(t *testing.T, e h2ctest.Engine, mode h2ctest.Mode)) {
	h2ctest.RunEngines(t, func(t *testing.T, e h2ctest.Engine) {
		h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) { f(t, e, mode) })
	})
}

func TestDialEcho(t *testing.T) {
	runDial(t, func(t *testing.T, e h2ctest.Engine, mode h2ctest.Mode) {
		for _, comp := range []websocket.Compression{websocket.CompressionDisabled, websocket.CompressionNoContextTakeover, websocket.CompressionContextTakeover} {
			t.Run(compName(comp), func(t *testing.T) {
				opts := websocket.Options{Compression: comp, ReadLimit: 4 << 20}
				ts := h2ctest.NewServer(t, echoHandler(opts, nil), h2ctest.WithEngine(e))
				c := mustDial(t, ts, mode, "/", &websocket.DialOptions{Compression: comp, ReadLimit: 4 << 20})
				if got, want := c.HTTP2(), mode != h2ctest.H1; got != want {
					t.Errorf("HTTP2() = %v, want %v", got, want)
				}
				wantExt := comp != websocket.CompressionDisabled
				if got := c.Response().Header.Get("Sec-WebSocket-Extensions") != ""; got != wantExt {
					t.Errorf("extension negotiated %v, want %v", got, wantExt)
				}
				ctx := testContext(t)
				for _, n := range []int{0, 1, 125, 126, 4095, 4096, 65535, 65536, 1 << 20} {
					for _, typ := range []websocket.MessageType{websocket.Text, websocket.Binary} {
						msg := bytes.Repeat([]byte("molt echo "), n/10+1)[:n]
						if err := c.Write(ctx, typ, msg); err != nil {
							t.Fatalf("Write %d: %v", n, err)
						}
						gotTyp, got, err := c.Read(ctx)
						if err != nil || gotTyp != typ || !bytes.Equal(got, msg) {
							t.Fatalf("echo of %d bytes %v: got %v %d bytes, %v", n, typ, gotTyp, len(got), err)
						}
					}
				}
				// A fragmented message through Writer.
				w, err := c.Writer(ctx, websocket.Binary)
				if err != nil {
					t.Fatal(err)
				}
				want := bytes.Repeat([]byte{1, 2, 3}, 30000)
				for p := want; len(p) > 0; p = p[min(len(p), 7000):] {
					if _, err := w.Write(p[:min(len(p), 7000)]); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, want) {
					t.Fatalf("Writer echo: %d bytes, %v", len(got), err)
				}
				if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
					t.Fatalf("Close: %v", err)
				}
			})
		}
	})
}

func compName(c websocket.Compression) string {
	return [...]string{"plain", "no-context-takeover", "context-takeover"}[c]
}

// TestDialHandshake checks what a dialed Conn sends and gets: the
// subprotocol negotiation, extra header fields, the Host.
func TestDialHandshake(t *testing.T) {
	runDial(t, func(t *testing.T, e h2ctest.Engine, mode h2ctest.Mode) {
		got := make(chan *http.Request, 1)
		h := websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
			got <- c.Request()
			c.Write(ctx, websocket.Text, []byte(c.Subprotocol()))
			c.Read(ctx)
		}, websocket.Options{Subprotocols: []string{"chat.v2", "chat.v1"}, AllowAnyOrigin: true})
		ts := h2ctest.NewServer(t, h, h2ctest.WithEngine(e))
		c := mustDial(t, ts, mode, "/room?id=7", &websocket.DialOptions{
			Subprotocols: []string{"chat.v1", "chat.v2"},
			Header:       http.Header{"Authorization": {"Bearer x"}, "Origin": {"http://example.com"}, "Host": {"example.org:8080"}},
		})
		if c.Subprotocol() != "chat.v2" {
			t.Errorf("Subprotocol() = %q, want chat.v2", c.Subprotocol())
		}
		r := <-got
		if r.Header.Get("Authorization") != "Bearer x" || r.Header.Get("Origin") != "http://example.com" {
			t.Errorf("server saw header %v", r.Header)
		}
		if r.Host != "example.org:8080" || r.URL.Path != "/room" || r.URL.RawQuery != "id=7" {
			t.Errorf("server saw host %q, URL %v", r.Host, r.URL)
		}
		if _, msg, err := c.Read(testContext(t)); err != nil || string(msg) != "chat.v2" {
			t.Errorf("Read = %q, %v", msg, err)
		}
		c.Close(websocket.StatusNormalClosure, "")
	})
}

// TestDialRefused checks that a server that answers the handshake with
// an ordinary response gives a *DialError holding it.
func TestDialRefused(t *testing.T) {
	runDial(t, func(t *testing.T, e h2ctest.Engine, mode h2ctest.Mode) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodOptions {
				return // the h2c upgrade request
			}
			w.Header().Set("X-Why", "nope")
			http.Error(w, "go away", http.StatusForbidden)
		})
		ts := h2ctest.NewServer(t, h, h2ctest.WithEngine(e))
		_, err := websocket.Dial(testContext(t), wsURL(ts, "/"), &websocket.DialOptions{Protocol: dialProtocol(mode)})
		var de *websocket.DialError
		if !errors.As(err, &de) {
			t.Fatalf("Dial error %v, want a *DialError", err)
		}
		body, _ := io.ReadAll(de.Response.Body)
		if de.Response.StatusCode != http.StatusForbidden || de.Response.Header.Get("X-Why") != "nope" || string(body) != "go away\n" {
			t.Errorf("DialError response %d %v %q", de.Response.StatusCode, de.Response.Header, body)
		}
	})
}

// rawHandshakeServer starts a loopback server that reads one HTTP/1.1
// request per connection and answers it with respond's bytes (given the
// request's Sec-WebSocket-Key), then runs after, if set, on the
// connection.
func rawHandshakeServer(t *testing.T, respond func(key string) string, after func(nc net.Conn, br *bufio.Reader)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(dialTimeout))
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.WriteString(nc, respond(req.Header.Get("Sec-WebSocket-Key")))
				if after != nil {
					after(nc, br)
				}
			}()
		}
	}()
	return "ws://" + ln.Addr().String() + "/"
}

func switching(accept, extra string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n" + extra + "\r\n"
}

// TestDialBadResponse checks that Dial refuses a 101 that breaks RFC
// 6455's or RFC 7692's rules.
func TestDialBadResponse(t *testing.T) {
	good := func(key string) string { return websocket.AcceptKeyForTest(key) }
	cases := []struct {
		name    string
		respond func(key string) string
		opts    websocket.DialOptions
		want    string
	}{
		{"wrong accept", func(key string) string { return switching("dGhlIHNhbXBsZSBub25jZQ==", "") }, websocket.DialOptions{}, "wrong Sec-WebSocket-Accept"},
		{"no upgrade", func(key string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + good(key) + "\r\n\r\n"
		}, websocket.DialOptions{}, "without Upgrade"},
		{"subprotocol not offered", func(key string) string { return switching(good(key), "Sec-WebSocket-Protocol: evil\r\n") },
			websocket.DialOptions{Subprotocols: []string{"chat"}}, `subprotocol "evil"`},
		{"subprotocol without offer", func(key string) string { return switching(good(key), "Sec-WebSocket-Protocol: chat\r\n") },
			websocket.DialOptions{}, `subprotocol "chat"`},
		{"two subprotocols", func(key string) string { return switching(good(key), "Sec-WebSocket-Protocol: a, b\r\n") },
			websocket.DialOptions{Subprotocols: []string{"a", "b"}}, "more than one subprotocol"},
		{"extension not offered", func(key string) string {
			return switching(good(key), "Sec-WebSocket-Extensions: permessage-deflate\r\n")
		},
			websocket.DialOptions{}, "not offered"},
		{"unknown extension", func(key string) string { return switching(good(key), "Sec-WebSocket-Extensions: x-foo\r\n") },
			websocket.DialOptions{Compression: websocket.CompressionContextTakeover}, `"x-foo"`},
		{"unoffered parameter", func(key string) string {
			return switching(good(key), "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n")
		}, websocket.DialOptions{Compression: websocket.CompressionContextTakeover}, "server_max_window_bits"},
		{"bad window bits", func(key string) string {
			return switching(good(key), "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=16\r\n")
		}, websocket.DialOptions{Compression: websocket.CompressionContextTakeover}, "client_max_window_bits"},
		{"404", func(string) string { return "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope" }, websocket.DialOptions{}, "404"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := rawHandshakeServer(t, tc.respond, nil)
			c, err := websocket.Dial(testContext(t), u, &tc.opts)
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded")
			}
			var de *websocket.DialError
			if !errors.As(err, &de) || de.Response == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Dial error %v, want a *DialError mentioning %q", err, tc.want)
			}
		})
	}
}

// TestDialOptionsRefused checks the errors for options Dial cannot use.
func TestDialOptionsRefused(t *testing.T) {
	cases := []struct {
		name string
		url  string
		opts websocket.DialOptions
		want string
	}{
		{"scheme", "ftp://127.0.0.1:1/", websocket.DialOptions{}, "scheme"},
		{"no host", "ws:///x", websocket.DialOptions{}, "no host"},
		{"reserved field", "ws://127.0.0.1:1/", websocket.DialOptions{Header: http.Header{"Sec-Websocket-Key": {"x"}}}, "set by the handshake"},
		{"bad field value", "ws://127.0.0.1:1/", websocket.DialOptions{Header: http.Header{"X-A": {"a\r\nb"}}}, "invalid value"},
		{"bad subprotocol", "ws://127.0.0.1:1/", websocket.DialOptions{Subprotocols: []string{"a b"}}, "invalid subprotocol"},
		{"wss over h2c", "wss://127.0.0.1:1/", websocket.DialOptions{Protocol: websocket.DialH2CPrior}, "no TLS"},
		{"unknown protocol", "ws://127.0.0.1:1/", websocket.DialOptions{Protocol: 9}, "unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := websocket.Dial(testContext(t), tc.url, &tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Dial error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestDialMasked checks that the client masks every frame with a fresh
// key and fails the connection with 1002 when the server masks its own.
func TestDialMasked(t *testing.T) {
	got := make(chan error, 1)
	keys := make(chan [][4]byte, 1)
	u := rawHandshakeServer(t, func(key string) string { return switching(websocket.AcceptKeyForTest(key), "") },
		func(nc net.Conn, br *bufio.Reader) {
			var seen [][4]byte
			for range 3 {
				f, key, err := readClientFrame(br)
				if err != nil {
					got <- err
					return
				}
				if string(f.payload) != "same" {
					got <- errors.New("payload " + string(f.payload))
					return
				}
				seen = append(seen, key)
			}
			keys <- seen
			// A masked server frame: the client must fail with 1002.
			nc.Write(frame(true, 0, 1, []byte("masked"), testKey))
			f, _, err := readClientFrame(br)
			if err == nil && f.op != 8 {
				err = errors.New("not a close frame")
			}
			if err == nil && (len(f.payload) < 2 || int(f.payload[0])<<8|int(f.payload[1]) != 1002) {
				err = errors.New("close frame " + string(f.payload))
			}
			got <- err
		})
	c, err := websocket.Dial(testContext(t), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx := testContext(t)
	for range 3 {
		if err := c.Write(ctx, websocket.Text, []byte("same")); err != nil {
			t.Fatal(err)
		}
	}
	seen := <-keys
	if seen[0] == seen[1] || seen[1] == seen[2] || seen[0] == seen[2] {
		t.Errorf("mask keys repeat: %x", seen)
	}
	_, _, err = c.Read(ctx)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusProtocolError {
		t.Errorf("Read error %v, want close 1002", err)
	}
	if err := <-got; err != nil {
		t.Errorf("server: %v", err)
	}
}

// readClientFrame reads one frame that must be masked, and unmasks it.
func readClientFrame(br *bufio.Reader) (rframe, [4]byte, error) {
	var key [4]byte
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return rframe{}, key, err
	}
	if h[1]&0x80 == 0 {
		return rframe{}, key, errors.New("unmasked client frame")
	}
	n := int(h[1] & 127)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return rframe{}, key, err
		}
		n = int(b[0])<<8 | int(b[1])
	case 127:
		return rframe{}, key, errors.New("frame too large for the test")
	}
	if _, err := io.ReadFull(br, key[:]); err != nil {
		return rframe{}, key, err
	}
	f := rframe{fin: h[0]&0x80 != 0, rsv: h[0] >> 4 & 7, op: h[0] & 15, payload: make([]byte, n)}
	if _, err := io.ReadFull(br, f.payload); err != nil {
		return f, key, err
	}
	for i := range f.payload {
		f.payload[i] ^= key[i&3]
	}
	return f, key, nil
}

// TestDialContext checks that the handshake's context bounds it and only
// it: a server that never answers fails Dial when ctx ends; a dialed
// Conn outlives its Dial context.
func TestDialContext(t *testing.T) {
	t.Run("silent server", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				defer nc.Close()
			}
		}()
		for _, p := range []websocket.Protocol{websocket.DialHTTP1, websocket.DialH2CUpgrade, websocket.DialH2CPrior} {
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				_, err := websocket.Dial(ctx, "ws://"+ln.Addr().String()+"/", &websocket.DialOptions{Protocol: p})
				errc <- err
			}()
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("%v: Dial error %v, want context.Canceled", p, err)
			}
		}
		_, err = websocket.Dial(context.Background(), "ws://"+ln.Addr().String()+"/", &websocket.DialOptions{HandshakeTimeout: time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("Dial with HandshakeTimeout: %v, want a time-out", err)
		}
	})
	runDial(t, func(t *testing.T, e h2ctest.Engine, mode h2ctest.Mode) {
		ts := h2ctest.NewServer(t, echoHandler(websocket.Options{}, nil), h2ctest.WithEngine(e))
		ctx, cancel := context.WithCancel(context.Background())
		c, err := websocket.Dial(ctx, wsURL(ts, "/"), &websocket.DialOptions{Protocol: dialProtocol(mode)})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		rctx := testContext(t)
		if err := c.Write(rctx, websocket.Text, []byte("still here")); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := c.Read(rctx); err != nil || string(msg) != "still here" {
			t.Fatalf("Read = %q, %v", msg, err)
		}
	})
}

// TestDialCustomDialer checks that DialContext opens the connection.
func TestDialCustomDialer(t *testing.T) {
	ts := h2ctest.NewServer(t, echoHandler(websocket.Options{}, nil))
	var dialed []string
	d := &net.Dialer{Timeout: 5 * time.Second}
	opts := &websocket.DialOptions{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed = append(dialed, network+" "+addr)
		return d.DialContext(ctx, network, ts.Addr)
	}}
	c, err := websocket.Dial(testContext(t), "ws://ws.invalid/", opts)
	if err != nil {
		t.Fatal(err)
	}
	c.CloseNow()
	if len(dialed) != 1 || dialed[0] != "tcp ws.invalid:80" {
		t.Errorf("DialContext called with %q", dialed)
	}
}

// TestDialHugeResponse checks that a server cannot make Dial read an
// endless handshake response.
func TestDialHugeResponse(t *testing.T) {
	u := rawHandshakeServer(t, func(key string) string {
		return switching(websocket.AcceptKeyForTest(key), "X-Pad: "+strings.Repeat("a", 2<<20)+"\r\n")
	}, nil)
	c, err := websocket.Dial(testContext(t), u, nil)
	if err == nil {
		c.CloseNow()
		t.Fatal("Dial succeeded")
	}
	// Dial's bound or h2client's own, whichever is reached first.
	if !strings.Contains(err.Error(), "over 1 MiB") && !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Fatalf("Dial error %v, want the response size limit's", err)
	}
}

// TestDialTLS checks wss:// with DialOptions.TLSConfig.
func TestDialTLS(t *testing.T) {
	srv := httptest.NewTLSServer(echoHandler(websocket.Options{}, nil))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	u := "wss://" + strings.TrimPrefix(srv.URL, "https://") + "/"
	// Without the test CA the handshake fails.
	if c, err := websocket.Dial(testContext(t), u, nil); err == nil {
		c.CloseNow()
		t.Fatal("Dial trusted an unknown certificate")
	}
	c, err := websocket.Dial(testContext(t), u, &websocket.DialOptions{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx := testContext(t)
	if err := c.Write(ctx, websocket.Text, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "secret" {
		t.Fatalf("Read = %q, %v", msg, err)
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

// TestDialH2CDeclined checks the errors of Dial over HTTP/2 to a server
// that speaks only HTTP/1.1 (net/http's, without h2c).
func TestDialH2CDeclined(t *testing.T) {
	srv := httptest.NewServer(echoHandler(websocket.Options{}, nil))
	defer srv.Close()
	u := "ws://" + strings.TrimPrefix(srv.URL, "http://") + "/"
	_, err := websocket.Dial(testContext(t), u, &websocket.DialOptions{Protocol: websocket.DialH2CUpgrade})
	var de *websocket.DialError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "declined the h2c upgrade") {
		t.Errorf("h2c-upgrade: Dial error %v, want a *DialError for the declined upgrade", err)
	}
	if _, err := websocket.Dial(testContext(t), u, &websocket.DialOptions{Protocol: websocket.DialH2CPrior}); err == nil {
		t.Error("h2c-prior: Dial to an HTTP/1.1-only server succeeded")
	}
}

// TestDialHTTPClient checks the handshake through an http.Client: its
// transport dials, its jar's cookies go along, over ws:// and wss://; the
// connection it hands over works, deadlines included, and outlives the
// Dial context.
func TestDialHTTPClient(t *testing.T) {
	cookies := make(chan string, 2)
	h := websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		ck, _ := c.Request().Cookie("session")
		if ck != nil {
			cookies <- ck.Value
		} else {
			cookies <- ""
		}
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			c.Write(ctx, typ, msg)
		}
	}, websocket.Options{})
	for _, secure := range []bool{false, true} {
		t.Run(map[bool]string{false: "ws", true: "wss"}[secure], func(t *testing.T) {
			var srv *httptest.Server
			if secure {
				srv = httptest.NewTLSServer(h)
			} else {
				srv = httptest.NewServer(h)
			}
			defer srv.Close()
			hc := srv.Client()
			dials := 0
			tr := hc.Transport.(*http.Transport).Clone()
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials++
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			hc.Transport = tr
			jar, _ := cookiejar.New(nil)
			hc.Jar = jar
			u, _ := url.Parse(srv.URL)
			jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: "s3cret"}})
			wsu := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
			ctx, cancel := context.WithCancel(context.Background())
			c, err := websocket.Dial(ctx, wsu, &websocket.DialOptions{HTTPClient: hc})
			cancel()
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.CloseNow()
			if dials != 1 {
				t.Errorf("the transport dialed %d times, want 1", dials)
			}
			if got := <-cookies; got != "s3cret" {
				t.Errorf("server saw cookie %q", got)
			}
			rctx := testContext(t)
			for _, m := range []string{"one", strings.Repeat("big", 30000)} {
				if err := c.Write(rctx, websocket.Text, []byte(m)); err != nil {
					t.Fatal(err)
				}
				if _, got, err := c.Read(rctx); err != nil || string(got) != m {
					t.Fatalf("echo of %d bytes: %d bytes, %v", len(m), len(got), err)
				}
			}
			c.SetReadDeadline(time.Now().Add(-time.Second))
			if _, _, err := c.Read(rctx); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Read past the deadline: %v, want os.ErrDeadlineExceeded", err)
			}
		})
	}
	if _, err := websocket.Dial(testContext(t), "ws://127.0.0.1:1/", &websocket.DialOptions{HTTPClient: http.DefaultClient, Protocol: websocket.DialH2CPrior}); err == nil || !strings.Contains(err.Error(), "DialHTTP1 only") {
		t.Errorf("HTTPClient with h2c-prior: %v", err)
	}
}

// TestDialH2CUpgradeHugeResponse checks the same bound on the h2c
// upgrade's response.
func TestDialH2CUpgradeHugeResponse(t *testing.T) {
	u := rawHandshakeServer(t, func(string) string {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nX-Pad: " + strings.Repeat("a", 2<<20) + "\r\n\r\n"
	}, nil)
	c, err := websocket.Dial(testContext(t), u, &websocket.DialOptions{Protocol: websocket.DialH2CUpgrade})
	if err == nil {
		c.CloseNow()
		t.Fatal("Dial succeeded")
	}
	// Dial's bound or h2client's own, whichever is reached first.
	if !strings.Contains(err.Error(), "over 1 MiB") && !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Fatalf("Dial error %v, want the response size limit's", err)
	}
}
