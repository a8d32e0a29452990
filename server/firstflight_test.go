package server_test

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/server"
)

// firstWrites is a listener whose connections record the bytes of the
// server's first Write.
type firstWrites struct {
	net.Listener
	mu    sync.Mutex
	first [][]byte
}

func (l *firstWrites) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &firstWriteConn{Conn: c, l: l}, nil
}

type firstWriteConn struct {
	net.Conn
	l    *firstWrites
	once sync.Once
}

func (c *firstWriteConn) Write(p []byte) (int, error) {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.first = append(c.l.first, bytes.Clone(p))
		c.l.mu.Unlock()
	})
	return c.Conn.Write(p)
}

// TestUpgradeFirstWrite checks what an upgraded connection's first write
// carries: with molt's engine the 101 and the engine's SETTINGS behind
// it, in one write (ConnOptions.Preamble); with x/net's, which flushes
// its SETTINGS only after reading the client preface, the 101 alone.
// Either way the client gets its answer on stream 1.
func TestUpgradeFirstWrite(t *testing.T) {
	const switching = "HTTP/1.1 101 Switching Protocols\r\n"
	for _, tt := range []struct {
		name   string
		engine func(server.Config) (server.Engine, error)
		alone  bool // the 101 is the whole first write
	}{
		{"h2", server.NewH2Engine, false},
		{"xnet", server.NewXNetEngine, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := server.New(server.Config{
				Logger:  slog.New(slog.DiscardHandler),
				Engine:  tt.engine,
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln := &firstWrites{Listener: inner}
			go srv.Serve(ln)

			c, err := net.DialTimeout("tcp", inner.Addr().String(), maxWait)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(maxWait))
			req, _ := http.NewRequest(http.MethodGet, "http://"+inner.Addr().String()+"/", nil)
			res, err := h2ctest.Upgrade(c, req, h2ctest.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Conn == nil {
				t.Fatalf("upgrade declined: %s", res.Response.Status)
			}
			defer res.Conn.Close()
			body, err := io.ReadAll(res.Response.Body)
			if err != nil || string(body) != "hello" {
				t.Fatalf("stream 1: %q, %v; want %q", body, err, "hello")
			}

			ln.mu.Lock()
			defer ln.mu.Unlock()
			if len(ln.first) != 1 {
				t.Fatalf("%d connections wrote, want 1", len(ln.first))
			}
			first := ln.first[0]
			end := bytes.Index(first, []byte("\r\n\r\n"))
			if !bytes.HasPrefix(first, []byte(switching)) || end < 0 {
				t.Fatalf("first write %q, want the 101 first", first)
			}
			rest := first[end+4:]
			switch {
			case tt.alone && len(rest) > 0:
				t.Errorf("first write has %d bytes after the 101, want none", len(rest))
			case !tt.alone && (len(rest) < 9 || http2.FrameType(rest[3]) != http2.FrameSettings):
				t.Errorf("first write after the 101: %q, want the engine's SETTINGS", rest)
			}
		})
	}
}
