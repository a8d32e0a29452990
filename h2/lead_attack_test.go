package h2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Attacks on a connection while a tunnel's Read holds its reading
// (lead.go). The tunnel's handler then reads and answers every frame of
// the connection itself (step), so the read loop's defences must hold on
// that path too: the flood budget, the limits on streams and handlers,
// the stall watchdog; and when the tunnel ends, the reading must come
// back to the read loop with nothing lost.

// leadSteps returns how many steps tunnel Reads have begun on sc.
func leadSteps(sc *serverConn) uint64 {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.leadSteps
}

// waitServed waits (bounded) until ServeConn has returned for sc: the
// server no longer tracks it.
func waitServed(t *testing.T, sc *serverConn) {
	t.Helper()
	for range 10000 {
		sc.srv.mu.Lock()
		_, served := sc.srv.conns[sc]
		sc.srv.mu.Unlock()
		if !served {
			return
		}
		time.Sleep(time.Millisecond)
	}
	sc.mu.Lock()
	t.Logf("state: leader set %v, stepping %v, leaderBlocked %v, loopBlocked %v, pending %d, closing %v, failed %v, stalled %v",
		sc.leader != nil, sc.leaderStepping, sc.leaderBlocked, sc.loopBlocked, sc.pending.Load(), sc.closing, sc.failed.Load(), sc.stalled.Load())
	sc.mu.Unlock()
	t.Fatal("ServeConn has not returned after 10 s")
}

// attackPeaks samples the number of goroutines and the live heap
// (after a collection) until the function it returns is called, which
// returns the largest of each it saw, or t ends.
func attackPeaks(t *testing.T) func() (goroutines int, heap int64) {
	var mu sync.Mutex
	var peakG int
	var peakH int64
	sample := func() {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		n := runtime.NumGoroutine()
		mu.Lock()
		peakG, peakH = max(peakG, n), max(peakH, int64(ms.HeapAlloc))
		mu.Unlock()
	}
	sample()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			sample()
		}
	}()
	var once sync.Once
	end := func() {
		once.Do(func() {
			close(stop)
			<-done
		})
	}
	t.Cleanup(end)
	return func() (int, int64) {
		end()
		sample()
		mu.Lock()
		defer mu.Unlock()
		return peakG, peakH
	}
}

// quietLog silences a test server's debug lines: a flood's 10,000
// stream errors would each make one, and a test's log is kept in memory
// (the heap the flood tests measure).
func quietLog(s *Server) { s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) }

// leadFloodGoroutines bounds the goroutines a flood may add while it is
// read: the attack's own (the writer, the sampler) and a few timers;
// a goroutine a frame would be thousands.
const leadFloodGoroutines = 50

// leadFloodHeap bounds what the live heap may grow by while a flood of
// 3*floodBudget frames (some 500 KB on the wire, built before the
// baseline) is read and answered: the connection's buffers are a few
// times bufSize.
const leadFloodHeap = 4 << 20

