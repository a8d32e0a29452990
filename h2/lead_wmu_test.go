package h2

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// A tunnel's Read that holds the connection's reading while another
// goroutine's write is blocked by a client that reads nothing (lead.go):
// found by an attack review at stop 24.

// TestLeadNextReadWhileWriteBlocked: a tunnel's writer is blocked holding
// the write lock (its client reads nothing); its Read, in another
// goroutine, holds the reading and returns one DATA frame that came
// alone, then reads again, with nothing buffered. That Read must still
// end at its read deadline, promptly: it must not wait for the write
// lock (to flush) before it waits for input.
func TestLeadNextReadWhileWriteBlocked(t *testing.T) {
	s := openStalledTunnel(t, 16<<10)
	s.rc.fr.WriteData(1, false, []byte("one"))
	if r := s.nextRead(t, "DATA"); r.err != nil || r.data != "one" {
		t.Fatalf("Read: %+v, want one", r)
	}
	time.Sleep(50 * time.Millisecond) // the next Read is under way
	s.sc.mu.Lock()
	t.Logf("before the deadline: leading %v, stepping %v, leaderBlocked %v, loopBlocked %v, pending %d",
		s.sc.leader == s.b.st, s.sc.leaderStepping, s.sc.leaderBlocked, s.sc.loopBlocked, s.sc.pending.Load())
	s.sc.mu.Unlock()
	start := time.Now()
	s.ctl.SetReadDeadline(time.Now())
	r := s.nextRead(t, "read deadline")
	t.Logf("Read returned %+v after %v", r, time.Since(start))
	if !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read: %+v, want os.ErrDeadlineExceeded", r)
	}
}

// TestLeadCreditWhileWriteBlocked: a tunnel's handler has read 240 KiB,
// just under the quarter of its stream window (1 MiB) that earns a
// WINDOW_UPDATE, its Read holding the connection's reading; its writer
// then blocks holding the write lock (the client reads nothing) while
// the Read waits in fill, and 32 KiB more arrive, which the Read reads
// and returns: it owes the stream's WINDOW_UPDATE. The client then goes
// on sending PINGs, reading nothing. The connection must not be wedged:
// the PINGs must be read and the stall watchdog (peerStallTimeout,
// lowered) must end the connection, and the handler's Read return.
func TestLeadCreditWhileWriteBlocked(t *testing.T) {
	old := peerStallTimeout
	peerStallTimeout = 300 * time.Millisecond
	t.Cleanup(func() { peerStallTimeout = old }) // after the server's close
	gate := make(chan struct{})
	s := startStalledTunnel(t, stalledSetup{chunk: 16 << 10, readSize: 64 << 10, gate: gate,
		configure: func(s *Server) { s.MaxUploadBufferPerConnection = 16 << 20 }})
	rc, sc := s.rc, s.sc
	p := bytes.Repeat([]byte("d"), 16<<10)
	for range 15 { // 240 KiB
		rc.fr.WriteData(1, false, p)
	}
	for got := 0; got < 15*16<<10; {
		r := s.nextRead(t, "the first 240 KiB")
		if r.err != nil {
			t.Fatal(r.err)
		}
		got += len(r.data)
	}
	if tc, ok := rc.c.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	waitLeading(t, s.b) // in fill: the writer's blocking makes it take no step
	close(gate)
	s.waitWriterStalled(t)
	sendTogether(t, rc, func(fr *http2.Framer) { fr.WriteData(1, false, p); fr.WriteData(1, false, p) })
	time.Sleep(200 * time.Millisecond)
	sc.mu.Lock()
	t.Logf("after the 32 KiB: leading %v, stepping %v, leaderBlocked %v, loopBlocked %v, pending %d, leadTimerSet %v",
		sc.leader == s.b.st, sc.leaderStepping, sc.leaderBlocked, sc.loopBlocked, sc.pending.Load(), sc.leadTimerSet)
	sc.mu.Unlock()
	s.ctl.SetReadDeadline(time.Now())
	stopPings := make(chan struct{})
	defer close(stopPings)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stopPings:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if rc.fr.WritePing(false, [8]byte{byte(i)}) != nil {
				return
			}
		}
	}()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case r := <-s.reads:
			if r.err == nil {
				continue
			}
			t.Logf("Read ended: %v", r.err)
			return
		case <-deadline:
			sc.mu.Lock()
			t.Logf("leading %v, stepping %v, leaderBlocked %v, loopBlocked %v, pending %d, leadTimerSet %v, closing %v",
				sc.leader == s.b.st, sc.leaderStepping, sc.leaderBlocked, sc.loopBlocked, sc.pending.Load(), sc.leadTimerSet, sc.closing)
			sc.mu.Unlock()
			t.Fatal("10 s on, with the client sending PINGs and reading nothing, the connection is still up and the tunnel's Read has not ended (stall watchdog at 300 ms)")
		}
	}
}
