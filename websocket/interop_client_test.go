//go:build unix

package websocket_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/molt-http/molt/websocket"
)

// nodeServerSide is what ws-server.mjs reports of one connection.
type nodeServerSide struct {
	Extensions   string            `json:"extensions"`
	Protocol     string            `json:"protocol"`
	Messages     int               `json:"messages"`
	Pings        int               `json:"pings"`
	Code         int               `json:"code"`
	Reason       string            `json:"reason"`
	BytesRead    int               `json:"bytesRead"`
	BytesWritten int               `json:"bytesWritten"`
	Header       map[string]string `json:"header"`
}

// TestNodeWSServer runs molt's client (Dial over HTTP/1.1) against the
// npm ws server (testdata/interop/ws-server.mjs), with permessage-deflate
// offered in both takeover modes and not at all: every message of
// common.mjs comes back whole, a ping is answered, the subprotocol and an
// extra header go through, the close is clean (1000 "bye" on the server's
// side), and with compression the compressible megabyte crosses the wire
// in a few KiB.
func TestNodeWSServer(t *testing.T) {
	node := interopNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), interopTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "ws-server.mjs")
	cmd.Dir = interopDir
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("ws-server.mjs: %v; stderr: %s", err, stderr.String())
		}
	}()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(nil, 1<<20)
	next := func(v any) {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("ws-server.mjs ended: %v; stderr: %s", lines.Err(), stderr.String())
		}
		if err := json.Unmarshal(lines.Bytes(), v); err != nil {
			t.Fatalf("ws-server.mjs printed %q: %v", lines.Text(), err)
		}
	}
	var hello struct{ Port int }
	next(&hello)
	if hello.Port == 0 {
		t.Fatal("ws-server.mjs printed no port")
	}
	url := "ws://127.0.0.1:" + strconv.Itoa(hello.Port) + "/echo"

	random := make([]byte, 1<<20)
	rand.Read(random)
	compressible := bytes.Repeat([]byte("molt "), (1<<20)/5+1)[:1<<20]
	msgs := []struct {
		name string
		typ  websocket.MessageType
		data []byte
		// writes, if set, sends the message through Writer in writes of
		// this many bytes (several frames).
		writes int
	}{
		{"text", websocket.Text, []byte("hello, molt"), 0},
		{"text-utf8", websocket.Text, []byte("h\u00e9llo w\u00f6rld \u2713 \U0001f980"), 0},
		{"text-empty", websocket.Text, nil, 0},
		{"binary-256", websocket.Binary, bytes.Repeat([]byte{0, 1, 2, 3}, 64), 0},
		{"text-fragmented", websocket.Text, bytes.Repeat([]byte("frag-ment-ed "), 5000), 7000},
		{"binary-1MiB-random", websocket.Binary, random, 0},
		{"text-1MiB-compressible", websocket.Text, compressible, 0},
	}
	for _, comp := range []websocket.Compression{websocket.CompressionNoContextTakeover, websocket.CompressionContextTakeover, websocket.CompressionDisabled} {
		t.Run(compName(comp), func(t *testing.T) {
			c, err := websocket.Dial(ctx, url, &websocket.DialOptions{
				Compression:  comp,
				Subprotocols: []string{"molt.v0", "molt.v1"},
				Header:       http.Header{"X-Molt-Test": {compName(comp)}},
			})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.CloseNow()
			ext := c.Response().Header.Get("Sec-WebSocket-Extensions")
			t.Logf("Sec-WebSocket-Extensions: %q", ext)
			if got := strings.HasPrefix(ext, "permessage-deflate"); got != (comp != websocket.CompressionDisabled) {
				t.Errorf("Sec-WebSocket-Extensions %q for %s", ext, compName(comp))
			}
			if comp == websocket.CompressionNoContextTakeover && (!strings.Contains(ext, "server_no_context_takeover") || !strings.Contains(ext, "client_no_context_takeover")) {
				t.Errorf("Sec-WebSocket-Extensions %q, want no context takeover either way", ext)
			}
			if c.Subprotocol() != "molt.v1" {
				t.Errorf("Subprotocol() = %q, want molt.v1", c.Subprotocol())
			}
			for _, m := range msgs {
				if m.writes == 0 {
					err = c.Write(ctx, m.typ, m.data)
				} else {
					var w io.WriteCloser
					w, err = c.Writer(ctx, m.typ)
					for p := m.data; err == nil && len(p) > 0; p = p[min(len(p), m.writes):] {
						_, err = w.Write(p[:min(len(p), m.writes)])
					}
					if err == nil {
						err = w.Close()
					}
				}
				if err != nil {
					t.Fatalf("%s: write: %v", m.name, err)
				}
				typ, got, err := c.Read(ctx)
				if err != nil || typ != m.typ || !bytes.Equal(got, m.data) {
					t.Fatalf("%s: echo %v of %d bytes, %v; want %v of %d bytes", m.name, typ, len(got), err, m.typ, len(m.data))
				}
			}
			// A ping, answered while a read is under way.
			read := make(chan error, 1)
			go func() {
				_, msg, err := c.Read(ctx)
				if err == nil && string(msg) != "after ping" {
					err = io.ErrUnexpectedEOF
				}
				read <- err
			}()
			if err := c.Ping(ctx, []byte("molt ping")); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if err := c.Write(ctx, websocket.Text, []byte("after ping")); err != nil {
				t.Fatal(err)
			}
			if err := <-read; err != nil {
				t.Fatalf("Read after the ping: %v", err)
			}
			if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
				t.Fatalf("Close: %v", err)
			}
			var s nodeServerSide
			next(&s)
			t.Logf("ws server saw: %+v", s)
			if s.Code != 1000 || s.Reason != "bye" || s.Messages != len(msgs)+1 || s.Pings != 1 || s.Protocol != "molt.v1" || s.Header["x-molt-test"] != compName(comp) {
				t.Errorf("ws server saw %+v; want close 1000 \"bye\", %d messages, 1 ping, protocol molt.v1, x-molt-test %s", s, len(msgs)+1, compName(comp))
			}
			// Sent: the random megabyte, the compressible one, some 100
			// KiB more. Compressed, the compressible one takes a few KiB.
			plain := 2 << 20
			if comp != websocket.CompressionDisabled && s.BytesRead > (1<<20)+interopCompressedMax+128<<10 {
				t.Errorf("the server read %d bytes, want about 1 MiB (the compressible megabyte compressed)", s.BytesRead)
			}
			if comp == websocket.CompressionDisabled && s.BytesRead < plain {
				t.Errorf("the server read %d bytes uncompressed, want over %d", s.BytesRead, plain)
			}
		})
	}
}
