package h2

import (
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestFlushSoonBehindDecidedHolder replays, step by step, a leader's
// wait point (step: batching.Store(false); flushSoon) against a writer
// that holds wmu and has already read batching as true (writeLocked's
// "pending.Add(-1) != 0 || batching.Load()" branch, before its Unlock):
// the PING ACK the leader answered must still go out. flushSoon's
// TryLock fails there; it left the flush to the holder, which had
// decided not to make it, and the ACK stayed in the buffer (found by a
// review, stop 26): now a goroutine waits for wmu and flushes.
func TestFlushSoonBehindDecidedHolder(t *testing.T) {
	scs := make(chan *serverConn, 1)
	release := make(chan struct{})
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scs <- r.Body.(*requestBody).st.sc
		<-release
	}))
	defer close(release)
	rc := dialRaw(t, ts)
	rc.post(3, "/hold")
	sc := <-scs
	rc.ping() // answered: the read loop has flushed and waits for input, and leaves batching alone

	// The leader has read a PING (batching set for it) and answers it.
	sc.batching.Store(true)
	sc.write(nil, func() error { return sc.fr.WritePing(true, [8]byte{9, 9, 9, 9, 9, 9, 9, 9}) })

	// A writer (a tunnel's other goroutine, a Read's credit) that has
	// written its frame and read batching true, about to Unlock.
	decided, leave, left := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		sc.pending.Add(1)
		sc.wmu.Lock()
		sc.fr.WriteWindowUpdate(0, 1)
		sc.dirty = true
		if sc.pending.Add(-1) != 0 || sc.batching.Load() {
			close(decided)
			<-leave
			sc.wmu.Unlock()
		}
		close(left)
	}()
	<-decided
	// The leader's wait point in step.
	sc.batching.Store(false)
	sc.flushSoon()
	close(leave)
	<-left

	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			t.Fatalf("no PING ACK within 10s (%v): lost flush; dirty=%v", err, func() bool { sc.wmu.Lock(); defer sc.wmu.Unlock(); return sc.dirty }())
		}
		if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
			return
		}
	}
}