// testLeadFlood attacks a tunnel's connection with 3*floodBudget frames
// made by frame (i counts them), in one write, while the tunnel's Read
// holds the reading: stream 1 is a GET answered and closed, the tunnel
// is stream 3, later IDs are idle. The flood must end with GOAWAY
// ENHANCE_YOUR_CALM before the PING that follows it is answered, and it
// must have been read by the tunnel's Read, as many frames of it as
// spend the flood budget (else the leading path was not tested), or, for
// a flood the server answers (answered), at least leadAnsweredMin
// frames: a leader holds its answers in the write buffer, which it never
// flushes itself, and hands the reading back to the read loop, whose
// budget then ends the flood, once they fill half of it; the
// tunnel's Read must end, ServeConn return, and the goroutines and the
// live heap stay bounded meanwhile (leadFloodGoroutines, leadFloodHeap).
// No refill of the budget matters: 3*floodBudget frames outlast the
// budget unless reading them took 20 s.
func testLeadFlood(t *testing.T, frame func(fr *http2.Framer, i int), answered bool) {
	checkGoroutines(t)
	bodies := make(chan *requestBody, 1)
	ends := make(chan error, 1)
	ts := newTestServer(t, tunnelOr(bodies, ends, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "other") }), quietLog)
	rc := dialRaw(t, ts)
	rc.get(1, "/other")
	if status, body := readResponse(t, rc, 1); status != "200" || body != "other" {
		t.Fatalf("GET: %s %q", status, body)
	}
	b := openTunnel(t, rc, 3, bodies)
	sc := b.st.sc
	waitLeading(t, b)

	var buf bytes.Buffer
	fr := http2.NewFramer(&buf, nil)
	fr.AllowIllegalWrites = true
	for i := range 3 * floodBudget {
		frame(fr, i)
	}
	after := [8]byte{'a', 'f', 't', 'e', 'r'}
	fr.WritePing(false, after)
	flood := buf.Bytes()

	base := int64(heapAlloc())
	baseG := runtime.NumGoroutine()
	steps := leadSteps(sc)
	peaks := attackPeaks(t)
	written := make(chan error, 1)
	go func() {
		_, err := rc.c.Write(flood)
		written <- err
	}()
	var acks int
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the answers to the flood: %v (after %d PING ACKs)", err, acks)
		}
		if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
			if p.Data == after {
				t.Fatalf("the whole flood of %d frames was served, and the PING after it answered: no GOAWAY ENHANCE_YOUR_CALM", 3*floodBudget)
			}
			acks++
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			if g.ErrCode != http2.ErrCodeEnhanceYourCalm {
				t.Fatalf("GOAWAY %v (%q), want ENHANCE_YOUR_CALM", g.ErrCode, g.DebugData())
			}
			break
		}
	}
	led := leadSteps(sc) - steps
	peakG, peakH := peaks()
	t.Logf("GOAWAY ENHANCE_YOUR_CALM after %d PING ACKs; the tunnel's Read took %d steps; at most %d more goroutines and %d more bytes of live heap meanwhile",
		acks, led, peakG-baseG, peakH-base)
	runtime.KeepAlive(b) // the connection, and what it holds, was reachable while the heap was measured
	// A frame of the flood spends one unit of the budget, or two (empty
	// DATA on a reset stream: ignored, and empty); the connection's
	// setup spent a few.
	switch {
	case answered && led < leadAnsweredMin:
		t.Errorf("the tunnel's Read took %d steps of the flood, want at least %d: the flood was not read while it led", led, leadAnsweredMin)
	case !answered && led < floodBudget/2-100:
		t.Errorf("the tunnel's Read took %d steps of the flood, too few to have spent the flood budget (%d): the flood was not read while it led", led, floodBudget)
	}
	checkPeaks(t, "the flood was read", peakG-baseG, peakH-base)
	if err := within(t, "the tunnel's Read after ENHANCE_YOUR_CALM", ends); err == nil {
		t.Error("the tunnel's Read returned no error after the connection failed")
	}
	rc.c.Close()
	waitServed(t, sc)
	<-written
}

// leadAnsweredMin is the fewest frames of an answered flood the tunnel's
// Read must read before it hands the reading back: half the write
// buffer holds some 900 PING ACKs, the largest of the answers.
const leadAnsweredMin = 500

// checkPeaks fails t if an attack added more than leadFloodGoroutines
// goroutines or leadFloodHeap bytes of live heap while what happened.
func checkPeaks(t *testing.T, what string, goroutines int, heap int64) {
	t.Helper()
	if goroutines > leadFloodGoroutines {
		t.Errorf("%d more goroutines than before the attack while %s (bound %d)", goroutines, what, leadFloodGoroutines)
	}
	if heap > leadFloodHeap {
		t.Errorf("the live heap grew by %d bytes while %s (bound %d)", heap, what, leadFloodHeap)
	}
}

