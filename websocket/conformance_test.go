package websocket_test

// The conformance suite: the groups of the Autobahn testsuite (1 framing,
// 2 ping/pong, 3 reserved bits, 4 opcodes, 5 fragmentation, 6 UTF-8,
// 7 close, 9 large messages, 10 auto-fragmentation, 12/13
// permessage-deflate) as Go tests. A raw client sends hand-built frames to
// molt's echo endpoints and checks, frame by frame, what comes back: the
// echo, the pong, the close code, and the end of the connection. Every case
// runs over HTTP/1.1 (a raw TCP connection and a handshake written byte by
// byte) and over an HTTP/2 stream opened with extended CONNECT, on an
// upgraded and on a prior-knowledge h2c connection. The cases live in
// conformance_cases_test.go; names follow Autobahn's numbering, and cases
// Autobahn does not have are in group "X".

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/websocket"
	"golang.org/x/net/http2"
)

// cfTimeout bounds each case's connection, so that a server that stops
// answering fails the case instead of hanging the suite.
const cfTimeout = 2 * time.Minute

// Opcodes as the wire has them.
const (
	cfCont   byte = 0x0
	cfText   byte = 0x1
	cfBinary byte = 0x2
	cfClose  byte = 0x8
	cfPing   byte = 0x9
	cfPong   byte = 0xA
)

// cfNoCode, as an expected close code, means a close frame with an empty
// payload.
const cfNoCode = -1

// rframeLimit is the read limit of the /small endpoint.
const rframeLimit = 1 << 20

// cfLargeLimit is the read limit of the other endpoints, over the
// largest message of group 9 (16 MiB) and DefaultReadLimit.
const cfLargeLimit = 64 << 20

// cfServer starts a molt server with the suite's endpoints:
//
//	/echo      echoes each message with its type; permessage-deflate
//	           without context takeover
//	/echo-ctx  the same with context takeover
//	/small     /echo with a read limit of rframeLimit (the others
//	           have cfLargeLimit)
//	/frag?n=N  echoes each message through Writer, N bytes per Write
//	           (coalesced into frames of at least WriterFrameSize)
func cfServer(t *testing.T) *h2ctest.Server {
	echo := func(ctx context.Context, c *websocket.Conn) {
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
	frag := func(ctx context.Context, c *websocket.Conn) {
		n, err := strconv.Atoi(c.Request().URL.Query().Get("n"))
		if err != nil || n <= 0 {
			c.Close(websocket.StatusInternalError, "bad n")
			return
		}
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			w, err := c.Writer(ctx, typ)
			if err != nil {
				return
			}
			for len(msg) > 0 {
				k := min(n, len(msg))
				if _, err := w.Write(msg[:k]); err != nil {
					return
				}
				msg = msg[k:]
			}
			if err := w.Close(); err != nil {
				return
			}
		}
	}
	opts := func(comp websocket.Compression, limit int64) websocket.Options {
		return websocket.Options{AllowAnyOrigin: true, Compression: comp, ReadLimit: limit}
	}
	mux := http.NewServeMux()
	mux.Handle("/echo", websocket.Handler(echo, opts(websocket.CompressionNoContextTakeover, cfLargeLimit)))
	mux.Handle("/echo-ctx", websocket.Handler(echo, opts(websocket.CompressionContextTakeover, cfLargeLimit)))
	mux.Handle("/small", websocket.Handler(echo, opts(websocket.CompressionNoContextTakeover, rframeLimit)))
	mux.Handle("/frag", websocket.Handler(frag, opts(websocket.CompressionNoContextTakeover, cfLargeLimit)))
	return h2ctest.NewServer(t, mux)
}

// cfCase is one conformance case.
type cfCase struct {
	id   string
	path string // endpoint; "" means /echo
	// offer is the Sec-WebSocket-Extensions request header, "" for none.
	offer string
	// accept, if not nil, is the exact Sec-WebSocket-Extensions the
	// server must answer ("" for none).
	accept *string
	// chop, if positive, splits every write of the client into writes of
	// at most chop bytes (TCP segments, or HTTP/2 DATA frames).
	chop int
	run  func(c *cfConn)
}

// TestConformance runs every case in every mode.
func TestConformance(t *testing.T) {
	cases := cfCases()
	seen := make(map[string]bool)
	for _, tc := range cases {
		if seen[tc.id] {
			t.Fatalf("duplicate case %s", tc.id)
		}
		seen[tc.id] = true
	}
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		ts := cfServer(t)
		for _, tc := range cases {
			t.Run(tc.id, func(t *testing.T) {
				t.Parallel()
				c := cfDial(t, ts, mode, tc)
				tc.run(c)
				c.finish()
			})
		}
	})
}

