package server_test

import (
	"bufio"
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

// TestUpgradeFirstFlightHandlerNeverWrites: the 101 (and, with molt's
// engine, the SETTINGS behind it) reaches a client that has sent nothing
// after the request, though stream 1's handler blocks before writing
// anything or panics: the first flight waits for the handler to begin,
// never for it to write.
func TestUpgradeFirstFlightHandlerNeverWrites(t *testing.T) {
	for _, eng := range []struct {
		name     string
		engine   func(server.Config) (server.Engine, error)
		settings bool // SETTINGS come before the client preface
	}{
		{"h2", server.NewH2Engine, true},
		{"xnet", server.NewXNetEngine, false},
	} {
		for _, handler := range []string{"block", "panic"} {
			t.Run(eng.name+"/"+handler, func(t *testing.T) {
				release := make(chan struct{})
				defer close(release)
				srv, err := server.New(server.Config{
					Logger: slog.New(slog.DiscardHandler),
					Engine: eng.engine,
					Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						if handler == "panic" {
							panic(http.ErrAbortHandler)
						}
						<-release
					}),
				})
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close()
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				go srv.Serve(ln)
				c, err := net.DialTimeout("tcp", ln.Addr().String(), maxWait)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				// That it comes before any timer of molt's engine could
				// flush it is h2's TestUpgradeFirstFlightHandlerBlocks (no
				// timer there); here it must come, on both engines.
				c.SetDeadline(time.Now().Add(maxWait))
				if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(c)
				res, err := http.ReadResponse(br, nil)
				if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
					t.Fatalf("answer %v, %v; want 101", res, err)
				}
				if !eng.settings {
					return
				}
				f, err := http2.NewFramer(nil, br).ReadFrame()
				if err != nil {
					t.Fatalf("reading the SETTINGS after the 101: %v", err)
				}
				if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
					t.Fatalf("first frame %v, want SETTINGS", f)
				}
			})
		}
	}
}