// TestLeadAttackPingFlood attacks a tunnel's connection with a PING
// flood (3*floodBudget PINGs, each answered with an ACK) while the
// tunnel's Read holds the reading: the tunnel's Read must spend the flood
// budget as the read loop does, and the connection end with GOAWAY
// ENHANCE_YOUR_CALM, the tunnel's Read with an error and ServeConn
// returning; goroutines stay bounded during the flood and come back to
// the baseline after it (checkGoroutines), and the live heap grows by no
// more than a few buffers (testLeadFlood).
func TestLeadAttackPingFlood(t *testing.T) {
	testLeadFlood(t, func(fr *http2.Framer, i int) { fr.WritePing(false, [8]byte{'f', byte(i), byte(i >> 8)}) }, true)
}

// TestLeadAttackFloods attacks a tunnel's connection, while the
// tunnel's Read holds the reading, with a SETTINGS flood (each frame
// answered with an ACK) and floods of empty DATA frames (CVE-2019-9518),
// on the tunnel itself and on a stream the server reset, as TestFloods
// attacks the read loop. Each must end as it does there, with GOAWAY
// ENHANCE_YOUR_CALM, having been read by the tunnel's Read, with the
// bounds of testLeadFlood.
func TestLeadAttackFloods(t *testing.T) {
	for _, tc := range []struct {
		name     string
		frame    func(fr *http2.Framer, i int)
		answered bool // the server answers a frame of the flood
	}{
		{"SETTINGS", func(fr *http2.Framer, i int) { fr.WriteSettings() }, true},
		{"empty DATA on the tunnel", func(fr *http2.Framer, i int) { fr.WriteData(3, false, nil) }, false},
		{"empty DATA on a reset stream", func(fr *http2.Framer, i int) {
			if i == 0 {
				// A malformed request that leaves its stream open: the
				// server resets it, and remembers it for DATA in flight.
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: []byte{0x82}, EndHeaders: true})
				return
			}
			fr.WriteData(5, false, nil)
		}, true}, // the reset is an answer: its flush, by a goroutine, may meet the flood's next frame
	} {
		t.Run(tc.name, func(t *testing.T) { testLeadFlood(t, tc.frame, tc.answered) })
	}
}

// TestLeadAttackOtherFloods attacks a tunnel's connection, while the
// tunnel's Read holds the reading, with the other floods the read loop
// budgets (TestFloods): RST_STREAM on a closed stream, PRIORITY, frames
// of an unknown type, empty CONTINUATION frames (counted as the Framer
// reads them, by frameMeter) and malformed requests (stream errors).
// Each must end with GOAWAY ENHANCE_YOUR_CALM, having been read by the
// tunnel's Read, with the bounds of testLeadFlood.
func TestLeadAttackOtherFloods(t *testing.T) {
	for _, tc := range []struct {
		name     string
		frame    func(fr *http2.Framer, i int)
		answered bool // the server answers a frame of the flood
	}{
		{"RST_STREAM on a closed stream", func(fr *http2.Framer, i int) { fr.WriteRSTStream(1, http2.ErrCodeCancel) }, false},
		{"PRIORITY", func(fr *http2.Framer, i int) { fr.WritePriority(5, http2.PriorityParam{StreamDep: 0, Weight: 1}) }, false},
		{"unknown frame type", func(fr *http2.Framer, i int) { fr.WriteRawFrame(0xfa, 0, 0, nil) }, false},
		{"empty CONTINUATION", func(fr *http2.Framer, i int) {
			if i == 0 {
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: []byte{0x82}})
				return
			}
			fr.WriteContinuation(5, false, nil)
		}, false},
		{"malformed requests", func(fr *http2.Framer, i int) {
			// :method GET only, on a new stream each time: refused with
			// PROTOCOL_ERROR.
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 5), BlockFragment: []byte{0x82}, EndStream: true, EndHeaders: true})
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testLeadFlood(t, tc.frame, tc.answered) })
	}
}

