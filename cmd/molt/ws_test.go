package main

// Tests of `molt serve`'s /ws, the WebSocket echo of internal/demo: a
// handshake and an echo by hand over HTTP/1.1, then the Node clients of
// websocket/testdata/interop (the npm ws client over HTTP/1.1, Node's
// http2 module over RFC 8441 extended CONNECT). The Node tests skip, or
// fail under MOLT_REQUIRE_PEERS=1, when node or the npm ci install of
// websocket/testdata/interop is missing.

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wsInteropDir is the Node project of the websocket package's tests.
const wsInteropDir = "../../websocket/testdata/interop"

// wsFrame is one WebSocket frame as read off the wire.
type wsFrame struct {
	fin     bool
	opcode  byte
	payload []byte
}

// wsWriteFrame writes a final, masked client frame.
func wsWriteFrame(w io.Writer, opcode byte, payload []byte) error {
	hdr := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n < 1<<16:
		hdr = append(hdr, 0x80|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	key := [4]byte{0x6d, 0x6f, 0x6c, 0x74}
	hdr = append(hdr, key[:]...)
	masked := make([]byte, len(payload))
	for i, b := range payload {
		masked[i] = b ^ key[i%4]
	}
	_, err := w.Write(append(hdr, masked...))
	return err
}

// wsReadFrame reads one unmasked server frame of at most 1 MiB.
func wsReadFrame(r io.Reader) (wsFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return wsFrame{}, err
	}
	if h[1]&0x80 != 0 {
		return wsFrame{}, errorString("masked frame from the server")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return wsFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return wsFrame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<20 {
		return wsFrame{}, errorString("frame over 1 MiB")
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return wsFrame{}, err
	}
	return wsFrame{fin: h[0]&0x80 != 0, opcode: h[0] & 0x0f, payload: p}, nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestServeWebSocketHTTP1(t *testing.T) {
	t.Parallel()
	srv := startMolt(t)
	c, err := net.Dial("tcp", srv.host+":"+srv.port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(peerTimeout)) // a bound on a hang, not a measurement

	const key = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455's sample key
	req := "GET /ws HTTP/1.1\r\nHost: " + srv.host + ":" + srv.port + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nOrigin: https://elsewhere.example\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	wantAccept := base64.StdEncoding.EncodeToString(sum[:])
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != wantAccept ||
		!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("handshake: %s, Upgrade %q, Sec-WebSocket-Accept %q; want 101, websocket, %q (any origin is allowed)",
			resp.Status, resp.Header.Get("Upgrade"), resp.Header.Get("Sec-WebSocket-Accept"), wantAccept)
	}

	tests := []struct {
		opcode  byte
		payload []byte
	}{
		{0x1, []byte("hello, molt")},
		{0x2, []byte{0, 1, 2, 0xfe, 0xff}},
		{0x1, []byte{}},
		{0x2, bytes.Repeat([]byte("molt"), 50_000)},
	}
	for _, tt := range tests {
		if err := wsWriteFrame(c, tt.opcode, tt.payload); err != nil {
			t.Fatal(err)
		}
		f, err := wsReadFrame(br)
		if err != nil {
			t.Fatalf("echo of opcode %d, %d bytes: %v", tt.opcode, len(tt.payload), err)
		}
		if !f.fin || f.opcode != tt.opcode || !bytes.Equal(f.payload, tt.payload) {
			t.Errorf("echo of opcode %d, %d bytes: fin %v, opcode %d, %d bytes (equal: %v)",
				tt.opcode, len(tt.payload), f.fin, f.opcode, len(f.payload), bytes.Equal(f.payload, tt.payload))
		}
	}

	if err := wsWriteFrame(c, 0x8, append([]byte{0x03, 0xe8}, "bye"...)); err != nil {
		t.Fatal(err)
	}
	f, err := wsReadFrame(br)
	if err != nil {
		t.Fatalf("reading the close reply: %v", err)
	}
	if f.opcode != 0x8 || len(f.payload) < 2 || binary.BigEndian.Uint16(f.payload) != 1000 {
		t.Errorf("close reply: opcode %d, payload %q; want a close frame with code 1000", f.opcode, f.payload)
	}
	// After its close frame the server closes the TCP connection.
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after the close handshake: read %d bytes, %v; want EOF", n, err)
	}
}

// wsNode returns node's path after checking that websocket/testdata/interop
// has its npm ci install.
func wsNode(t *testing.T) string {
	t.Helper()
	node := lookTool(t, "node", "NODE")
	if _, err := os.Stat(filepath.Join(wsInteropDir, "node_modules", "ws", "package.json")); err != nil {
		msg := "ws is not installed: run `npm ci --no-audit --no-fund` in websocket/testdata/interop: " + err.Error()
		if requirePeers() {
			t.Fatalf("MOLT_REQUIRE_PEERS=1: %s", msg)
		}
		t.Skip(msg)
	}
	return node
}

// wsNodeReport is the part of a Node client's report these tests check
// (websocket/interop_test.go checks all of it against its own server).
type wsNodeReport struct {
	Error      string `json:"error"`
	Status     int    `json:"status"`
	Extensions string `json:"extensions"`
	Exchanges  []struct {
		Name  string `json:"name"`
		Equal bool   `json:"equal"`
	} `json:"exchanges"`
	Close struct {
		Code int `json:"code"`
	} `json:"close"`
}

func TestServeWebSocketNode(t *testing.T) {
	t.Parallel()
	node := wsNode(t)
	srv := startMolt(t)
	tests := []struct {
		name   string
		script string
		url    string
		status int
	}{
		{"ws-http1", "ws-client.mjs", "ws://" + srv.host + ":" + srv.port + "/ws", 101},
		{"http2-extended-connect", "h2-client.mjs", srv.url, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script, err := filepath.Abs(filepath.Join(wsInteropDir, tt.script))
			if err != nil {
				t.Fatal(err)
			}
			r := runPeer(t, peerTimeout, node, script, tt.url)
			var rep wsNodeReport
			if err := json.Unmarshal(bytes.TrimSpace(r.stdout), &rep); err != nil || r.err != nil || rep.Error != "" {
				t.Fatalf("node %s: %v %v %s\nstdout:\n%s\nstderr:\n%s", tt.script, r.err, err, rep.Error, clip(r.stdout), clip(r.stderr))
			}
			if rep.Status != tt.status || !strings.HasPrefix(rep.Extensions, "permessage-deflate") || rep.Close.Code != 1000 {
				t.Errorf("status %d, extensions %q, close %d; want %d, permessage-deflate, 1000", rep.Status, rep.Extensions, rep.Close.Code, tt.status)
			}
			if len(rep.Exchanges) != 7 {
				t.Errorf("%d exchanges, want 7", len(rep.Exchanges))
			}
			for _, x := range rep.Exchanges {
				if !x.Equal {
					t.Errorf("%s: the echo differs from the message", x.Name)
				}
			}
		})
	}
}
