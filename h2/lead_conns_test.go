package h2

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

type noReadDeadlineConn struct{ net.Conn }

func (noReadDeadlineConn) SetReadDeadline(time.Time) error { return errors.New("no deadlines here") }

// TestLeadConnKinds: an h2c-upgraded connection (a tunnel on
// stream 3 once stream 1 is done) and a connection whose SetReadDeadline
// fails: the tunnel echoes, PINGs are answered, a read deadline ends its
// Read, and the end of the connection ends the handler.
func TestLeadConnKinds(t *testing.T) {
	for _, kind := range []string{"upgraded", "nodeadline"} {
		t.Run(kind, func(t *testing.T) {
			checkGoroutines(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			bodies := make(chan *requestBody, 1)
			ends := make(chan error, 2)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodConnect {
					io.WriteString(w, "up")
					return
				}
				w.WriteHeader(http.StatusOK)
				rc := http.NewResponseController(w)
				rc.Flush()
				b := r.Body.(*requestBody)
				bodies <- b
				buf := make([]byte, 64)
				for {
					n, err := b.Read(buf)
					if n > 0 {
						w.Write(buf[:n])
						rc.Flush()
					}
					if err != nil {
						ends <- err
						if errors.Is(err, os.ErrDeadlineExceeded) {
							rc.SetReadDeadline(time.Time{})
							continue
						}
						return
					}
					if string(buf[:n]) == "deadline" {
						rc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
					}
				}
			})
			srv := &Server{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			served := make(chan struct{})
			go func() {
				defer close(served)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				opts := &ServeConnOpts{Handler: h}
				if kind == "upgraded" {
					req, _ := http.NewRequest("GET", "http://a/up", nil)
					req.RemoteAddr = "x"
					opts.UpgradeRequest = req
				} else {
					c = noReadDeadlineConn{c}
				}
				srv.ServeConn(c, opts)
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			rc := newRawConn(t, c)
			io.WriteString(c, http2.ClientPreface)
			rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
			rc.readServerSettings()
			id := uint32(1)
			if kind == "upgraded" {
				if _, body := readResponse(t, rc, 1); body != "up" {
					t.Fatalf("upgrade response %q", body)
				}
				id = 3
			}
			b := openTunnel(t, rc, id, bodies)
			if kind == "upgraded" {
				// Stream 1 may still be closing while the Read first
				// waits: the reading is offered to it as stream 1
				// leaves (TestLeadAfterOtherStreamCloses).
				waitLeading(t, b)
			}
			echo(t, rc, id, "hello")
			rc.ping()
			echo(t, rc, id, "deadline")
			if err := within(t, "Read after its deadline", ends); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read: %v, want deadline exceeded", err)
			}
			echo(t, rc, id, "after")
			rc.ping()
			if kind == "nodeadline" && b.st.leads.Load() {
				t.Error("a conn without read deadlines leads")
			}
			c.Close()
			if err := within(t, "Read after the client closed", ends); err == nil {
				t.Fatal("no error")
			}
			select {
			case <-served:
			case <-time.After(10 * time.Second):
				t.Fatal("ServeConn did not return")
			}
		})
	}
}