// TestLeadAttackRapidReset attacks a tunnel's connection, while the
// tunnel's Read holds the reading, with 500 streams opened and reset at
// once (CVE-2023-44487), in one write, whose handlers outlive the reset.
// With MaxConcurrentStreams 8, the tunnel's handler and 7 of theirs take
// the handler slots, 8 more streams wait for one, and every other one is
// refused with REFUSED_STREAM, before the PING that follows is answered;
// the connection is not ended, whether the tunnel's Read reads the whole
// attack or hands the reading back to the read loop part way through
// (when the flush of its answers is still under way as it reads on). No
// more than those 7 handlers ever run,
// even once they return: the 8 queued streams were reset, so theirs
// never run. The tunnel echoes on, and its Read leads again once the
// queue is empty.
func TestLeadAttackRapidReset(t *testing.T) {
	checkGoroutines(t)
	const limit, n = 8, 500
	var mu sync.Mutex
	running, peak, ran := 0, 0, 0
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	bodies := make(chan *requestBody, 1)
	ts := newTestServer(t, tunnelOr(bodies, nil, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		running++
		ran++
		peak = max(peak, running)
		mu.Unlock()
		<-r.Context().Done()
		<-release
		mu.Lock()
		running--
		mu.Unlock()
	}), func(s *Server) { s.MaxConcurrentStreams = limit })
	t.Cleanup(unblock)
	rc := dialRaw(t, ts)
	b := openTunnel(t, rc, 1, bodies)
	sc := b.st.sc
	waitLeading(t, b)
	steps := leadSteps(sc)
	after := [8]byte{'r', 'e', 's', 'e', 't'}
	sendTogether(t, rc, func(fr *http2.Framer) {
		for i := range uint32(n) {
			id := 2*i + 3
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: requestBlock(rc), EndStream: true, EndHeaders: true})
			fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		fr.WritePing(false, after)
	})
	refused := 0
	rc.readUntil("the PING after the resets", func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			if f.ErrCode != http2.ErrCodeRefusedStream {
				t.Fatalf("RST_STREAM %v on stream %d, want REFUSED_STREAM", f.ErrCode, f.StreamID)
			}
			refused++
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v (%q): the connection ended", f.ErrCode, f.DebugData())
		case *http2.PingFrame:
			return f.IsAck() && f.Data == after
		}
		return false
	})
	led := leadSteps(sc) - steps
	t.Logf("%d of %d streams refused; the tunnel's Read took %d steps", refused, n, led)
	// The tunnel's Read reads the attack until it finds the flush of its
	// answers (the refusals) still under way, which it never waits for:
	// then the read loop reads the rest. Either way the limits hold.
	if led < 2 {
		t.Errorf("the tunnel's Read took %d steps: the attack was not read while it led", led)
	}
	if want := n - (limit - 1) - limit; refused != want {
		t.Errorf("%d streams refused, want %d (%d streams, %d handler slots of which the tunnel has one, %d queued)", refused, want, n, limit, limit)
	}
	echo(t, rc, 1, "during")
	unblock()
	waitState(t, sc, "the queue empty, only the tunnel's handler running", func() bool { return len(sc.queued) == 0 && sc.running == 1 })
	mu.Lock()
	p, r := peak, ran
	mu.Unlock()
	if p > limit-1 {
		t.Errorf("%d handlers of the reset streams ran at once beside the tunnel's, limit %d in all", p, limit)
	}
	if r != limit-1 {
		t.Errorf("%d handlers of the reset streams ran, want %d: the queued streams were reset before they had a slot", r, limit-1)
	}
	echo(t, rc, 1, "after")
	waitLeading(t, b)
	rc.ping()
}

