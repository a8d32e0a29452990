package h2

import (
	"errors"
	"io"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// within fails t if done does not close within 10 seconds: a hang, not a
// timing threshold.
func within(t *testing.T, what string, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still waiting after 10s", what)
		return nil
	}
}

// havePollWake reports whether the system has pollWake (Linux), closing
// the one it makes to find out.
func havePollWake() bool {
	w := newPollWake()
	if w == nil {
		return false
	}
	w.close()
	return true
}

// TestPollWake checks the eventfd wake-up: a wake before the wait, one
// during it, and a close during it all end the wait, and no wake is lost
// or left over.
func TestPollWake(t *testing.T) {
	w := newPollWake()
	if w == nil {
		if runtime.GOOS == "linux" {
			t.Fatal("newPollWake failed on Linux: every tunnel Read would wait on the Cond")
		}
		t.Skip("no pollWake on this system (the Cond is used)")
	}
	defer w.close()
	w.wake()
	if err := w.wait(); err != nil {
		t.Fatalf("wait after wake: %v", err)
	}
	for i := range 3 {
		done := make(chan error, 1)
		go func() { done <- w.wait() }()
		w.wake()
		if err := within(t, "wait woken while waiting", done); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- w.wait() }()
	runtime.Gosched()
	w.close()
	if err := within(t, "wait when closed", done); err == nil {
		t.Fatal("wait returned nil after close, want an error")
	}
}

// TestTunnelReadWakes checks that a tunnel's (CONNECT) body Read that
// waits is woken by each thing that ends a wait: data, the client's
// END_STREAM and RST_STREAM, a read deadline, Close from another
// goroutine, the connection's end. It waits in one of two ways: in the
// poller, while another stream is open and the read loop reads; or, as
// the connection's only stream, reading the connection itself (lead.go),
// blocked in the read that a deadline in the past interrupts. With
// GOMAXPROCS=1 a Read that waits while the read loop reads waits on the
// Cond and gets its data all the same.
func TestTunnelReadWakes(t *testing.T) {
	for _, mode := range []string{"poller", "leading"} {
		t.Run(mode, func(t *testing.T) { testTunnelReadWakes(t, mode == "leading") })
	}
}

func testTunnelReadWakes(t *testing.T, leading bool) {
	if !leading && !havePollWake() {
		t.Skip("no pollWake on this system")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	type result struct {
		data   string
		err    error
		polled bool // the stream's Read has an eventfd
		led    bool // the stream's Read read the connection
	}
	results := make(chan result, 16)
	bodies := make(chan *requestBody, 1)
	ts := newTestServer(t, holding(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/deadline" {
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		}
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		b := r.Body.(*requestBody)
		bodies <- b
		buf := make([]byte, 64)
		led := false
		for {
			n, err := b.Read(buf)
			b.st.sc.mu.Lock()
			polled := b.st.pw != nil
			led = led || b.st.sc.leader == b.st
			b.st.sc.mu.Unlock()
			results <- result{string(buf[:n]), err, polled, led}
			if err != nil {
				return
			}
		}
	}))
	next := func(what string) result {
		t.Helper()
		return nextRead(t, results, what)
	}
	// waiting waits (bounded) until b's Read waits: in the poller, or in
	// the connection's read as its reader.
	waiting := func(b *requestBody) {
		t.Helper()
		for i := 0; ; i++ {
			sc := b.st.sc
			sc.mu.Lock()
			w := b.st.pwWaiting && sc.leader == nil
			if leading {
				w = sc.leader == b.st && sc.leaderBlocked
			}
			sc.mu.Unlock()
			if w {
				return
			}
			if i == 10000 {
				t.Fatal("the handler's Read never waited")
			}
			time.Sleep(time.Millisecond)
		}
	}
	open := func(rc *rawConn, id uint32, path string) *requestBody {
		t.Helper()
		return openTunnelPath(t, rc, id, path, bodies)
	}
	how := func(r result) bool {
		if leading {
			return r.led
		}
		return r.polled && !r.led
	}
	rc := dialRaw(t, ts)
	if !leading {
		rc.post(101, "/hold") // a second stream: the read loop reads
	}
	id := uint32(1)
	if !leading {
		id = 103
	}
	nextID := func() uint32 { id += 2; return id - 2 }

	// Data, then END_STREAM.
	sid := nextID()
	b := open(rc, sid, "/data")
	waiting(b)
	rc.fr.WriteData(sid, false, []byte("hello"))
	if r := next("data"); r.data != "hello" || r.err != nil || !how(r) {
		t.Errorf("data: %+v, want hello, no error, waited %s", r, map[bool]string{true: "reading", false: "in the poller"}[leading])
	}
	waiting(b)
	rc.fr.WriteData(sid, true, nil)
	if r := next("END_STREAM"); r.err == nil || r.data != "" {
		t.Errorf("END_STREAM: %+v, want io.EOF", r)
	}

	// RST_STREAM.
	sid = nextID()
	b = open(rc, sid, "/rst")
	waiting(b)
	rc.fr.WriteRSTStream(sid, http2.ErrCodeCancel)
	if r := next("RST_STREAM"); r.err == nil {
		t.Errorf("RST_STREAM: %+v, want an error", r)
	}

	// Read deadline.
	open(rc, nextID(), "/deadline")
	if r := next("read deadline"); !errors.Is(r.err, os.ErrDeadlineExceeded) || !how(r) {
		t.Errorf("read deadline: %+v, want os.ErrDeadlineExceeded, waited as the mode says", r)
	}

	// Close from another goroutine.
	b = open(rc, nextID(), "/close")
	waiting(b)
	b.Close()
	if r := next("Close"); !errors.Is(r.err, errBodyClosed) {
		t.Errorf("Close: %+v, want errBodyClosed", r)
	}

	if !leading {
		// GOMAXPROCS=1: the Cond, for a stream whose first wait sees it.
		runtime.GOMAXPROCS(1)
		sid = nextID()
		open(rc, sid, "/cond")
		time.Sleep(10 * time.Millisecond) // most likely waiting; either way the data must come
		rc.fr.WriteData(sid, false, []byte("x"))
		if r := next("data, GOMAXPROCS=1"); r.data != "x" || r.err != nil || r.polled {
			t.Errorf("GOMAXPROCS=1: %+v, want x, no error, not through the poller", r)
		}
		rc.fr.WriteRSTStream(sid, http2.ErrCodeCancel)
		next("RST_STREAM, GOMAXPROCS=1")
		runtime.GOMAXPROCS(2)
	}

	// The connection's end.
	b = open(rc, nextID(), "/conn")
	waiting(b)
	rc.c.Close()
	if r := next("connection closed"); r.err == nil {
		t.Errorf("connection closed: %+v, want an error", r)
	}
}

// holding serves h, and POST /hold with a handler that reads its body
// until the stream ends: a stream to keep open beside tunnels, so that
// the connection's read loop reads and their Reads wait in the poller
// (or on the Cond) rather than reading the connection (lead.go).
func holding(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			io.Copy(io.Discard, r.Body)
			return
		}
		h(w, r)
	})
}

// nextRead returns what a handler's Read reported on results, failing t
// if it reports nothing within 10 s (a Read that was never woken).
func nextRead[T any](t *testing.T, results <-chan T, what string) T {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the handler's Read still waits after 10s", what)
		var zero T
		return zero
	}
}
