package h2

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
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

// TestBufferedBodiesBounded attacks a live server with many streams whose
// handlers do not read their bodies (CVE-2019-9517, internal data
// buffering): the client sends all that the server's windows allow, and
// the request data the server takes in stays within twice the connection
// window, however many streams there are.
func TestBufferedBodiesBounded(t *testing.T) {
	checkGoroutines(t)
	const (
		streams    = 64
		connWindow = 128 << 10
	)
	release := make(chan struct{})
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}), func(s *Server) {
		s.MaxConcurrentStreams = streams
		s.MaxUploadBufferPerConnection = connWindow
		s.MaxUploadBufferPerStream = 64 << 10
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	rc := dialRaw(t, ts)
	connSend := int64(initialWindow)
	send := map[uint32]int64{}
	for i := range streams {
		id := uint32(2*i + 1)
		rc.post(id, "/")
		send[id] = int64(rc.settings[http2.SettingInitialWindowSize])
	}
	chunk := make([]byte, 16384)
	total := int64(0)
	for round := 0; round < 1000; round++ {
		sent := int64(0)
		for id := uint32(1); id < 2*streams; id += 2 {
			for send[id] > 0 && connSend > 0 {
				n := min(int64(len(chunk)), send[id], connSend)
				if err := rc.fr.WriteData(id, false, chunk[:n]); err != nil {
					t.Fatal(err)
				}
				send[id] -= n
				connSend -= n
				sent += n
			}
		}
		total += sent
		if sent == 0 {
			break
		}
		// The server answers frames in order: every WINDOW_UPDATE that the
		// data above earns comes before the PING's ACK.
		data := [8]byte{'r', byte(round), byte(round >> 8)}
		rc.fr.WritePing(false, data)
		rc.readUntil("PING ACK", func(f http2.Frame) bool {
			switch f := f.(type) {
			case *http2.WindowUpdateFrame:
				if f.StreamID == 0 {
					connSend += int64(f.Increment)
				} else {
					send[f.StreamID] += int64(f.Increment)
				}
			case *http2.RSTStreamFrame:
				t.Fatalf("stream %d reset: %v", f.StreamID, f.ErrCode)
			case *http2.GoAwayFrame:
				t.Fatalf("GOAWAY %v", f.ErrCode)
			case *http2.PingFrame:
				return f.IsAck() && f.Data == data
			}
			return false
		})
	}
	if total > 2*connWindow {
		t.Errorf("the server took in %d bytes of request bodies nobody reads, more than twice the connection window (%d)", total, connWindow)
	}
	// Once the handlers return, their buffers are released and the
	// connection serves again.
	unblock()
	for id := uint32(2*streams + 1); ; id += 2 {
		rc.get(id, "/")
		f := rc.readUntil("answer", func(f http2.Frame) bool { return f.Header().StreamID == id })
		if _, ok := f.(*http2.MetaHeadersFrame); ok {
			break
		}
		if id > 4001 {
			t.Fatal("no stream served after the handlers returned")
		}
		time.Sleep(time.Millisecond)
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
