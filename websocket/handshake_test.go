package websocket_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/websocket"
)

func TestHandshake(t *testing.T) { h2ctest.Run(t, testHandshake) }

func testHandshake(t *testing.T, mode h2ctest.Mode) {
	h1 := mode == h2ctest.H1
	okStatus := http.StatusOK
	if h1 {
		okStatus = http.StatusSwitchingProtocols
	}
	cases := []struct {
		name     string
		hdr      http.Header
		opts     websocket.Options
		want     int
		h1Only   bool
		wantHdr  map[string]string
		wantProt string
	}{
		{name: "plain", want: okStatus},
		{name: "version 8", hdr: http.Header{"Sec-WebSocket-Version": {"8"}}, want: 426, wantHdr: map[string]string{"Sec-WebSocket-Version": "13"}},
		{name: "no version", hdr: http.Header{"Sec-WebSocket-Version": {"\x00"}}, want: 426, wantHdr: map[string]string{"Sec-WebSocket-Version": "13"}},
		{name: "two versions", hdr: http.Header{"Sec-WebSocket-Version": {"13", "13"}}, want: 426},
		{name: "short key", hdr: http.Header{"Sec-WebSocket-Key": {"c2hvcnQ="}}, want: 400, h1Only: true},
		{name: "no key", hdr: http.Header{"Sec-WebSocket-Key": {"\x00"}}, want: 400, h1Only: true},
		{name: "key not base64", hdr: http.Header{"Sec-WebSocket-Key": {"!!!!!!!!!!!!!!!!!!!!!!!!"}}, want: 400, h1Only: true},
		{name: "no upgrade", hdr: http.Header{"Upgrade": {"\x00"}}, want: 426, h1Only: true, wantHdr: map[string]string{"Sec-WebSocket-Version": "13", "Upgrade": "websocket"}},
		{name: "no connection upgrade", hdr: http.Header{"Connection": {"keep-alive"}}, want: 426, h1Only: true},
		{name: "connection token list", hdr: http.Header{"Connection": {"keep-alive, Upgrade"}}, want: okStatus, h1Only: true},
		{name: "same origin", hdr: http.Header{"Origin": {"http://HOST"}}, want: okStatus},
		{name: "cross origin", hdr: http.Header{"Origin": {"http://evil.example"}}, want: 403},
		{name: "null origin", hdr: http.Header{"Origin": {"null"}}, want: 403},
		{name: "origin pattern", hdr: http.Header{"Origin": {"https://app.example.com"}}, opts: websocket.Options{OriginPatterns: []string{"*.example.com"}}, want: okStatus},
		{name: "origin pattern miss", hdr: http.Header{"Origin": {"https://example.org"}}, opts: websocket.Options{OriginPatterns: []string{"*.example.com"}}, want: 403},
		{name: "any origin", hdr: http.Header{"Origin": {"http://evil.example"}}, opts: websocket.Options{AllowAnyOrigin: true}, want: okStatus},
		{name: "check origin refuses", opts: websocket.Options{CheckOrigin: func(*http.Request) bool { return false }}, want: 403},
		{name: "subprotocol by server preference", hdr: http.Header{"Sec-WebSocket-Protocol": {"chat, superchat"}}, opts: websocket.Options{Subprotocols: []string{"superchat", "chat"}}, want: okStatus, wantProt: "superchat"},
		{name: "subprotocol none common", hdr: http.Header{"Sec-WebSocket-Protocol": {"mqtt"}}, opts: websocket.Options{Subprotocols: []string{"chat"}}, want: okStatus, wantProt: ""},
		{name: "deflate offered, disabled", hdr: http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate"}}, want: okStatus, wantHdr: map[string]string{"Sec-WebSocket-Extensions": ""}},
		{name: "deflate", hdr: http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate; client_max_window_bits"}}, opts: websocket.Options{Compression: websocket.CompressionNoContextTakeover}, want: okStatus,
			wantHdr: map[string]string{"Sec-WebSocket-Extensions": "permessage-deflate; server_no_context_takeover; client_no_context_takeover"}},
		{name: "middleware header kept", hdr: http.Header{}, want: okStatus, wantHdr: map[string]string{"X-Test": "kept"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.h1Only && !h1 {
				t.Skip("HTTP/1.1 only")
			}
			got := make(chan string, 1)
			ws := websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
				got <- c.Subprotocol()
			}, tc.opts)
			ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Test", "kept")
				ws.ServeHTTP(w, r)
			}))
			hdr := http.Header{}
			for k, v := range tc.hdr {
				if v[0] == "http://HOST" {
					v = []string{"http://" + ts.Addr}
				}
				hdr[k] = v
			}
			c := dialWS(t, ts, mode, "/", hdr)
			if c.status != tc.want {
				t.Fatalf("status %d, want %d", c.status, tc.want)
			}
			for k, v := range tc.wantHdr {
				if g := c.header.Get(k); g != v {
					t.Errorf("%s: %q, want %q", k, g, v)
				}
			}
			if tc.want != okStatus {
				return
			}
			if h1 {
				if a := c.header.Get("Sec-WebSocket-Accept"); a == "" {
					t.Error("no Sec-WebSocket-Accept")
				}
			} else if c.header.Get("Sec-WebSocket-Accept") != "" {
				t.Error("Sec-WebSocket-Accept over HTTP/2")
			}
			if p := <-got; p != tc.wantProt || c.header.Get("Sec-WebSocket-Protocol") != tc.wantProt {
				t.Errorf("subprotocol %q, header %q, want %q", p, c.header.Get("Sec-WebSocket-Protocol"), tc.wantProt)
			}
		})
	}
}

