package websocket_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
)

// wsClient is a raw WebSocket client for these tests: it sends frames as
// given (masked unless told otherwise) and reads frames as they come, over
// an HTTP/1.1 connection or an HTTP/2 stream opened with extended CONNECT.
type wsClient struct {
	t      testing.TB
	w      io.Writer
	br     *bufio.Reader
	nc     net.Conn // over HTTP/1.1
	status int
	header http.Header
}

// dialWS opens a WebSocket to ts at path in mode with the extra request
// header fields in hdr. It returns the client whatever the status; the
// caller checks c.status (101 or 200 on success).
func dialWS(t testing.TB, ts *h2ctest.Server, mode h2ctest.Mode, path string, hdr http.Header) *wsClient {
	t.Helper()
	c := &wsClient{t: t}
	if mode == h2ctest.H1 {
		nc := ts.Dial(t)
		c.nc = nc
		key := make([]byte, 16)
		rand.Read(key)
		var b strings.Builder
		fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, ts.Addr)
		req := http.Header{
			"Upgrade":               {"websocket"},
			"Connection":            {"Upgrade"},
			"Sec-WebSocket-Version": {"13"},
			"Sec-WebSocket-Key":     {base64.StdEncoding.EncodeToString(key)},
		}
		for k, v := range hdr {
			req[k] = v
		}
		for k, vs := range req {
			for _, v := range vs {
				if v != "\x00" { // "\x00" deletes a default field
					fmt.Fprintf(&b, "%s: %s\r\n", k, v)
				}
			}
		}
		b.WriteString("\r\n")
		if _, err := io.WriteString(nc, b.String()); err != nil {
			t.Fatalf("writing handshake: %v", err)
		}
		c.br = bufio.NewReader(nc)
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("reading handshake response: %v", err)
		}
		c.status, c.header = resp.StatusCode, resp.Header
		if resp.StatusCode != http.StatusSwitchingProtocols {
			resp.Body.Close()
		}
		c.w = nc
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	req := http.Header{"Sec-Websocket-Version": {"13"}}
	for k, v := range hdr {
		req[http.CanonicalHeaderKey(k)] = v
	}
	for k, vs := range req {
		if slices.Contains(vs, "\x00") { // "\x00" deletes a default field
			delete(req, k)
		}
	}
	s, err := ts.ClientConn(t, mode, h2ctest.ClientOptions{}).ExtendedConnect(ctx, path, "websocket", req)
	if err != nil {
		t.Fatalf("extended CONNECT: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	c.status, c.header = s.Response().StatusCode, s.Response().Header
	c.br = bufio.NewReader(s)
	c.w = s
	return c
}

// frame builds one frame; a nil key sends it unmasked.
func frame(fin bool, rsv, op byte, payload []byte, key []byte) []byte {
	b0 := op | rsv<<4
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	var mask byte
	if key != nil {
		mask = 0x80
	}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, mask|byte(n))
	case n <= 0xFFFF:
		out = append(out, mask|126, byte(n>>8), byte(n))
	default:
		out = append(out, mask|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if key == nil {
		return append(out, payload...)
	}
	out = append(out, key...)
	for i, b := range payload {
		out = append(out, b^key[i%4])
	}
	return out
}

var testKey = []byte{0x12, 0x34, 0x56, 0x78}

// send writes a masked frame; rsv holds RSV1-3 as bits 2-0.
func (c *wsClient) send(fin bool, rsv, op byte, payload []byte) {
	c.t.Helper()
	c.raw(frame(fin, rsv, op, payload, testKey))
}

func (c *wsClient) raw(b []byte) {
	c.t.Helper()
	if _, err := c.w.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

type rframe struct {
	fin     bool
	rsv     byte
	op      byte
	payload []byte
}

func (f rframe) String() string {
	return fmt.Sprintf("frame fin=%v rsv=%d op=%d len=%d", f.fin, f.rsv, f.op, len(f.payload))
}

// errBadServerFrame is readFrame's error for a frame no server may send.
var errBadServerFrame = errors.New("bad server frame")

// readFrame reads one server frame from br. A masked frame, or one longer
// than max bytes, is an errBadServerFrame.
func readFrame(br *bufio.Reader, max uint64) (rframe, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return rframe{}, err
	}
	f := rframe{fin: h[0]&0x80 != 0, rsv: h[0] >> 4 & 7, op: h[0] & 15}
	if h[1]&0x80 != 0 {
		return f, fmt.Errorf("%w: masked", errBadServerFrame)
	}
	n := uint64(h[1] & 127)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > max {
		return f, fmt.Errorf("%w: %d bytes long", errBadServerFrame, n)
	}
	f.payload = make([]byte, n)
	_, err := io.ReadFull(br, f.payload)
	return f, err
}

// next reads one frame from the server; server frames must be unmasked.
func (c *wsClient) next() (rframe, error) {
	return readFrame(c.br, 1<<40)
}

// message reads one data message, reassembled, skipping nothing: a
// control frame in between fails the test.
func (c *wsClient) message() (op byte, data []byte, rsv1 bool) {
	c.t.Helper()
	for first := true; ; first = false {
		f, err := c.next()
		if err != nil {
			c.t.Fatalf("reading message: %v", err)
		}
		if first {
			op, rsv1 = f.op, f.rsv&4 != 0
		} else if f.op != 0 {
			c.t.Fatalf("got opcode %d inside a message", f.op)
		}
		data = append(data, f.payload...)
		if f.fin {
			return op, data, rsv1
		}
	}
}

// expectClose reads frames until a close frame and returns its code (1005
// for an empty one) and reason; data frames before it are skipped.
func (c *wsClient) expectClose() (int, string) {
	c.t.Helper()
	for {
		f, err := c.next()
		if err != nil {
			c.t.Fatalf("reading until close: %v", err)
		}
		if f.op != 8 {
			continue
		}
		if len(f.payload) < 2 {
			return 1005, ""
		}
		return int(binary.BigEndian.Uint16(f.payload)), string(f.payload[2:])
	}
}

// closePayload returns a close frame payload.
func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// expectEOF checks the server ends the connection or stream after close.
func (c *wsClient) expectEOF() {
	c.t.Helper()
	if f, err := c.next(); err == nil {
		c.t.Fatalf("got frame op %d after close, want the end of the connection", f.op)
	}
}
