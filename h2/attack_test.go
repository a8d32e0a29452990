package h2

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestDrainPeerNotReading: Drain returns at once even when a connection's
// peer reads nothing, so that its writes block: one such client must not
// hold up the GOAWAY of every other connection, nor the caller's
// Shutdown and its deadline.
func TestDrainPeerNotReading(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Logger: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	// A pipe has no buffer: every server write blocks until the client
	// reads, which this one never does.
	sconn, cconn := net.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeConn(sconn, &ServeConnOpts{Handler: http.NotFoundHandler()})
	}()
	defer func() {
		cconn.Close()
		<-served
	}()
	if _, err := io.WriteString(cconn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	for tracked := false; !tracked; {
		srv.mu.Lock()
		tracked = len(srv.conns) == 1
		srv.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	drained := make(chan struct{})
	go func() {
		srv.Drain()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("Drain blocked on a connection whose peer does not read")
	}
}

// TestDrainBeforePreface: a connection drained while it still waits for
// the client preface sends its SETTINGS first (RFC 9113 section 3.4: the
// server preface is a SETTINGS frame), then the GOAWAY.
func TestDrainBeforePreface(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Logger: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	sconn, cconn := net.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeConn(sconn, &ServeConnOpts{Handler: http.NotFoundHandler()})
	}()
	defer func() {
		cconn.Close()
		<-served
	}()
	for tracked := false; !tracked; {
		srv.mu.Lock()
		tracked = len(srv.conns) == 1
		srv.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	srv.Drain()
	go io.WriteString(cconn, http2.ClientPreface)
	rc := newRawConn(t, cconn)
	if f := rc.read(); f.Header().Type != http2.FrameSettings {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
	rc.readUntil("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok })
}