// TestAcceptKey checks the example of RFC 6455, section 1.3.
func TestAcceptKey(t *testing.T) {
	ts := h2ctest.NewServer(t, websocket.Handler(func(context.Context, *websocket.Conn) {}, websocket.Options{}))
	c := dialWS(t, ts, h2ctest.H1, "/", http.Header{"Sec-WebSocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}})
	if got := c.header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("Sec-WebSocket-Accept %q", got)
	}
}

// TestNotWebSocket checks a plain request gets 426 in every mode.
func TestNotWebSocket(t *testing.T) { h2ctest.Run(t, testNotWebSocket) }

func testNotWebSocket(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, websocket.Handler(func(context.Context, *websocket.Conn) { t.Error("accepted") }, websocket.Options{}))
	resp, err := ts.Client(t, mode).Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	h2ctest.ReadBody(t, resp)
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Sec-WebSocket-Version") != "13" {
		t.Fatalf("status %d, Sec-WebSocket-Version %q", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Version"))
	}
}

// TestFramesWithHandshake checks frames sent in the same packet as the
// handshake, buffered by net/http before the hijack, are read.
func TestFramesWithHandshake(t *testing.T) {
	ts := h2ctest.NewServer(t, echoHandler(websocket.Options{}, nil))
	nc := ts.Dial(t)
	req := "GET / HTTP/1.1\r\nHost: " + ts.Addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	msg := append([]byte(req), frame(true, 0, 1, []byte("early"), testKey)...)
	msg = append(msg, frame(true, 0, 2, []byte("bird"), testKey)...)
	if _, err := nc.Write(msg); err != nil {
		t.Fatal(err)
	}
	c := &wsClient{t: t, nc: nc, w: nc, br: bufio.NewReader(nc)}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	for _, want := range []string{"early", "bird"} {
		if _, got, _ := c.message(); string(got) != want {
			t.Fatalf("echo %q, want %q", got, want)
		}
	}
}

// TestHandshakeWithBody sends an HTTP/1.1 handshake that carries a body,
// by Content-Length or chunked. An opening handshake is a GET without
// one (RFC 6455, section 4.1), and after the hijack the body's bytes
// would be read as WebSocket frames, past whatever limited or inspected
// the body (BodyLimit, a proxy): Accept must refuse it with 400.
func TestHandshakeWithBody(t *testing.T) {
	smuggled := frame(true, 0, 1, []byte("smuggled"), testKey)
	for _, tc := range []struct {
		name string
		hdr  string
		body string
	}{
		{"content-length", "Content-Length: " + strconv.Itoa(len(smuggled)) + "\r\n", string(smuggled)},
		{"chunked", "Transfer-Encoding: chunked\r\n", strconv.FormatInt(int64(len(smuggled)), 16) + "\r\n" + string(smuggled) + "\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			accepted := make(chan error, 1)
			ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := websocket.Accept(w, r, nil)
				if err == nil {
					c.Read(r.Context()) // what the body smuggled
					c.CloseNow()
				}
				accepted <- err
			}))
			nc := ts.Dial(t)
			nc.SetDeadline(time.Now().Add(time.Minute))
			req := "GET / HTTP/1.1\r\nHost: " + ts.Addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + tc.hdr + "\r\n" + tc.body
			if _, err := io.WriteString(nc, req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				t.Fatalf("reading the response: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", resp.StatusCode)
			}
			var he *websocket.HandshakeError
			if err := <-accepted; !errors.As(err, &he) || he.Status != http.StatusBadRequest {
				t.Errorf("Accept: %v, want a *HandshakeError with status 400", err)
			}
		})
	}
}
