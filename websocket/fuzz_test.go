package websocket_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/molt-http/molt/websocket"
)

// fuzzHang is how long one input may take before the fuzz target calls it
// a hang; healthy inputs take microseconds.
const fuzzHang = 10 * time.Second

// fuzzListener is a net.Listener whose connections are handed to it by
// the test.
type fuzzListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *fuzzListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *fuzzListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *fuzzListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }

// fuzzConn is the server's side of an in-memory connection. It reads the
// client's handshake, then nothing until the server has written its answer
// (so net/http's background read does not see the end of the input and
// cancel the request), then the client's frames, then io.EOF: the client
// has finished sending, like a TCP half-close. Its writes go to a pipe the
// client reads.
type fuzzConn struct {
	net.Conn // the server's end of a net.Pipe: writes, write deadlines

	mu       sync.Mutex
	cond     *sync.Cond
	hs, data *bytes.Reader
	answered bool // the server wrote: the frames may be read
	expired  bool // a read deadline in the past is set
	closed   bool
}

func newFuzzConn(c net.Conn, handshake, data []byte) *fuzzConn {
	fc := &fuzzConn{Conn: c, hs: bytes.NewReader(handshake), data: bytes.NewReader(data)}
	fc.cond = sync.NewCond(&fc.mu)
	return fc
}

func (c *fuzzConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hs.Len() > 0 {
		return c.hs.Read(p)
	}
	for !c.answered && !c.expired && !c.closed {
		c.cond.Wait()
	}
	switch {
	case c.closed:
		return 0, net.ErrClosed
	case !c.answered:
		return 0, os.ErrDeadlineExceeded
	}
	return c.data.Read(p)
}

func (c *fuzzConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.answered = true
	c.cond.Broadcast()
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *fuzzConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.expired = !t.IsZero() && !t.After(time.Now())
	c.cond.Broadcast()
	c.mu.Unlock()
	return nil
}

func (c *fuzzConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *fuzzConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	return c.Conn.Close()
}

// fuzzServer serves h over in-memory connections with net/http's server.
type fuzzServer struct {
	ln *fuzzListener
}

func newFuzzServer(tb testing.TB, h http.Handler) *fuzzServer {
	ln := &fuzzListener{conns: make(chan net.Conn), done: make(chan struct{})}
	srv := &http.Server{Handler: h, ErrorLog: nil}
	served := make(chan struct{})
	go func() {
		srv.Serve(ln)
		close(served)
	}()
	tb.Cleanup(func() {
		srv.Close()
		<-served
	})
	return &fuzzServer{ln: ln}
}

// exchange sends the handshake and then data as everything the client
// ever sends, and returns all the server sent until it closed the
// connection.
func (s *fuzzServer) exchange(t *testing.T, handshake, data []byte) []byte {
	client, server := net.Pipe()
	defer client.Close()
	s.ln.conns <- newFuzzConn(server, handshake, data)
	out := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(client)
		out <- b
	}()
	select {
	case b := <-out:
		return b
	case <-time.After(fuzzHang):
		client.Close()
		<-out
		t.Fatalf("the server neither finished nor closed the connection for input %q", data)
		return nil
	}
}

const fuzzKey = "dGhlIHNhbXBsZSBub25jZQ=="

// fuzzHandshake is the opening handshake every FuzzFrameParser input
// follows.
func fuzzHandshake(deflate bool) string {
	s := "GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + fuzzKey + "\r\nSec-WebSocket-Version: 13\r\n"
	if deflate {
		s += "Sec-WebSocket-Extensions: permessage-deflate\r\n"
	}
	return s + "\r\n"
}