// cfConn is the raw client's side of one WebSocket connection. Writes go
// through a goroutine, in order, so that the test reads while it writes and
// neither side can block the other on large messages.
type cfConn struct {
	t          *testing.T
	mode       h2ctest.Mode
	br         *bufio.Reader
	closeWrite func() error
	chop       int

	sendq chan []byte
	wdone chan struct{}
	wmu   sync.Mutex
	werr  error // the first write error

	keySeq    uint32
	sentClose bool
	// serverRole makes this the raw server of the client-side run
	// (conformance_client_test.go): frames go out unmasked and must come
	// in masked.
	serverRole bool
	ended      bool  // the connection's end was read
	endErr     error // over HTTP/2: the reset that ended the stream, nil for END_STREAM

	// permessage-deflate, as the server accepted it.
	deflate     bool
	clientNoCtx bool // we must reset our compressor per message
	serverNoCtx bool // the server resets its compressor per message
	huffman     bool // compress without back-references (client_max_window_bits < 15)
	fw          *flate.Writer
	fbuf        bytes.Buffer
	rdict       []byte // the last 32 KiB the server's messages decompressed to

	frameSizes []int // the payload sizes of the frames of the last message read
}

// cfDial opens a WebSocket connection to tc's endpoint in mode and checks
// the handshake.
func cfDial(t *testing.T, ts *h2ctest.Server, mode h2ctest.Mode, tc cfCase) *cfConn {
	t.Helper()
	path := tc.path
	if path == "" {
		path = "/echo"
	}
	c := &cfConn{t: t, mode: mode, chop: tc.chop, sendq: make(chan []byte, 64), wdone: make(chan struct{}), keySeq: 0x9e3779b9}
	var w io.Writer
	var ext string
	if mode == h2ctest.H1 {
		nc := ts.Dial(t)
		nc.SetDeadline(time.Now().Add(cfTimeout))
		key := base64.StdEncoding.EncodeToString([]byte("molt conformance")) // 16 bytes
		var req strings.Builder
		fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", path, ts.Addr)
		fmt.Fprintf(&req, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
		if tc.offer != "" {
			fmt.Fprintf(&req, "Sec-WebSocket-Extensions: %s\r\n", tc.offer)
		}
		req.WriteString("\r\n")
		if _, err := io.WriteString(nc, req.String()); err != nil {
			t.Fatalf("writing the handshake: %v", err)
		}
		c.br = bufio.NewReaderSize(nc, 64<<10)
		res, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("reading the handshake response: %v", err)
		}
		if res.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("handshake status %d, want 101", res.StatusCode)
		}
		sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		if got, want := res.Header.Get("Sec-WebSocket-Accept"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
			t.Fatalf("Sec-WebSocket-Accept = %q, want %q", got, want)
		}
		ext = strings.Join(res.Header.Values("Sec-WebSocket-Extensions"), ", ")
		w = nc
		c.closeWrite = nc.(*net.TCPConn).CloseWrite
	} else {
		cc := ts.ClientConn(t, mode, h2ctest.ClientOptions{})
		ctx, cancel := context.WithTimeout(context.Background(), cfTimeout)
		t.Cleanup(cancel)
		h := http.Header{"Sec-Websocket-Version": {"13"}}
		if tc.offer != "" {
			h.Set("Sec-Websocket-Extensions", tc.offer)
		}
		s, err := cc.ExtendedConnect(ctx, path, "websocket", h)
		if err != nil {
			t.Fatalf("extended CONNECT: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		if s.Response().StatusCode != http.StatusOK {
			t.Fatalf("extended CONNECT status %d, want 200", s.Response().StatusCode)
		}
		ext = strings.Join(s.Response().Header.Values("Sec-Websocket-Extensions"), ", ")
		c.br = bufio.NewReaderSize(s, 64<<10)
		w = s
		c.closeWrite = s.CloseWrite
	}
	if tc.accept != nil && ext != *tc.accept {
		t.Fatalf("Sec-WebSocket-Extensions = %q, want %q", ext, *tc.accept)
	}
	if tc.offer != "" && ext != "" {
		c.negotiated(ext)
	} else if ext != "" {
		t.Fatalf("Sec-WebSocket-Extensions %q without an offer", ext)
	}
	go c.writeLoop(w)
	t.Cleanup(c.stopWriter)
	return c
}

