package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/server"
)

// describe answers with how the request arrived and what it looked like.
var describe = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %s upgrade=%q body=%d", server.ProtocolOf(r), r.Proto, r.Method, r.Header.Get("Upgrade"), len(body))
})

// rawRoundTrip writes req on a new connection and reads one response.
func rawRoundTrip(t *testing.T, ts *h2ctest.Server, req string) (*http.Response, string) {
	t.Helper()
	c := ts.Dial(t)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return resp, string(h2ctest.ReadBody(t, resp))
}

func TestShortHTTP10RequestIsNotHeldForThePreface(t *testing.T) {
	// With an hour to show the preface, a server that waited for 24 bytes
	// would never answer this 18-byte request within the test's deadline.
	ts := h2ctest.NewServer(t, describe, func(c *server.Config) { c.ReadHeaderTimeout = time.Hour })
	resp, body := rawRoundTrip(t, ts, "GET / HTTP/1.0\r\n\r\n")
	if resp.StatusCode != 200 || resp.Proto != "HTTP/1.0" || !strings.HasPrefix(body, "h1 HTTP/1.0 GET") {
		t.Errorf("got %s %q", resp.Status, body)
	}
}

func TestStalledConnectionIsClosedAfterReadHeaderTimeout(t *testing.T) {
	ts := h2ctest.NewServer(t, describe, func(c *server.Config) { c.ReadHeaderTimeout = 50 * time.Millisecond })
	for _, prefix := range []string{"", "PRI", "PRI * HTTP/2.0\r\n\r\nSM\r\n"} {
		c := ts.Dial(t)
		io.WriteString(c, prefix)
		n, err := c.Read(make([]byte, 1))
		if n != 0 || !errors.Is(err, io.EOF) {
			t.Errorf("after %q and a stall: read %d bytes, %v; want the server to close the connection", prefix, n, err)
		}
	}
	if got := ts.Stats().SniffFailures; got != 3 {
		t.Errorf("SniffFailures = %d, want 3", got)
	}
}

const validSettings = "AAMAAABkAAQCAAAAAAIAAAAA" // what curl sends

