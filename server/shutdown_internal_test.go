package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestShutdownWaitsForHandOver checks a connection Shutdown finds already
// sniffed as HTTP/1.x (serveHTTP1 has set its protocol) but not yet
// taken by net/http's Accept: Shutdown must not shut net/http down (which
// closes the queue, and push then closes the connection) before the hand
// over, though no connection is left sniffing. The ConnState hook of that
// moment starts Shutdown and holds the hand over until the queue closes
// (or a while passes).
func TestShutdownWaitsForHandOver(t *testing.T) {
	var s *Server
	var once sync.Once
	done := make(chan error, 1)
	cfg := Config{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served") }),
		ConnState: func(c net.Conn, p Protocol, st ConnState) {
			if p != H1 || st != StateNew {
				return
			}
			once.Do(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				go func() { defer cancel(); done <- s.Shutdown(ctx) }()
				for !s.draining.Load() {
					time.Sleep(time.Millisecond)
				}
				select {
				case <-s.queue.done:
				case <-time.After(300 * time.Millisecond):
				}
			})
		},
	}
	var err error
	if s, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	nc := serveAndDial(t, s)
	if _, err := io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("%v (the request was lost)", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "served" {
		t.Errorf("%s %q, want 200 %q", resp.Status, body, "served")
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// deadlineConn records the read deadlines set on it.
type deadlineConn struct {
	net.Conn
	mu  sync.Mutex
	set []time.Time
}

func (d *deadlineConn) SetReadDeadline(t time.Time) error {
	d.mu.Lock()
	d.set = append(d.set, t)
	d.mu.Unlock()
	return nil
}

// TestCutSniffKeepsEarlierDeadline checks that Shutdown's cut of a sniff
// under way does not push its read deadline (ReadHeaderTimeout's, from
// accept) later: the grace is given within ReadHeaderTimeout.
func TestCutSniffKeepsEarlierDeadline(t *testing.T) {
	now := time.Now()
	early, late := now.Add(100*time.Millisecond), now.Add(ShutdownSniffGrace)

	for _, tt := range []struct {
		name  string
		steps func(c *conn)
	}{
		{"sniff begun with the earlier deadline, then cut later", func(c *conn) { c.startSniff(early); c.cutSniff(late) }},
		{"sniff begun with the later deadline, then cut earlier", func(c *conn) { c.startSniff(late); c.cutSniff(early) }},
		{"cut earlier, then sniff begun with the later deadline", func(c *conn) { c.cutSniff(early); c.startSniff(late) }},
	} {
		dc := &deadlineConn{}
		tt.steps(&conn{Conn: dc})
		if len(dc.set) == 0 {
			t.Errorf("%s: no deadline set", tt.name)
		} else if got := dc.set[len(dc.set)-1]; !got.Equal(early) {
			t.Errorf("%s: deadline %v, want the earlier %v", tt.name, got, early)
		}
	}
}

// TestUpgradeEndsSniffCount checks that a connection whose first request
// is an h2c upgrade stops counting in Server.sniffs once that request is
// read, like any HTTP/1.x connection: it used to count until it closed,
// so that every Shutdown with an upgraded connection open waited the
// whole ShutdownSniffGrace before shutting net/http's server down.
func TestUpgradeEndsSniffCount(t *testing.T) {
	s, err := New(Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served") })})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	nc := serveAndDial(t, s)
	if _, err := io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %v, %v; want 101", resp, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) != 1 {
		t.Fatalf("%d connections tracked, want 1", len(s.conns))
	}
	for c := range s.conns {
		if c.h1Pending.Load() {
			t.Error("the upgraded connection still counts in sniffs after its first request was read")
		}
	}
}

// serveAndDial serves s on a loopback listener and returns a connection
// to it, with a deadline of a minute, closed when t ends.
func serveAndDial(t *testing.T, s *Server) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(time.Minute))
	return nc
}
