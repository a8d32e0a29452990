package h2

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestReadNotBehindBlockedWrite attacks a connection with a client that
// uploads on one stream (3, its handler not reading yet) and then reads
// nothing while another stream's handler writes (5, until its write
// blocks, holding the connection's write lock): the upload's Read whose
// WINDOW_UPDATE credit falls due must still return its data, and a read
// deadline must then end the next Read with os.ErrDeadlineExceeded. The
// credit waits behind the blocked write on a goroutine of its own
// (creditFromRead); before, the Read itself waited for the write lock
// for as long as the client did not read, deaf to its deadline, with no
// watchdog to end it.
func TestReadNotBehindBlockedWrite(t *testing.T) {
	checkGoroutines(t)
	const window = 64 << 10 // the stream window: credit falls due at a quarter
	const upload = window / 2
	var written atomic.Int64
	type read struct {
		n   int
		err error
	}
	reads := make(chan read, 64)
	uploads := make(chan *serverConn, 1)
	gate := make(chan struct{}) // the upload's handler reads once it is closed
	openGate := sync.OnceFunc(func() { close(gate) })
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			p := bytes.Repeat([]byte("z"), 16<<10)
			for range (64 << 20) / len(p) {
				if _, err := w.Write(p); err != nil {
					return
				}
				written.Add(1)
			}
		case "/upload":
			b := r.Body.(*requestBody)
			uploads <- b.st.sc
			<-gate
			ctl := http.NewResponseController(w)
			buf := make([]byte, 4<<10)
			total := 0
			for {
				n, err := b.Read(buf)
				total += n
				if total == upload && err == nil {
					ctl.SetReadDeadline(time.Now())
				}
				reads <- read{n, err}
				if err != nil {
					return
				}
			}
		}
	}), func(s *Server) { s.MaxUploadBufferPerStream = window })
	t.Cleanup(openGate) // before the server closes (cleanups run last first), should the test fail first
	rc := dialRaw(t, ts, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	rc.fr.WriteWindowUpdate(0, 1<<31-1-(1<<20)-65535)
	if tc, ok := rc.c.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	rc.post(3, "/upload")
	for sent := 0; sent < upload; sent += 16 << 10 {
		rc.fr.WriteData(3, false, bytes.Repeat([]byte("u"), 16<<10)) // frames of the least SETTINGS_MAX_FRAME_SIZE
	}
	var sc *serverConn
	select {
	case sc = <-uploads:
	case <-time.After(10 * time.Second):
		t.Fatal("the upload's handler did not start")
	}
	// Setup: wait until the upload is buffered, then until stream 5's
	// writes have stopped (were they not blocked, the test would pass
	// without testing).
	for i := 0; ; i++ {
		if i == 1000 {
			t.Fatal("the upload was never buffered")
		}
		sc.mu.Lock()
		buffered := sc.buffered
		sc.mu.Unlock()
		if buffered == upload {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	rc.get(5, "/big")
	last, still := int64(-1), 0
	for i := 0; still < 5; i++ {
		if i == 1000 {
			t.Fatal("stream 5's writes never blocked")
		}
		time.Sleep(20 * time.Millisecond)
		if n := written.Load(); n == last && n > 0 {
			still++
		} else {
			last, still = n, 0
		}
	}
	if sc.wmuFree() {
		t.Fatal("setup: stream 5's write does not hold the write lock")
	}
	openGate()
	got := 0
	for got < upload {
		select {
		case r := <-reads:
			if r.err != nil {
				t.Fatalf("Read after %d bytes: %v", got, r.err)
			}
			got += r.n
		case <-time.After(10 * time.Second):
			t.Fatalf("the upload's Read has returned %d of %d bytes and no more in 10s: it waits for the write its credit is behind", got, upload)
		}
	}
	select {
	case r := <-reads:
		if r.n != 0 || !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read past the deadline: %d, %v; want os.ErrDeadlineExceeded", r.n, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read deadline did not end the upload's Read in 10s")
	}
	if sc.wmuFree() {
		t.Error("stream 5's write no longer holds the write lock: the test did not test what it says")
	}
	rc.c.Close()
	select {
	case <-reads: // the handler has returned, or is about to
	default:
	}
}