// TestLeadAttackPeerNotReading attacks a tunnel whose client reads
// nothing: the handler's writes block, one of them holding the write
// lock, while its Read, in another goroutine, holds the connection's
// reading (openStalledTunnel); the client then floods 3*floodBudget
// PINGs in one write, whose ACKs cannot be written. The connection must
// not hang: the stall watchdog (peerStallTimeout, lowered) ends it, the
// tunnel's Read ends with an error, and ServeConn returns. Nor may it
// take the flood in and hold its answers: the server handles no more
// than a few of the PINGs (it spends no more of the flood budget), and
// goroutines and the live heap stay bounded meanwhile; no goroutine is
// left after.
func TestLeadAttackPeerNotReading(t *testing.T) {
	checkGoroutines(t)
	old := peerStallTimeout
	peerStallTimeout = 300 * time.Millisecond
	t.Cleanup(func() { peerStallTimeout = old }) // after the server's close
	s := openStalledTunnel(t, 16<<10)
	sc := s.sc
	var buf bytes.Buffer
	fr := http2.NewFramer(&buf, nil)
	for i := range 3 * floodBudget {
		fr.WritePing(false, [8]byte{'s', byte(i), byte(i >> 8)})
	}
	flood := buf.Bytes()
	base := int64(heapAlloc())
	baseG := runtime.NumGoroutine()
	peaks := attackPeaks(t)
	written := make(chan error, 1)
	go func() {
		_, err := s.rc.c.Write(flood)
		written <- err
	}()
	waitServed(t, sc)
	peakG, peakH := peaks()
	// ServeConn has returned (waitServed saw it under the server's
	// mutex): the read loop's budget may be read.
	spent := floodBudget - sc.budget
	t.Logf("at most %d more goroutines and %d more bytes of live heap while the connection was stuck; %d frames spent the flood budget",
		peakG-baseG, peakH-base, spent)
	runtime.KeepAlive(s) // the connection, and what it holds, was reachable while the heap was measured
	if !sc.stalled.Load() {
		t.Error("the connection ended, but not by the stall watchdog")
	}
	if spent > 100 {
		t.Errorf("the server handled some %d frames of the flood while its writes were blocked: it read on, holding their answers", spent)
	}
	checkPeaks(t, "the connection was stuck", peakG-baseG, peakH-base)
	for {
		r := s.nextRead(t, "the end of the connection")
		if r.err != nil {
			break
		}
	}
	s.rc.c.Close()
	<-written
}

// TestLeadAttackPeerNotReadingAcks attacks a tunnel whose handler only
// reads, its Read holding the connection's reading, with a client that
// floods PINGs and reads nothing: the ACKs the tunnel's Read answers
// fill the connection, and a write of them blocks (the read loop's, or,
// leading, the Read's own flush before it waits for input). A read
// deadline then set by the handler must end its Read with
// os.ErrDeadlineExceeded, as it does when the read loop reads, which
// waits for the write in the Read's place (lead.go: a handler's reading
// must never wait for a write it cannot be woken from): not only once
// the stall watchdog (peerStallTimeout, 30 s by default, left so) closes
// the connection.
func TestLeadAttackPeerNotReadingAcks(t *testing.T) {
	checkGoroutines(t)
	gate := make(chan struct{}) // the handler writes nothing until the test ends
	s := startStalledTunnel(t, stalledSetup{chunk: 1 << 10, readSize: 64, gate: gate, smallClientBuffer: true})
	t.Cleanup(func() { close(gate) })
	sc := s.sc
	stop := make(chan struct{})
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if s.rc.fr.WritePing(false, [8]byte{'a', 'c', 'k', byte(i), byte(i >> 8)}) != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		s.rc.c.Close()
		<-flooded
	}()
	// Setup: wait until a write of the connection is blocked, its
	// watchdog armed at the same instant across 5 looks 20 ms apart (were
	// it not blocked, the test would pass without testing).
	var last int64
	for i, still := 0, 0; still < 5; i++ {
		if i == 500 {
			t.Fatal("no write of the connection ever blocked")
		}
		time.Sleep(20 * time.Millisecond)
		if at := sc.stallAt.Load(); at != 0 && at == last {
			still++
		} else {
			last, still = at, 0
		}
	}
	sc.mu.Lock()
	t.Logf("a write blocked: the tunnel's Read leading %v, stepping %v", sc.leader == s.b.st, sc.leaderStepping)
	sc.mu.Unlock()
	s.ctl.SetReadDeadline(time.Now())
	if r := s.nextRead(t, "a read deadline set while the ACKs' write is blocked"); !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read: %+v, want os.ErrDeadlineExceeded", r)
	}
}