// negotiated records the permessage-deflate agreement in the server's
// answer ext, and which window the client may use by the offer.
func (c *cfConn) negotiated(ext string) {
	params := strings.Split(ext, ";")
	if strings.TrimSpace(params[0]) != "permessage-deflate" || strings.Contains(ext, ",") {
		c.t.Fatalf("Sec-WebSocket-Extensions = %q, want one permessage-deflate", ext)
	}
	c.deflate = true
	for _, p := range params[1:] {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch name {
		case "server_no_context_takeover":
			c.serverNoCtx = true
		case "client_no_context_takeover":
			c.clientNoCtx = true
		case "client_max_window_bits":
			if n, err := strconv.Atoi(value); err != nil || n < 15 {
				c.huffman = true
			}
		case "server_max_window_bits":
		default:
			c.t.Fatalf("unknown parameter %q in %q", p, ext)
		}
	}
}

// writeLoop writes queued bytes, chopped as asked, until the queue closes.
// After the first error it drops what remains: in cases where the server
// fails the connection, writes may fail.
func (c *cfConn) writeLoop(w io.Writer) {
	defer close(c.wdone)
	failed := false
	for b := range c.sendq {
		if failed {
			continue
		}
		for len(b) > 0 {
			n := len(b)
			if c.chop > 0 {
				n = min(n, c.chop)
			}
			if _, err := w.Write(b[:n]); err != nil {
				c.wmu.Lock()
				c.werr = err
				c.wmu.Unlock()
				failed = true
				break
			}
			b = b[n:]
		}
	}
}

func (c *cfConn) stopWriter() {
	if c.sendq != nil {
		close(c.sendq)
		c.sendq = nil
	}
	<-c.wdone
}

// nextKey returns a masking key that differs from frame to frame.
func (c *cfConn) nextKey() [4]byte {
	c.keySeq = c.keySeq*1664525 + 1013904223
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], c.keySeq)
	return k
}

// cfFrame builds a client frame: fin, the reserved bits rsv (RSV1 = 4,
// RSV2 = 2, RSV3 = 1), the opcode and the payload, masked with key unless
// key is nil.
func cfFrame(fin bool, rsv, op byte, payload []byte, key *[4]byte) []byte {
	b := make([]byte, 0, 14+len(payload))
	b0 := rsv<<4 | op
	if fin {
		b0 |= 0x80
	}
	b = append(b, b0)
	var mask byte
	if key != nil {
		mask = 0x80
	}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, mask|byte(n))
	case n <= 0xFFFF:
		b = append(b, mask|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, mask|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if key == nil {
		return append(b, payload...)
	}
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, payload...)
	for i := range payload {
		b[start+i] ^= key[i&3]
	}
	return b
}

// send queues one masked frame.
func (c *cfConn) send(fin bool, rsv, op byte, payload []byte) {
	if op == cfClose {
		c.sentClose = true
	}
	if c.serverRole {
		c.sendq <- cfFrame(fin, rsv, op, payload, nil)
		return
	}
	k := c.nextKey()
	c.raw(cfFrame(fin, rsv, op, payload, &k))
}

// raw queues bytes as they are; in the server role, a masked frame header
// (and nothing else) loses its mask.
func (c *cfConn) raw(b []byte) {
	if c.serverRole && len(b) >= 2 && b[1]&0x80 != 0 && len(b) == cfHeaderLen(b[1]) {
		b = append([]byte{b[0], b[1] &^ 0x80}, b[2:len(b)-4]...)
	}
	c.sendq <- b
}

// cfHeaderLen is the length of a frame header whose second byte is b1.
func cfHeaderLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// message queues an uncompressed message in one frame.
func (c *cfConn) message(op byte, payload []byte) { c.send(true, 0, op, payload) }

// fragments queues payload as a message of frames of at most size bytes.
func (c *cfConn) fragments(op byte, payload []byte, size int) {
	first := true
	for first || len(payload) > 0 {
		n := min(size, len(payload))
		fop := cfCont
		if first {
			fop = op
		}
		c.send(n == len(payload), 0, fop, payload[:n])
		payload = payload[n:]
		first = false
	}
}

