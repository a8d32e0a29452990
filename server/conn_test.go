package server_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/server"
)

// maxWait bounds the waits of these tests, so that a hang fails the test
// instead of stalling it. It is a bound, not a timing assertion.
const maxWait = 30 * time.Second

// TestHijackedConnectionHalfCloses checks that the server's connection
// wrapper passes CloseWrite through: a handler that hijacks the connection
// can send its last bytes and a FIN, and still read what the client sends
// after it has seen the end of the response. net/http uses the same
// method to end a connection after an error response (431, 400) at once.
func TestHijackedConnectionHalfCloses(t *testing.T) {
	got := make(chan string, 1)
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: custom\r\nConnection: Upgrade\r\n\r\nbye")
		brw.Flush()
		cw, ok := c.(interface{ CloseWrite() error })
		if !ok {
			t.Errorf("hijacked %T has no CloseWrite method", c)
			got <- ""
			return
		}
		if err := cw.CloseWrite(); err != nil {
			t.Errorf("CloseWrite: %v", err)
		}
		c.SetReadDeadline(time.Now().Add(maxWait))
		b, err := io.ReadAll(brw)
		if err != nil {
			t.Errorf("reading after CloseWrite: %v", err)
		}
		got <- string(b)
	}))
	c := ts.Dial(t)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: custom\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	c.SetReadDeadline(time.Now().Add(maxWait)) // a bound: the handler waits for us
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "bye" {
		t.Errorf("after the 101: read %q, %v; want \"bye\" and EOF", rest, err)
	}
	io.WriteString(c, "ping")
	c.(*net.TCPConn).CloseWrite()
	select {
	case s := <-got:
		if s != "ping" {
			t.Errorf("handler read %q after its CloseWrite, want \"ping\"", s)
		}
	case <-time.After(maxWait):
		t.Fatalf("handler still reading after %v", maxWait)
	}
}

// TestNegativeMaxHeaderBytesIsRejected checks that a negative
// MaxHeaderBytes, which cannot mean "no limit" since net/http has no
// unlimited header size, is reported instead of silently limiting headers
// to net/http's 1 MiB.
func TestNegativeMaxHeaderBytesIsRejected(t *testing.T) {
	for _, n := range []int{-1, -1 << 20} {
		_, err := server.New(server.Config{MaxHeaderBytes: n})
		if err == nil || !strings.Contains(err.Error(), "MaxHeaderBytes") {
			t.Errorf("New with MaxHeaderBytes %d: %v; want an error naming MaxHeaderBytes", n, err)
		}
	}
	for _, n := range []int{0, 1, 4 << 20} {
		if _, err := server.New(server.Config{MaxHeaderBytes: n}); err != nil {
			t.Errorf("New with MaxHeaderBytes %d: %v", n, err)
		}
	}
}

// TestServeRefusesTLSListener checks that a TLS listener is refused with
// ErrTLSListener, not served as if it were cleartext (with r.TLS nil and
// its ALPN ignored), and that no request on it reaches the handler.
func TestServeRefusesTLSListener(t *testing.T) {
	certServer := httptest.NewUnstartedServer(nil)
	certServer.StartTLS() // only for its certificate and client
	defer certServer.Close()
	srv, err := server.New(server.Config{
		Logger: slog.New(slog.DiscardHandler),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.Errorf("handler reached over TLS (r.TLS = %v)", r.TLS)
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(inner, certServer.TLS)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	client := certServer.Client()
	resp, err := client.Get("https://" + inner.Addr().String() + "/")
	if err == nil {
		resp.Body.Close()
		t.Errorf("GET over TLS: %s; want the connection refused", resp.Status)
	}
	select {
	case err := <-served:
		if !errors.Is(err, server.ErrTLSListener) {
			t.Errorf("Serve = %v; want ErrTLSListener", err)
		}
	case <-time.After(maxWait):
		t.Fatalf("Serve still serving a TLS listener after %v", maxWait)
	}
	if c, err := inner.Accept(); err == nil {
		c.Close()
		t.Errorf("Serve left the TLS listener open")
	}
}

// TestReadHeaderTimeoutIsOneBudget checks that ReadHeaderTimeout bounds
// the whole time from accept to the end of the first request's header,
// sniffing included, rather than the sniff and net/http's header read
// each getting a budget of their own. The client spends 0.7 of the budget
// on the sniff (a "P" that could begin the HTTP/2 preface) and 0.7 on the
// rest of the header: each part fits, their sum does not. A keep-alive
// request after the first gets a fresh budget.
func TestReadHeaderTimeoutIsOneBudget(t *testing.T) {
	const budget = 500 * time.Millisecond
	for _, prior := range []bool{true, false} {
		t.Run(fmt.Sprintf("sniffing=%v", prior), func(t *testing.T) {
			ts := h2ctest.NewServer(t, describe, func(c *server.Config) {
				c.ReadHeaderTimeout = budget
				c.DisableH2CPrior = !prior
			})
			c := ts.Dial(t)
			c.SetDeadline(time.Now().Add(maxWait))
			for i, part := range []string{"P", "OST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n", "\r\n"} {
				if i > 0 {
					time.Sleep(budget * 7 / 10)
				}
				io.WriteString(c, part)
			}
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				t.Errorf("header sent 1.4 budgets after accept was served: %s", resp.Status)
			}

			// Within the budget, a second request on the connection gets
			// a budget of its own, however long after the first it comes.
			c = ts.Dial(t)
			c.SetDeadline(time.Now().Add(maxWait))
			br := bufio.NewReader(c)
			for i := range 2 {
				if i > 0 {
					time.Sleep(budget * 12 / 10) // idle, not reading a header
				}
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

func TestStatsCountClosedConnections(t *testing.T) {
	h2ctest.Run(t, testStatsCountClosedConnections)
}

// testStatsCountClosedConnections checks that the requests and streams
// counted per connection stay in Stats once their connections are closed.
func testStatsCountClosedConnections(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, describe)
	const n = 3
	for range n {
		c := ts.Client(t, mode)
		resp, err := c.Get(ts.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		h2ctest.ReadBody(t, resp)
		c.CloseIdleConnections()
	}
	deadline := time.Now().Add(maxWait)
	for len(ts.Stats().Open) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // until the server has seen every close
	}
	st := ts.Stats()
	if len(st.Open) > 0 {
		t.Fatalf("connections still open after %v: %v", maxWait, st.Open)
	}
	want := [2]int64{n, 0} // requests, streams
	if mode.IsHTTP2() {
		want = [2]int64{0, n} // an upgrade request is stream 1
	}
	if got := [2]int64{st.Requests, st.Streams}; got != want {
		t.Errorf("after closing: requests %d, streams %d; want %d, %d", got[0], got[1], want[0], want[1])
	}
}
