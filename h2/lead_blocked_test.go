package h2

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// A tunnel's reader must never wait for the write lock (lead.go): a
// write blocked by a peer that reads nothing may hold it for as long as
// the stall watchdog allows, and a Read waiting behind it could not be
// woken by its deadline, nor return the data it has.

// stalledTunnel is a tunnel whose handler writes to a client that reads
// nothing, chunk bytes a write, each flushed, until the writes block
// (the connection's send buffers, made small, are full), while another
// goroutine of the handler reads its body and reports each Read on
// reads. The tunnel's Read holds the connection's reading.
type stalledTunnel struct {
	rc      *rawConn
	b       *requestBody
	sc      *serverConn
	ctl     *http.ResponseController // the handler's
	reads   chan stalledRead
	written *atomic.Int64 // the handler's writes that returned
}

type stalledRead struct {
	data string
	err  error
}

func openStalledTunnel(t *testing.T, chunk int) *stalledTunnel {
	t.Helper()
	s := startStalledTunnel(t, stalledSetup{chunk: chunk, readSize: 64, smallClientBuffer: true})
	s.waitWriterStalled(t)
	waitLeading(t, s.b)
	return s
}

// stalledSetup is how startStalledTunnel sets a stalled tunnel up.
type stalledSetup struct {
	chunk             int           // bytes a write of the handler
	readSize          int           // bytes a Read of the handler asks for
	gate              chan struct{} // if set, the writes begin once it is closed, not once the Read leads
	smallClientBuffer bool          // the client's receive buffer is made small before the tunnel opens
	configure         func(*Server)
}

// startStalledTunnel opens the tunnel of openStalledTunnel and waits
// for its Read to lead, but not for its writer to block.
func startStalledTunnel(t *testing.T, setup stalledSetup) *stalledTunnel {
	t.Helper()
	written := new(atomic.Int64)
	started := make(chan *stalledTunnel, 1)
	reads := make(chan stalledRead, 64)
	var configure []func(*Server)
	if setup.configure != nil {
		configure = append(configure, setup.configure)
	}
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		ctl := http.NewResponseController(w)
		ctl.Flush()
		b := r.Body.(*requestBody)
		if tc, ok := b.st.sc.c.(*net.TCPConn); ok {
			tc.SetWriteBuffer(4096)
		}
		started <- &stalledTunnel{b: b, sc: b.st.sc, ctl: ctl, reads: reads, written: written}
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			buf := make([]byte, setup.readSize)
			for {
				n, err := b.Read(buf)
				if n > 0 || err != nil {
					reads <- stalledRead{string(buf[:n]), err}
				}
				if err != nil {
					return
				}
			}
		}()
		if setup.gate != nil {
			<-setup.gate
		} else if !leading(b) {
			return // the test fails on it
		}
		p := bytes.Repeat([]byte("z"), setup.chunk)
		for range (64 << 20) / setup.chunk {
			if _, err := w.Write(p); err != nil || ctl.Flush() != nil {
				break
			}
			written.Add(1)
		}
		<-readDone
	}), configure...)
	rc := dialRaw(t, ts, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	rc.fr.WriteWindowUpdate(0, 1<<31-1-(1<<20)-65535)
	if tc, ok := rc.c.(*net.TCPConn); ok && setup.smallClientBuffer {
		tc.SetReadBuffer(4096)
	}
	rc.headers(1, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "a", ":path", "/")
	var s *stalledTunnel
	select {
	case s = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("tunnel handler did not start")
	}
	s.rc = rc
	waitLeading(t, s.b)
	t.Cleanup(func() { rc.c.Close() })
	return s
}

// waitWriterStalled waits until the handler's writer is blocked: it has
// written nothing for a while (setup only: were it not blocked, the test
// would pass without testing).
func (s *stalledTunnel) waitWriterStalled(t *testing.T) {
	t.Helper()
	last, still := int64(-1), 0
	for i := 0; still < 5; i++ {
		if i == 200 {
			t.Fatal("the writer never blocked")
		}
		time.Sleep(100 * time.Millisecond)
		if n := s.written.Load(); n == last {
			still++
		} else {
			last, still = n, 0
		}
	}
}

// nextRead returns the tunnel's next Read, failing t after 10 s.
func (s *stalledTunnel) nextRead(t *testing.T, what string) stalledRead {
	t.Helper()
	select {
	case r := <-s.reads:
		return r
	case <-time.After(10 * time.Second):
		s.sc.mu.Lock()
		state := fmt.Sprintf("leading %v, stepping %v, pending %d", s.sc.leader == s.b.st, s.sc.leaderStepping, s.sc.pending.Load())
		s.sc.mu.Unlock()
		t.Fatalf("%s: the tunnel's Read has not returned after 10 s (%s)", what, state)
		return stalledRead{}
	}
}

// TestLeadReadDeadlineWhileWriteBlocks: the client's PING reaches a
// tunnel whose writer is blocked, holding the write lock, in a write of
// 16 KiB (in the write itself) or of 1 KiB (in the flush each write
// makes after counting itself out of pending). Whoever answers the PING
// waits for that write; the tunnel's Read must still end at its
// deadline.
func TestLeadReadDeadlineWhileWriteBlocks(t *testing.T) {
	for _, chunk := range []int{16 << 10, 1 << 10} {
		t.Run(map[int]string{16 << 10: "write", 1 << 10: "flush"}[chunk], func(t *testing.T) {
			s := openStalledTunnel(t, chunk)
			s.rc.fr.WritePing(false, [8]byte{'s', 't', 'u', 'c', 'k'})
			waitState(t, s.sc, "the PING read", func() bool { return s.sc.leader != s.b.st || !s.sc.leaderBlocked })
			s.ctl.SetReadDeadline(time.Now())
			if r := s.nextRead(t, "read deadline"); !errors.Is(r.err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read: %+v, want os.ErrDeadlineExceeded", r)
			}
		})
	}
}

// TestLeadReadReturnsWhileWriteBlocked: two DATA frames for the tunnel
// arrive in one read while its writer is blocked holding the write lock.
// The Read must return the first at once: with the second buffered, the
// frames its reading held back are flushed by the lock's holder, not
// waited for.
func TestLeadReadReturnsWhileWriteBlocked(t *testing.T) {
	s := openStalledTunnel(t, 16<<10)
	sendTogether(t, s.rc, func(fr *http2.Framer) {
		fr.WriteData(1, false, []byte("one"))
		fr.WriteData(1, false, []byte("two"))
	})
	if r := s.nextRead(t, "DATA"); r.err != nil || r.data != "one" && r.data != "onetwo" {
		t.Fatalf("Read: %+v, want one (or onetwo)", r)
	}
}
