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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(time.Minute))
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

	dc := &deadlineConn{}
	c := &conn{Conn: dc}
	if err := c.startSniff(early); err != nil {
		t.Fatal(err)
	}
	c.cutSniff(late)
	if got := dc.set[len(dc.set)-1]; !got.Equal(early) {
		t.Errorf("sniff begun with deadline %v, cut to %v: deadline %v, want %v", early, late, got, early)
	}

	// The other way round: the cut, earlier, wins, whichever comes first.
	dc = &deadlineConn{}
	c = &conn{Conn: dc}
	c.startSniff(late)
	c.cutSniff(early)
	if got := dc.set[len(dc.set)-1]; !got.Equal(early) {
		t.Errorf("sniff begun with deadline %v, cut to %v: deadline %v, want %v", late, early, got, early)
	}
	dc = &deadlineConn{}
	c = &conn{Conn: dc}
	c.cutSniff(early)
	c.startSniff(late)
	if got := dc.set[len(dc.set)-1]; !got.Equal(early) {
		t.Errorf("sniff cut to %v, then begun with deadline %v: deadline %v, want %v", early, late, got, early)
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	defer s.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(time.Minute))
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