func TestUpgradeDeclinedRequestsAreServedOverHTTP1(t *testing.T) {
	tests := []struct {
		name, req string
		proto     string
		reason    server.DeclineReason
	}{
		{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: " + validSettings + "\r\n\r\n", "HTTP/1.0", server.DeclineHTTP10},
		{"no Connection tokens", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nHTTP2-Settings: " + validSettings + "\r\n\r\n", "HTTP/1.1", server.DeclineConnection},
		{"Connection without HTTP2-Settings", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: " + validSettings + "\r\n\r\n", "HTTP/1.1", server.DeclineConnection},
		{"missing HTTP2-Settings", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n", "HTTP/1.1", server.DeclineSettingsMissing},
		{"duplicate HTTP2-Settings", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: " + validSettings + "\r\nHTTP2-Settings: " + validSettings + "\r\n\r\n", "HTTP/1.1", server.DeclineSettingsDuplicate},
		{"invalid base64", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: !!!!\r\n\r\n", "HTTP/1.1", server.DeclineSettingsEncoding},
		{"partial setting", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAAA\r\n\r\n", "HTTP/1.1", server.DeclineSettingsLength},
		{"ENABLE_PUSH=2", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAIAAAAC\r\n\r\n", "HTTP/1.1", server.DeclineSettingsValue},
		{"MAX_FRAME_SIZE too small", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAUAAAAB\r\n\r\n", "HTTP/1.1", server.DeclineSettingsValue},
		{"body over the limit", "POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: " + validSettings + "\r\nContent-Length: 11\r\n\r\nhello world", "HTTP/1.1", server.DeclineBodyTooLarge},
		{"chunked body over the limit", "POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: " + validSettings + "\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n", "HTTP/1.1", server.DeclineBodyTooLarge},
		{"malformed chunked body", "POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: " + validSettings + "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1", server.DeclineBodyError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := h2ctest.NewServer(t, describe, func(c *server.Config) { c.MaxUpgradeBodyBytes = 8 })
			resp, body := rawRoundTrip(t, ts, tt.req)
			if resp.StatusCode != 200 || resp.Proto != tt.proto {
				t.Fatalf("got %s %s %q, want 200 over %s", resp.Proto, resp.Status, body, tt.proto)
			}
			if !strings.HasPrefix(body, "h1 "+tt.proto) || !strings.Contains(body, `upgrade="h2c"`) {
				t.Errorf("handler saw %q, want the HTTP/1.x request with its Upgrade header", body)
			}
			if strings.Contains(tt.req, "hello") && tt.reason == server.DeclineBodyTooLarge && !strings.HasSuffix(body, "body=11") {
				t.Errorf("handler saw %q, want the whole 11-byte body replayed", body)
			}
			st := ts.Stats()
			if st.Declined[tt.reason] != 1 || st.Upgrades != 0 {
				t.Errorf("stats: declined %v, upgrades %d; want one decline for %q", st.Declined, st.Upgrades, tt.reason)
			}
		})
	}
}

func TestWebSocketUpgradeBelongsToTheHandler(t *testing.T) {
	ts := h2ctest.NewServer(t, describe)
	resp, body := rawRoundTrip(t, ts, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: websocket, h2c\r\nHTTP2-Settings: "+validSettings+"\r\n\r\n")
	if resp.StatusCode != 200 || body != `h1 HTTP/1.1 GET upgrade="websocket, h2c" body=0` {
		t.Errorf("got %s %q; want the handler to see the request untouched", resp.Status, body)
	}
	if st := ts.Stats(); st.Upgrades != 0 {
		t.Errorf("Upgrades = %d, want 0", st.Upgrades)
	}
}

func TestDisabledHTTP2Paths(t *testing.T) {
	upgrade := "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: " + validSettings + "\r\n\r\n"
	preface := "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	tests := []struct {
		name               string
		configure          func(*server.Config)
		upgradeOK, priorOK bool
	}{
		{"default", func(*server.Config) {}, true, true},
		{"DisableH2CUpgrade", func(c *server.Config) { c.DisableH2CUpgrade = true }, false, true},
		{"DisableH2CPrior", func(c *server.Config) { c.DisableH2CPrior = true }, true, false},
		{"DisableHTTP2", func(c *server.Config) { c.DisableHTTP2 = true }, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := h2ctest.NewServer(t, describe, tt.configure)
			resp, _ := rawRoundTrip(t, ts, upgrade)
			if got := resp.StatusCode == http.StatusSwitchingProtocols; got != tt.upgradeOK {
				t.Errorf("upgrade answered %s, want upgraded=%v", resp.Status, tt.upgradeOK)
			}
			c := ts.Dial(t)
			io.WriteString(c, preface)
			head := make([]byte, 9)
			if _, err := io.ReadFull(c, head); err != nil {
				t.Fatalf("reading answer to the preface: %v", err)
			}
			// An HTTP/2 server answers with a SETTINGS frame (type 4);
			// net/http's HTTP/1.1 server with a 505 status line.
			if got := head[3] == 4 && !strings.HasPrefix(string(head), "HTTP/"); got != tt.priorOK {
				t.Errorf("preface answered with %q, want HTTP/2=%v", head, tt.priorOK)
			}
		})
	}
}

func TestInformationalNotSentToHTTP10(t *testing.T) {
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := server.EarlyHints(w, r, "</a.css>; rel=preload; as=style"); err != nil {
			t.Errorf("EarlyHints: %v", err)
		}
		if err := server.Processing(w, r); err != nil {
			t.Errorf("Processing: %v", err)
		}
		io.WriteString(w, "done")
	}))
	c := ts.Dial(t)
	io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	raw, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), "HTTP/1.0 200 OK\r\n") || strings.Contains(string(raw), "Link:") {
		t.Errorf("HTTP/1.0 response:\n%s\nwant a bare 200 without 1xx", raw)
	}
}

func TestWriteInformationalRejectsNon1xx(t *testing.T) {
	r, _ := http.NewRequest("GET", "/", nil)
	for _, code := range []int{99, 101, 200, 404} {
		if err := server.WriteInformational(nil, r, code, nil); !errors.Is(err, server.ErrNotInformational) {
			t.Errorf("WriteInformational(%d) = %v, want ErrNotInformational", code, err)
		}
	}
}

func TestShutdownRunsHooksAndWaitsForHijackedConnections(t *testing.T) {
	hijacked := make(chan struct{})
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		var unregister func()
		unregister = server.FromRequest(r).RegisterOnShutdown(func() {
			defer unregister()
			brw.WriteString("going away\n")
			brw.Flush()
			c.Close()
		})
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: custom\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		close(hijacked)
	}))
	c := ts.Dial(t)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: custom\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	<-hijacked
	if st := ts.Stats(); st.Hijacked != 1 || st.Open[server.H1] != 1 {
		t.Errorf("stats after hijack: hijacked %d, open %v", st.Hijacked, st.Open)
	}
	if err := ts.Shutdown(h2ctest.ShutdownContext(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	rest, _ := io.ReadAll(br)
	if string(rest) != "going away\n" {
		t.Errorf("hijacked connection got %q before closing, want the hook's goodbye", rest)
	}
	if err := ts.Served(); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
}

func TestShutdownClosesWhatOutlivesItsContext(t *testing.T) {
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).Hijack() // and never let go
	}))
	c := ts.Dial(t)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	for ts.Stats().Hijacked == 0 {
		time.Sleep(time.Millisecond) // until the handler has run; bounded by the test timeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want context.Canceled", err)
	}
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read after forced shutdown: %d, %v; want EOF", n, err)
	}
	if open := ts.Stats().Open; len(open) != 0 {
		t.Errorf("open connections after Shutdown: %v", open)
	}
}