// compressed queues payload as a compressed message (RSV1 on its first
// frame) in frames of at most size bytes of compressed data (0: one frame).
func (c *cfConn) compressed(op byte, payload []byte, size int) {
	if !c.deflate {
		c.t.Fatal("compressed message without permessage-deflate")
	}
	if c.fw == nil || c.clientNoCtx {
		level := flate.BestSpeed
		if c.huffman {
			level = flate.HuffmanOnly
		}
		c.fbuf.Reset()
		fw, err := flate.NewWriter(&c.fbuf, level)
		if err != nil {
			c.t.Fatal(err)
		}
		c.fw = fw
	}
	c.fbuf.Reset()
	c.fw.Write(payload)
	c.fw.Flush()
	data := bytes.Clone(c.fbuf.Bytes())
	if !bytes.HasSuffix(data, []byte{0, 0, 0xff, 0xff}) {
		c.t.Fatalf("flush did not end in 00 00 ff ff")
	}
	data = data[:len(data)-4]
	if size <= 0 {
		size = len(data) + 1
	}
	first := true
	for first || len(data) > 0 {
		n := min(size, len(data))
		fop, rsv := cfCont, byte(0)
		if first {
			fop, rsv = op, 4
		}
		c.send(n == len(data), rsv, fop, data[:n])
		data = data[n:]
		first = false
	}
}

// next reads one frame from the server, failing the test on a malformed
// one: masked, a control frame over 125 bytes or fragmented, an unknown
// opcode, or RSV2/RSV3 set.
func (c *cfConn) next() (rframe, error) {
	var f rframe
	var err error
	if c.serverRole {
		f, err = readMaskedFrame(c.br, 64<<20)
	} else {
		f, err = readFrame(c.br, 64<<20)
	}
	if err != nil {
		if errors.Is(err, errBadServerFrame) {
			c.t.Fatalf("the peer sent a %v", err)
		}
		return f, err
	}
	n := len(f.payload)
	switch {
	case f.op >= 3 && f.op <= 7 || f.op > 0xA:
		c.t.Fatalf("the server sent reserved opcode %d", f.op)
	case f.op >= 8 && (!f.fin || n > 125):
		c.t.Fatalf("the server sent a bad control %v", f)
	case f.rsv&3 != 0:
		c.t.Fatalf("the server set RSV2 or RSV3: %v", f)
	case f.rsv&4 != 0 && (!c.deflate || f.op != cfText && f.op != cfBinary):
		c.t.Fatalf("the server set RSV1 where it may not: %v", f)
	}
	return f, nil
}

// mustNext reads a frame, failing the test if the connection ended.
func (c *cfConn) mustNext(what string) rframe {
	c.t.Helper()
	f, err := c.next()
	if err != nil {
		c.t.Fatalf("waiting for %s: connection ended: %v", what, err)
	}
	return f
}

// readMessage reads the next data message and its frame count. A control
// frame before or inside it fails the test.
func (c *cfConn) readMessage() (op byte, payload []byte, frames int) {
	c.t.Helper()
	f := c.mustNext("a message")
	if f.op != cfText && f.op != cfBinary {
		c.t.Fatalf("got %v (payload %q), want a data message", f, cfShort(f.payload))
	}
	op = f.op
	comp := f.rsv&4 != 0
	payload = f.payload
	frames = 1
	c.frameSizes = append(c.frameSizes[:0], len(f.payload))
	for !f.fin {
		f = c.mustNext("a continuation frame")
		if f.op != cfCont || f.rsv != 0 {
			c.t.Fatalf("got %v inside a message, want a continuation frame", f)
		}
		payload = append(payload, f.payload...)
		c.frameSizes = append(c.frameSizes, len(f.payload))
		frames++
	}
	if comp {
		payload = c.inflate(payload)
	}
	return op, payload, frames
}

// inflate decompresses a message from the server, keeping the window
// across messages unless the server resets it.
func (c *cfConn) inflate(data []byte) []byte {
	c.t.Helper()
	var dict []byte
	if !c.serverNoCtx {
		dict = c.rdict
	}
	tail := []byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff} // the flush marker, then an empty final block
	fr := flate.NewReaderDict(io.MultiReader(bytes.NewReader(data), bytes.NewReader(tail)), dict)
	out, err := io.ReadAll(fr)
	if err != nil {
		c.t.Fatalf("inflating a message of %d bytes: %v", len(data), err)
	}
	if !c.serverNoCtx {
		c.rdict = append(c.rdict, out...)
		if len(c.rdict) > 32<<10 {
			c.rdict = bytes.Clone(c.rdict[len(c.rdict)-32<<10:])
		}
	}
	return out
}

// expectMessage reads the next message and checks its type and payload.
func (c *cfConn) expectMessage(op byte, payload []byte) {
	c.t.Helper()
	gotOp, got, _ := c.readMessage()
	if gotOp != op || !bytes.Equal(got, payload) {
		c.t.Fatalf("got message op=%d len=%d %q, want op=%d len=%d %q", gotOp, len(got), cfShort(got), op, len(payload), cfShort(payload))
	}
}

