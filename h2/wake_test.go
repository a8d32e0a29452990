package h2

import (
	"errors"
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

// TestTunnelReadWakes checks that a tunnel's (CONNECT) body Read waiting
// in the poller is woken by each thing that ends a wait: data, the
// client's END_STREAM and RST_STREAM, a read deadline, Close from another
// goroutine, the connection's end; and that with GOMAXPROCS=1 it waits on
// the Cond and gets its data all the same.
func TestTunnelReadWakes(t *testing.T) {
	if !havePollWake() {
		t.Skip("no pollWake on this system")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	type result struct {
		data   string
		err    error
		polled bool // the stream's Read has an eventfd
	}
	results := make(chan result, 16)
	bodies := make(chan *requestBody, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/deadline" {
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		}
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		b := r.Body.(*requestBody)
		bodies <- b
		buf := make([]byte, 64)
		for {
			n, err := b.Read(buf)
			b.st.sc.mu.Lock()
			polled := b.st.pw != nil
			b.st.sc.mu.Unlock()
			results <- result{string(buf[:n]), err, polled}
			if err != nil {
				return
			}
		}
	}))
	next := func(what string) result {
		t.Helper()
		return nextRead(t, results, what)
	}
	// waiting waits (bounded) until b's Read waits in the poller.
	waiting := func(b *requestBody) {
		t.Helper()
		for i := 0; ; i++ {
			b.st.sc.mu.Lock()
			w := b.st.pwWaiting
			b.st.sc.mu.Unlock()
			if w {
				return
			}
			if i == 10000 {
				t.Fatal("the handler's Read never waited in the poller")
			}
			time.Sleep(time.Millisecond)
		}
	}
	open := func(rc *rawConn, id uint32, path string) *requestBody {
		t.Helper()
		rc.headers(id, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "a", ":path", path)
		rc.readUntil("response headers", func(f http2.Frame) bool {
			_, ok := f.(*http2.MetaHeadersFrame)
			return ok && f.Header().StreamID == id
		})
		select {
		case b := <-bodies:
			return b
		case <-time.After(10 * time.Second):
			t.Fatal("handler did not start")
			return nil
		}
	}
	rc := dialRaw(t, ts)

	// Data, then END_STREAM.
	b := open(rc, 1, "/data")
	waiting(b)
	rc.fr.WriteData(1, false, []byte("hello"))
	if r := next("data"); r.data != "hello" || r.err != nil || !r.polled {
		t.Errorf("data: %+v, want hello, no error, through the poller", r)
	}
	waiting(b)
	rc.fr.WriteData(1, true, nil)
	if r := next("END_STREAM"); r.err == nil || r.data != "" {
		t.Errorf("END_STREAM: %+v, want io.EOF", r)
	}

	// RST_STREAM.
	b = open(rc, 3, "/rst")
	waiting(b)
	rc.fr.WriteRSTStream(3, http2.ErrCodeCancel)
	if r := next("RST_STREAM"); r.err == nil {
		t.Errorf("RST_STREAM: %+v, want an error", r)
	}

	// Read deadline.
	open(rc, 5, "/deadline")
	if r := next("read deadline"); !errors.Is(r.err, os.ErrDeadlineExceeded) || !r.polled {
		t.Errorf("read deadline: %+v, want os.ErrDeadlineExceeded through the poller", r)
	}

	// Close from another goroutine.
	b = open(rc, 7, "/close")
	waiting(b)
	b.Close()
	if r := next("Close"); !errors.Is(r.err, errBodyClosed) {
		t.Errorf("Close: %+v, want errBodyClosed", r)
	}

	// GOMAXPROCS=1: the Cond, for a stream whose first wait sees it.
	runtime.GOMAXPROCS(1)
	open(rc, 9, "/cond")
	time.Sleep(10 * time.Millisecond) // most likely waiting; either way the data must come
	rc.fr.WriteData(9, false, []byte("x"))
	if r := next("data, GOMAXPROCS=1"); r.data != "x" || r.err != nil || r.polled {
		t.Errorf("GOMAXPROCS=1: %+v, want x, no error, not through the poller", r)
	}
	rc.fr.WriteRSTStream(9, http2.ErrCodeCancel)
	next("RST_STREAM, GOMAXPROCS=1")
	runtime.GOMAXPROCS(2)

	// The connection's end.
	b = open(rc, 11, "/conn")
	waiting(b)
	rc.c.Close()
	if r := next("connection closed"); r.err == nil {
		t.Errorf("connection closed: %+v, want an error", r)
	}
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