// leadEnding is a tunnel of TestLeadAttackTunnelEnds, as its handler
// begins.
type leadEnding struct {
	b    *requestBody
	read chan error    // the error that ended its Read
	ret  chan struct{} // /return: closed to make the handler return
}

// TestLeadAttackTunnelEnds ends a tunnel while its Read holds the
// connection's reading and frames for the connection are in flight:
// RST_STREAM of the tunnel, or its END_STREAM (the handler echoes the
// last DATA and returns), in one write with the frames around them, or
// the handler returning, while another goroutine's Read leads, as those
// frames arrive. The frames are PINGs before and after the end, a GET
// on another stream, SETTINGS, a new tunnel and a last PING. None may be
// lost: every PING is answered, in order, the GET and the SETTINGS too;
// the tunnel's Read ends with the error of how it ended; the read loop
// takes the reading back, and the new tunnel's Read leads in turn (the
// next round ends it). No goroutine is left.
func TestLeadAttackTunnelEnds(t *testing.T) {
	checkGoroutines(t)
	starts := make(chan leadEnding, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			io.WriteString(w, "other")
			return
		}
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		e := leadEnding{b: r.Body.(*requestBody), read: make(chan error, 1), ret: make(chan struct{})}
		buf := make([]byte, 64)
		if r.URL.Path == "/return" {
			go func() {
				for {
					if _, err := e.b.Read(buf); err != nil {
						e.read <- err
						return
					}
				}
			}()
			starts <- e
			<-e.ret
			return // while the other goroutine's Read leads
		}
		starts <- e
		for {
			n, err := e.b.Read(buf)
			if n > 0 {
				w.Write(buf[:n])
				http.NewResponseController(w).Flush()
			}
			if err != nil {
				e.read <- err
				return
			}
		}
	}))
	rc := dialRaw(t, ts)
	connect := func(path string) []byte {
		rc.hbuf.Reset()
		for _, f := range [][2]string{{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "http"}, {":authority", "a"}, {":path", path}} {
			rc.henc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		return append([]byte(nil), rc.hbuf.Bytes()...)
	}
	started := func(what string) leadEnding {
		t.Helper()
		select {
		case e := <-starts:
			return e
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the tunnel's handler did not start", what)
			return leadEnding{}
		}
	}
	hows := []string{"rst", "end", "return", "rst", "end", "return", "return", "end", "rst"}
	id := uint32(1)
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: connect("/" + hows[0]), EndHeaders: true})
	e := started("the first tunnel")
	const pings = 16
	for round, how := range hows {
		what := fmt.Sprintf("round %d (%s)", round, how)
		rc.c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a round takes milliseconds
		sc := e.b.st.sc
		waitLeading(t, e.b)
		ping := func(k int) [8]byte { return [8]byte{'e', 'n', 'd', byte(round), byte(k)} }
		// The first PINGs, read by the tunnel's Read, which then waits
		// for more, leading.
		steps := leadSteps(sc)
		sendTogether(t, rc, func(fr *http2.Framer) {
			for k := range pings {
				fr.WritePing(false, ping(k))
			}
		})
		waitState(t, sc, what+": the first PINGs read by the tunnel's Read, leading again", func() bool {
			return sc.leader == e.b.st && sc.leaderBlocked && sc.leadSteps-steps >= pings
		})
		next := "/" + hows[(round+1)%len(hows)]
		if how == "return" {
			close(e.ret)
		}
		sendTogether(t, rc, func(fr *http2.Framer) {
			switch how {
			case "rst":
				fr.WriteRSTStream(id, http2.ErrCodeCancel)
			case "end":
				fr.WriteData(id, true, []byte("bye"))
			}
			for k := pings; k < 2*pings; k++ {
				fr.WritePing(false, ping(k))
			}
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id + 2, BlockFragment: requestBlock(rc), EndStream: true, EndHeaders: true})
			fr.WriteSettings()
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id + 4, BlockFragment: connect(next), EndHeaders: true})
			fr.WritePing(false, ping(2*pings))
		})
		acks, settingsAcks := 0, 0
		var got, bye bytes.Buffer
		getDone, byeDone, rstDone := false, how != "end", how != "return"
		for acks <= 2*pings || !getDone || !byeDone || !rstDone {
			f, err := rc.fr.ReadFrame()
			if err != nil {
				t.Fatalf("%s: %v, after %d PING ACKs, GET done %v, echo done %v, RST_STREAM %v", what, err, acks, getDone, byeDone, rstDone)
			}
			switch f := f.(type) {
			case *http2.PingFrame:
				if !f.IsAck() {
					continue
				}
				if f.Data != ping(acks) {
					t.Fatalf("%s: PING ACK %v after %d of them, want %v: a PING lost, or answered out of order", what, f.Data, acks, ping(acks))
				}
				acks++
			case *http2.SettingsFrame:
				if f.IsAck() {
					settingsAcks++
				}
			case *http2.GoAwayFrame:
				t.Fatalf("%s: GOAWAY %v (%q)", what, f.ErrCode, f.DebugData())
			case *http2.RSTStreamFrame:
				// A handler that returns while the client may still
				// send asks it to stop (RFC 9113 section 8.1).
				if how != "return" || f.StreamID != id || f.ErrCode != http2.ErrCodeNo {
					t.Fatalf("%s: RST_STREAM %v on stream %d", what, f.ErrCode, f.StreamID)
				}
				rstDone = true
			case *http2.DataFrame:
				switch f.StreamID {
				case id + 2:
					got.Write(f.Data())
					getDone = f.StreamEnded()
				case id:
					bye.Write(f.Data())
					byeDone = byeDone || f.StreamEnded()
				}
			case *http2.MetaHeadersFrame:
				if f.StreamID == id+2 && f.PseudoValue("status") != "200" {
					t.Fatalf("%s: GET answered %s", what, f.PseudoValue("status"))
				}
			}
		}
		if got.String() != "other" {
			t.Errorf("%s: GET body %q, want \"other\"", what, got.String())
		}
		if how == "end" && bye.String() != "bye" {
			t.Errorf("%s: the tunnel echoed %q before it ended, want \"bye\"", what, bye.String())
		}
		if settingsAcks == 0 {
			t.Errorf("%s: no SETTINGS ACK", what)
		}
		err := within(t, what+": the tunnel's Read", e.read)
		switch {
		case how == "rst" && (err == nil || err == io.EOF):
			t.Errorf("%s: Read ended with %v, want the reset's error", what, err)
		case how == "end" && err != io.EOF:
			t.Errorf("%s: Read ended with %v, want io.EOF", what, err)
		case how == "return" && !errors.Is(err, errBodyClosed):
			t.Errorf("%s: Read ended with %v, want errBodyClosed", what, err)
		}
		waitState(t, sc, what+": the ended tunnel gone, not holding the reading", func() bool {
			return sc.leader != e.b.st && sc.streams[id] == nil
		})
		e = started(what + ": the next tunnel")
		id += 4
	}
	waitLeading(t, e.b)
	close(e.ret)
	rc.fr.WriteRSTStream(id, http2.ErrCodeCancel)
	within(t, "the last tunnel's Read", e.read)
	rc.ping()
}