// expectPong reads the next frame and checks it is a pong with payload.
func (c *cfConn) expectPong(payload []byte) {
	c.t.Helper()
	f := c.mustNext("a pong")
	if f.op != cfPong || !bytes.Equal(f.payload, payload) {
		c.t.Fatalf("got %v %q, want a pong %q", f, cfShort(f.payload), cfShort(payload))
	}
}

// expectClose reads the server's close frame and checks its code
// (cfNoCode: an empty payload), answers it with a close frame of the same
// code unless the client sent one already, ends its side of the
// connection, and expects the server to end the connection with nothing
// more.
func (c *cfConn) expectClose(code int) {
	c.t.Helper()
	f := c.mustNext(fmt.Sprintf("a close frame %d", code))
	if f.op != cfClose {
		c.t.Fatalf("got %v %q, want a close frame %d", f, cfShort(f.payload), code)
	}
	got := cfNoCode
	switch len(f.payload) {
	case 0:
	case 1:
		c.t.Fatalf("the server sent a close frame with a 1-byte payload")
	default:
		got = int(binary.BigEndian.Uint16(f.payload))
		if !utf8.Valid(f.payload[2:]) {
			c.t.Errorf("the server's close reason %q is not UTF-8", f.payload[2:])
		}
	}
	if got != code {
		c.t.Fatalf("close code %d (reason %q), want %d", got, cfReason(f.payload), code)
	}
	if !c.sentClose {
		reply := []byte{}
		if got != cfNoCode {
			reply = binary.BigEndian.AppendUint16(nil, uint16(got))
		}
		c.send(true, 0, cfClose, reply)
	}
	c.expectEnd()
}

// expectEnd ends the client's side and expects the server to end the
// connection (EOF, or a reset over TCP) without sending anything more.
func (c *cfConn) expectEnd() {
	c.t.Helper()
	c.stopWriter()
	if c.closeWrite != nil {
		c.closeWrite()
	}
	f, err := c.next()
	if err == nil {
		c.t.Fatalf("got %v %q after the close, want the end of the connection", f, cfShort(f.payload))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		c.t.Fatalf("the connection ended inside a frame")
	}
	if c.serverRole && c.mode != h2ctest.H1 && err != io.EOF {
		c.endErr = err // the client reset the stream
	} else if c.mode != h2ctest.H1 && err != io.EOF {
		var se http2.StreamError
		if !errors.As(err, &se) {
			c.t.Fatalf("the stream ended with %v, want END_STREAM or RST_STREAM", err)
		}
		// Tolerated here, so that the cases test the WebSocket protocol;
		// a case that holds the server to END_STREAM checks endErr.
		c.endErr = err
	}
	c.ended = true
}

// finish closes the connection cleanly if the case left it open: a close
// 1000, answered with 1000.
func (c *cfConn) finish() {
	c.t.Helper()
	if c.ended || c.t.Failed() {
		return
	}
	if c.sentClose {
		c.t.Fatal("the case sent a close frame but expected no answer")
	}
	c.send(true, 0, cfClose, []byte{0x03, 0xe8})
	c.expectClose(1000)
}

// cfShort shortens a payload for messages.
func cfShort(b []byte) []byte {
	if len(b) > 40 {
		return append(bytes.Clone(b[:40]), "..."...)
	}
	return b
}

func cfReason(p []byte) string {
	if len(p) < 2 {
		return ""
	}
	return string(p[2:])
}

// cfCloseBody returns a close payload: code and reason.
func cfCloseBody(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// cfPattern returns n bytes of deterministic binary data.
func cfPattern(n int, seed uint32) []byte {
	b := make([]byte, n)
	x := seed*2654435761 + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// cfText returns n bytes of valid UTF-8 text, mixing ASCII with two-,
// three- and four-byte characters (cut so that it stays valid), compressible
// like prose.
func cfTextOf(n int) []byte {
	words := []string{"molt ", "κόσμε ", "frame ", "日本語 ", "deflate ", "𝄞 ", "message ", "échange "}
	var b []byte
	x := uint32(7)
	for len(b) < n {
		x = x*1664525 + 1013904223
		w := words[x>>29]
		if len(b)+len(w) > n {
			for len(b) < n {
				b = append(b, 'x')
			}
			break
		}
		b = append(b, w...)
	}
	return b
}