func TestConnStateHook(t *testing.T) {
	var mu sync.Mutex
	var events []string
	closed := make(chan struct{}, 1)
	ts := h2ctest.NewServer(t, describe, func(c *server.Config) {
		c.ConnState = func(_ net.Conn, p server.Protocol, s server.ConnState) {
			mu.Lock()
			events = append(events, fmt.Sprintf("%s/%s", p, s))
			mu.Unlock()
			if s == server.StateClosed {
				closed <- struct{}{}
			}
		}
	})
	tests := []struct {
		name string
		run  func(t *testing.T)
		want []string
	}{
		{"h1", func(t *testing.T) {
			rawRoundTrip(t, ts, "GET / HTTP/1.0\r\n\r\n")
		}, []string{"/new", "h1/new", "h1/active", "h1/closed"}},
		{"h2c-prior", func(t *testing.T) {
			cc, err := h2ctest.NewClientConn(ts.Dial(t), h2ctest.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := cc.RoundTrip(mustRequest(t, "GET", ts.URL+"/"))
			if err != nil {
				t.Fatal(err)
			}
			h2ctest.ReadBody(t, resp)
			cc.Close()
		}, []string{"/new", "h2c-prior/http2", "h2c-prior/closed"}},
		{"h2c-upgrade", func(t *testing.T) {
			res, err := h2ctest.Upgrade(ts.Dial(t), mustRequest(t, "GET", ts.URL+"/"), h2ctest.ClientOptions{})
			if err != nil || res.Conn == nil {
				t.Fatalf("upgrade: %v", err)
			}
			h2ctest.ReadBody(t, res.Response)
			res.Conn.Close()
		}, []string{"/new", "h1/new", "h1/active", "h2c-upgrade/http2", "h2c-upgrade/closed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			events = nil
			mu.Unlock()
			tt.run(t)
			<-closed
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(events, tt.want) {
				t.Errorf("states %v, want %v", events, tt.want)
			}
		})
	}
}

// TestPipelinedRequestsInOneWrite sends two HTTP/1.1 requests in a single
// write, so the bytes read while sniffing hold more than the decision
// needs: all of them must reach net/http. (On HTTP/2, Go's client sends
// its preface and first frames in one write in every h2c-prior test.)
func TestPipelinedRequestsInOneWrite(t *testing.T) {
	ts := h2ctest.NewServer(t, describe)
	c := ts.Dial(t)
	io.WriteString(c, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []string{`h1 HTTP/1.1 POST upgrade="" body=3`, `h1 HTTP/1.1 GET upgrade="" body=0`} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(h2ctest.ReadBody(t, resp)); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