func fuzzEcho(ctx context.Context, c *websocket.Conn) {
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// fuzzSendable reports whether a server may send code in a close frame.
func fuzzSendable(code int) bool {
	return code >= 1000 && code <= 1003 || code >= 1007 && code <= 1014 || code >= 3000 && code <= 4999
}

// FuzzFrameParser feeds arbitrary bytes, after a valid handshake, to the
// echo server as the client's frames. The server must not panic or hang,
// must end the connection once the input ends, and everything it sends
// must be well-formed frames: unmasked, control frames short and whole,
// RSV1 only on compressed data messages, at most one close frame, last,
// with a code a server may send and a UTF-8 reason.
func FuzzFrameParser(f *testing.F) {
	mask := func(fin bool, rsv, op byte, payload []byte) []byte {
		return cfFrame(fin, rsv, op, payload, &[4]byte{1, 2, 3, 4})
	}
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	seeds := [][]byte{
		nil,
		mask(true, 0, cfText, []byte("hello")),
		cat(mask(true, 0, cfPing, []byte("p")), mask(true, 0, cfClose, cfCloseBody(1000, "bye"))),
		cat(mask(false, 0, cfText, []byte("frag")), mask(true, 0, cfPing, nil), mask(true, 0, cfCont, []byte("ment"))),
		mask(true, 0, cfText, []byte("\xed\xa0\x80")),
		mask(true, 4, cfText, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), // "Hello" deflated
		mask(true, 0, 3, nil),
		cfFrame(true, 0, cfBinary, []byte("unmasked"), nil),
		{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4},
		{0x81, 0xfe, 0x01},
		mask(true, 0, cfClose, []byte{0x03}),
		mask(true, 0, cfBinary, make([]byte, 300)),
	}
	for _, s := range seeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	srv := newFuzzServer(f, websocket.Handler(fuzzEcho, websocket.Options{
		Compression: websocket.CompressionNoContextTakeover,
		ReadLimit:   1 << 16,
	}))
	f.Fuzz(func(t *testing.T, data []byte, deflate bool) {
		hs := fuzzHandshake(deflate)
		out := srv.exchange(t, []byte(hs), data)
		br := bufio.NewReader(bytes.NewReader(out))
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the handshake response: %v", err)
		}
		if res.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("handshake status %d", res.StatusCode)
		}
		compressed := res.Header.Get("Sec-WebSocket-Extensions") != ""
		sawClose := false
		for {
			var h [2]byte
			if _, err := io.ReadFull(br, h[:]); err == io.EOF {
				return
			} else if err != nil {
				t.Fatalf("a truncated frame header: %v", err)
			}
			if sawClose {
				t.Fatalf("a frame after the close frame")
			}
			fin, rsv, op := h[0]&0x80 != 0, h[0]>>4&7, h[0]&0xF
			if h[1]&0x80 != 0 {
				t.Fatalf("a masked frame from the server")
			}
			n := uint64(h[1] & 0x7F)
			switch n {
			case 126:
				var b [2]byte
				if _, err := io.ReadFull(br, b[:]); err != nil {
					t.Fatal(err)
				}
				n = uint64(binary.BigEndian.Uint16(b[:]))
			case 127:
				var b [8]byte
				if _, err := io.ReadFull(br, b[:]); err != nil {
					t.Fatal(err)
				}
				n = binary.BigEndian.Uint64(b[:])
			}
			if n > uint64(len(out)) {
				t.Fatalf("a frame length of %d", n)
			}
			payload := make([]byte, n)
			if _, err := io.ReadFull(br, payload); err != nil {
				t.Fatalf("a truncated frame: %v", err)
			}
			switch {
			case op >= 3 && op <= 7 || op > 0xA:
				t.Fatalf("reserved opcode %d", op)
			case op >= 8 && (!fin || n > 125):
				t.Fatalf("a control frame op=%d fin=%v len=%d", op, fin, n)
			case rsv&3 != 0, rsv&4 != 0 && (!compressed || op != cfText && op != cfBinary):
				t.Fatalf("reserved bits %d on op=%d (compressed=%v)", rsv, op, compressed)
			case op == cfText && rsv == 0 && fin && !utf8.Valid(payload):
				t.Fatalf("an echoed text message that is not UTF-8: %q", payload)
			case op == cfClose:
				sawClose = true
				if n == 1 {
					t.Fatalf("a close frame with a 1-byte payload")
				}
				if n >= 2 {
					if code := int(binary.BigEndian.Uint16(payload)); !fuzzSendable(code) {
						t.Fatalf("close code %d", code)
					}
					if !utf8.Valid(payload[2:]) {
						t.Fatalf("a close reason that is not UTF-8: %q", payload[2:])
					}
				}
			}
		}
	})
}

