package h2

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestLeadReadDeadlineWhileFlushBlocks is
// TestLeadReadDeadlineWhileStepBlocksInWrite with small writes, each
// flushed: the writer then blocks in the flush that write makes after
// it has counted itself out of sc.pending (write.go: pending.Add(-1),
// then flushLocked, still holding wmu). The leader's check
// (sc.pending.Load() > 0) sees no write, reads the PING and blocks on
// wmu answering it; the Read's deadline cannot end it.
func TestLeadReadDeadlineWhileFlushBlocks(t *testing.T) {
	readErr := make(chan error, 1)
	kick := make(chan struct{})
	var written atomic.Int64
	bodies := make(chan *requestBody, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		rc.Flush()
		b := r.Body.(*requestBody)
		if tc, ok := b.st.sc.c.(*net.TCPConn); ok {
			tc.SetWriteBuffer(4096)
		}
		go func() {
			<-kick
			rc.SetReadDeadline(time.Now())
		}()
		bodies <- b
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			buf := make([]byte, 64)
			for {
				if _, err := b.Read(buf); err != nil {
					readErr <- err
					return
				}
			}
		}()
		sc := b.st.sc
		for {
			sc.mu.Lock()
			ok := sc.leader == b.st && sc.leaderBlocked
			sc.mu.Unlock()
			if ok {
				break
			}
			time.Sleep(time.Millisecond)
		}
		chunk := bytes.Repeat([]byte("z"), 1<<10) // through the buffer, flushed alone
		for range 1 << 16 {                       // 64 MiB at most
			if _, err := w.Write(chunk); err != nil {
				break
			}
			if rc.Flush() != nil {
				break
			}
			written.Add(1)
		}
		<-readDone
	}))
	rc := dialRaw(t, ts, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	rc.fr.WriteWindowUpdate(0, 1<<31-1-(1<<20)-65535)
	if tc, ok := rc.c.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	rc.headers(1, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "a", ":path", "/")
	b := <-bodies
	sc := b.st.sc
	last, still := int64(-1), 0
	for i := 0; still < 5; i++ {
		if i == 200 {
			t.Fatal("the writer never blocked")
		}
		time.Sleep(100 * time.Millisecond)
		if n := written.Load(); n == last {
			still++
		} else {
			last, still = n, 0
		}
	}
	sc.mu.Lock()
	t.Logf("writer blocked: pending %d, leader is tunnel %v, leaderBlocked %v", sc.pending.Load(), sc.leader == b.st, sc.leaderBlocked)
	sc.mu.Unlock()
	waitState(t, sc, "the tunnel's Read reading", func() bool { return sc.leader == b.st && sc.leaderBlocked })
	rc.fr.WritePing(false, [8]byte{'s', 't', 'u', 'c', 'k'})
	waitState(t, sc, "the PING read", func() bool { return sc.leader != b.st || !sc.leaderBlocked })
	close(kick)
	select {
	case err := <-readErr:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read: %v, want os.ErrDeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		sc.mu.Lock()
		t.Logf("state: leader is tunnel %v, stepping %v, pending %d", sc.leader == b.st, sc.leaderStepping, sc.pending.Load())
		sc.mu.Unlock()
		t.Fatal("the Read's deadline passed 10 s ago and the Read still has not returned (stuck answering the PING)")
	}
	rc.c.Close()
}

// TestLeadReadReturnsWhileWriteBlocked: the tunnel's writer goroutine
// is blocked in a write (the peer reads nothing), holding wmu. The
// tunnel's Read holds the reading; two DATA frames for it arrive in one
// read. The Read's step reads the first (its own DATA passes the
// pending check) with the second buffered, so batching is set; as the
// Read returns, doneStepping flushes "what was held back" and so waits
// for wmu, behind the blocked write, although the leader wrote nothing.
// The handler never gets bytes that have arrived (when the read loop
// reads, the Read is woken with them at once), until the stall watchdog
// closes the connection.
func TestLeadReadReturnsWhileWriteBlocked(t *testing.T) {
	got := make(chan string, 4)
	var written atomic.Int64
	bodies := make(chan *requestBody, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		rc.Flush()
		b := r.Body.(*requestBody)
		if tc, ok := b.st.sc.c.(*net.TCPConn); ok {
			tc.SetWriteBuffer(4096)
		}
		bodies <- b
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			buf := make([]byte, 64)
			for {
				n, err := b.Read(buf)
				if n > 0 {
					got <- string(buf[:n])
				}
				if err != nil {
					return
				}
			}
		}()
		sc := b.st.sc
		for {
			sc.mu.Lock()
			ok := sc.leader == b.st && sc.leaderBlocked
			sc.mu.Unlock()
			if ok {
				break
			}
			time.Sleep(time.Millisecond)
		}
		chunk := bytes.Repeat([]byte("z"), 16<<10)
		for range 4096 {
			if _, err := w.Write(chunk); err != nil {
				break
			}
			if rc.Flush() != nil {
				break
			}
			written.Add(1)
		}
		<-readDone
	}))
	rc := dialRaw(t, ts, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	rc.fr.WriteWindowUpdate(0, 1<<31-1-(1<<20)-65535)
	if tc, ok := rc.c.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	rc.headers(1, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "a", ":path", "/")
	b := <-bodies
	sc := b.st.sc
	last, still := int64(-1), 0
	for i := 0; still < 5; i++ {
		if i == 200 {
			t.Fatal("the writer never blocked")
		}
		time.Sleep(100 * time.Millisecond)
		if n := written.Load(); n == last {
			still++
		} else {
			last, still = n, 0
		}
	}
	waitState(t, sc, "the tunnel's Read reading", func() bool { return sc.leader == b.st && sc.leaderBlocked })
	sendTogether(t, rc, func(fr *http2.Framer) {
		fr.WriteData(1, false, []byte("one"))
		fr.WriteData(1, false, []byte("two"))
	})
	select {
	case s := <-got:
		if s != "one" && s != "onetwo" {
			t.Fatalf("Read: %q", s)
		}
	case <-time.After(10 * time.Second):
		sc.mu.Lock()
		t.Logf("state: leader is tunnel %v, stepping %v, batching %v, pending %d", sc.leader == b.st, sc.leaderStepping, sc.batching.Load(), sc.pending.Load())
		sc.mu.Unlock()
		t.Fatal("DATA for the tunnel arrived 10 s ago; its Read has still not returned it")
	}
	rc.c.Close()
}
