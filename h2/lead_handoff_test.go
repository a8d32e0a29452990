package h2

import (
	"bytes"
	"net/http"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// sendTogether writes the frames built by fn in one Write on rc's conn.
func sendTogether(t *testing.T, rc *rawConn, fn func(fr *http2.Framer)) {
	t.Helper()
	var buf bytes.Buffer
	fn(http2.NewFramer(&buf, nil))
	if _, err := rc.c.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// pingWithin sends a PING and fails if its ACK does not come in d
// (a hang, not a timing threshold: the reclaim is 2 ms).
func pingWithin(t *testing.T, rc *rawConn, sc *serverConn, d time.Duration, what string) {
	t.Helper()
	data := [8]byte{'r', 'e', 'v', 'i', 'e', 'w'}
	rc.fr.WritePing(false, data)
	rc.c.SetReadDeadline(time.Now().Add(d))
	defer rc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			if sc != nil {
				sc.mu.Lock()
				t.Logf("state: leader set %v, stepping %v, leaderBlocked %v, loopBlocked %v, leadTimerSet %v, sendWaiters %d, streams %d",
					sc.leader != nil, sc.leaderStepping, sc.leaderBlocked, sc.loopBlocked, sc.leadTimerSet, sc.sendWaiters, len(sc.streams))
				sc.mu.Unlock()
			}
			t.Fatalf("%s: no PING ACK within %v: %v", what, d, err)
		}
		if p, ok := f.(*http2.PingFrame); ok && p.IsAck() && p.Data == data {
			return
		}
	}
}

// waitState waits (bounded) until cond holds under sc.mu.
func waitState(t *testing.T, sc *serverConn, what string, cond func() bool) {
	t.Helper()
	for range 10000 {
		sc.mu.Lock()
		ok := cond()
		sc.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

// TestLeadTimerAfterWriteWoken: a duplex tunnel's Write waits for send
// window while its Read, in another goroutine, holds the reading; a
// WINDOW_UPDATE and DATA arrive together, so the Read returns and the
// Write is woken with window, neither reading any more. The reading must
// still be watched (the reclaim timer, doneStepping): while the reader
// goroutine is away a PING is answered ("ping"), and the client's
// closing the connection is seen, cancelling the request's context
// ("close"). Before 9e0615f no timer was set on this path and nobody
// read the connection.
func TestLeadTimerAfterWriteWoken(t *testing.T) {
	for _, mode := range []string{"ping", "close"} {
		t.Run(mode, func(t *testing.T) { testLeadTimerAfterWriteWoken(t, mode == "close") })
	}
}

func testLeadTimerAfterWriteWoken(t *testing.T, closeConn bool) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	gate := make(chan struct{})
	defer close(gate)
	ctxDone := make(chan error, 1)
	bodies := make(chan *requestBody, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		b := r.Body.(*requestBody)
		sc := b.st.sc
		bodies <- b
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 64)
			b.Read(buf) // "x"
			// Away, out of Read.
			select {
			case <-gate:
			case <-r.Context().Done():
				ctxDone <- nil
				return
			}
			for {
				if _, err := b.Read(buf); err != nil {
					return
				}
			}
		}()
		for {
			sc.mu.Lock()
			ok := sc.leader == b.st && sc.leaderBlocked
			sc.mu.Unlock()
			if ok {
				break
			}
			time.Sleep(time.Millisecond)
		}
		w.Write(bytes.Repeat([]byte("w"), 32)) // 16 now, 16 after WINDOW_UPDATE
		http.NewResponseController(w).Flush()
		<-done
	}))
	rc := dialRaw(t, ts, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 16})
	b := openTunnel(t, rc, 1, bodies)
	sc := b.st.sc
	if got := readData(t, rc, 1, 16, false); len(got) != 16 {
		t.Fatalf("first 16 bytes: %q", got)
	}
	waitState(t, sc, "Read leading, Write waiting for window", func() bool {
		return sc.leader == b.st && sc.leaderBlocked && sc.sendWaiters == 1
	})
	sendTogether(t, rc, func(fr *http2.Framer) {
		fr.WriteWindowUpdate(1, 16)
		fr.WriteData(1, false, []byte("x"))
	})
	if got := readData(t, rc, 1, 16, false); len(got) != 16 {
		t.Fatalf("rest: %q", got)
	}
	if !closeConn {
		pingWithin(t, rc, sc, 10*time.Second, "reader away after its Read returned")
		return
	}
	rc.c.Close()
	select {
	case <-ctxDone:
	case <-time.After(10 * time.Second):
		sc.mu.Lock()
		t.Logf("state: leader set %v, stepping %v, leadTimerSet %v, sendWaiters %d", sc.leader != nil, sc.leaderStepping, sc.leadTimerSet, sc.sendWaiters)
		sc.mu.Unlock()
		t.Fatal("the client closed the connection 10 s ago; the request's context is still not done")
	}
}

// TestLeadAfterOtherStreamCloses: a tunnel's Read that begins to wait
// while another stream is open cannot take the reading then; when the
// other stream leaves, the reading must be offered to it at once
// (offerLeadLocked), not only at its next Read. Before 9e0615f it was
// not, which also made TestTunnelReadWakes/leading flaky.
func TestLeadAfterOtherStreamCloses(t *testing.T) {
	bodies := make(chan *requestBody, 1)
	ts := leadServer(t, bodies, nil)
	rc := dialRaw(t, ts)
	rc.post(1, "/hold")
	b := openTunnel(t, rc, 3, bodies)
	sc := b.st.sc
	waitState(t, sc, "the tunnel's Read waiting", func() bool { return b.st.rdst != nil })
	rc.fr.WriteData(1, true, nil) // /hold ends
	rc.readUntil("end of /hold", func(f http2.Frame) bool {
		return f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagDataEndStream)
	})
	waitState(t, sc, "stream 1 gone", func() bool { return len(sc.streams) == 1 })
	if !leading(b) {
		t.Error("the tunnel is the connection's only stream and its Read waits, but it never takes the reading")
	}
	echo(t, rc, 3, "x")
	waitLeading(t, b) // after one message it does
	rc.fr.WriteData(3, true, nil)
}