// FuzzHandshake sends handshakes with arbitrary header values. Over
// HTTP/1.1 the answer must be 101 (with the right Sec-WebSocket-Accept, and
// a subprotocol and extension only from the offers), 400, 403 or 426 (with
// Sec-WebSocket-Version: 13); over HTTP/2 (an extended CONNECT given to
// Accept directly) 200, 400, 403 or 426, and Accept's error must agree.
func FuzzHandshake(f *testing.F) {
	f.Add("GET", "websocket", "Upgrade", "13", fuzzKey, "", "chat", "permessage-deflate", false)
	f.Add("GET", "websocket", "keep-alive, Upgrade", "13", fuzzKey, "http://example.com", "superchat, chat", "", false)
	f.Add("GET", "WebSocket", "upgrade", "8", fuzzKey, "", "", "", false)
	f.Add("GET", "websocket", "Upgrade", "13", "short", "", "", "", false)
	f.Add("GET", "h2c", "Upgrade", "13", fuzzKey, "", "", "", false)
	f.Add("POST", "websocket", "Upgrade", "13", fuzzKey, "http://evil.example", "", "", false)
	f.Add("CONNECT", "websocket", "", "13", "", "", "chat", "permessage-deflate; server_max_window_bits=10", true)
	f.Add("CONNECT", "websocket", "", "12", "", "http://evil.example", "", "", true)
	f.Add("CONNECT", "", "", "13", "", "", "", "", true)
	opts := websocket.Options{
		Subprotocols: []string{"chat", "superchat"},
		Compression:  websocket.CompressionNoContextTakeover,
	}
	srv := newFuzzServer(f, websocket.Handler(fuzzEcho, opts))
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == 0 {
				return -1
			}
			return r
		}, s)
	}
	f.Fuzz(func(t *testing.T, method, upgrade, connection, version, key, origin, protocol, extensions string, h2 bool) {
		offered := func(s string) []string {
			var out []string
			for p := range strings.SplitSeq(s, ",") {
				out = append(out, strings.TrimSpace(p))
			}
			return out
		}
		if h2 {
			fuzzHandshakeH2(t, opts, method, upgrade, version, origin, protocol, extensions)
			return
		}
		if method == "" || strings.ContainsAny(method, " \t\r\n\x00") || !utf8.ValidString(method) {
			method = "GET"
		}
		var req strings.Builder
		req.WriteString(method + " /ws HTTP/1.1\r\nHost: example.com\r\n")
		for _, h := range [][2]string{
			{"Upgrade", upgrade}, {"Connection", connection}, {"Sec-WebSocket-Version", version},
			{"Sec-WebSocket-Key", key}, {"Origin", origin}, {"Sec-WebSocket-Protocol", protocol},
			{"Sec-WebSocket-Extensions", extensions},
		} {
			if v := clean(h[1]); v != "" {
				req.WriteString(h[0] + ": " + v + "\r\n")
			}
		}
		req.WriteString("\r\n")
		out := srv.exchange(t, []byte(req.String()), nil)
		res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
		if err != nil {
			t.Fatalf("reading the response: %v (%q)", err, out)
		}
		switch res.StatusCode {
		case http.StatusSwitchingProtocols:
			sum := sha1.Sum([]byte(clean(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
			if got := res.Header.Get("Sec-WebSocket-Accept"); got != base64.StdEncoding.EncodeToString(sum[:]) {
				t.Fatalf("Sec-WebSocket-Accept %q for key %q", got, clean(key))
			}
			if p := res.Header.Get("Sec-WebSocket-Protocol"); p != "" && (!slices.Contains(opts.Subprotocols, p) || !slices.Contains(offered(clean(protocol)), p)) {
				t.Fatalf("subprotocol %q chosen from offer %q", p, protocol)
			}
			if e := res.Header.Get("Sec-WebSocket-Extensions"); e != "" && !strings.HasPrefix(e, "permessage-deflate") {
				t.Fatalf("extension %q", e)
			}
		case http.StatusUpgradeRequired:
			if v := res.Header.Get("Sec-WebSocket-Version"); v != "13" {
				t.Fatalf("426 with Sec-WebSocket-Version %q", v)
			}
		case http.StatusBadRequest, http.StatusForbidden:
		default:
			t.Fatalf("status %d", res.StatusCode)
		}
	})
}

// fuzzHandshakeH2 gives Accept an HTTP/2 extended CONNECT with the values
// as its :protocol and headers, and checks its answer.
func fuzzHandshakeH2(t *testing.T, opts websocket.Options, method, protocol, version, origin, subprotocol, extensions string) {
	r := httptest.NewRequest(http.MethodConnect, "http://example.com/ws", http.NoBody)
	if method != "" && !strings.ContainsAny(method, " \t\r\n\x00") {
		r.Method = method
	}
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.Header = http.Header{}
	for k, v := range map[string]string{
		":protocol": protocol, "Sec-Websocket-Version": version, "Origin": origin,
		"Sec-Websocket-Protocol": subprotocol, "Sec-Websocket-Extensions": extensions,
	} {
		if v != "" {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	c, err := websocket.Accept(w, r, &opts)
	if err == nil {
		c.CloseNow()
		if w.Code != http.StatusOK {
			t.Fatalf("Accept succeeded with status %d", w.Code)
		}
		return
	}
	var he *websocket.HandshakeError
	if !errors.As(err, &he) {
		t.Fatalf("Accept: %v, want a *HandshakeError", err)
	}
	switch w.Code {
	case http.StatusBadRequest, http.StatusForbidden:
	case http.StatusUpgradeRequired:
		if v := w.Header().Get("Sec-WebSocket-Version"); v != "13" {
			t.Fatalf("426 with Sec-WebSocket-Version %q", v)
		}
	default:
		t.Fatalf("Accept failed (%v) with status %d", err, w.Code)
	}
}
