package h2

import (
	"net/http"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// eventfds counts the process's open eventfds (the runtime's own poller
// break fd among them).
func eventfds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && l == "anon_inode:[eventfd]" {
			n++
		}
	}
	return n
}

// tunnelCounts waits (bounded) until tunnelsBusy and tunnelsPolling are
// both back to 0, failing t if they are not.
func tunnelCountsZero(t *testing.T, what string) {
	t.Helper()
	for i := 0; ; i++ {
		b, p := tunnelsBusy.Load(), tunnelsPolling.Load()
		if b == 0 && p == 0 {
			return
		}
		if i == 5000 {
			t.Fatalf("%s: tunnelsBusy %d, tunnelsPolling %d, want 0 and 0", what, b, p)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTunnelEventfdsBounded: a client that wakes two of its tunnels at
// once, over and over, makes each in turn wait in the poller while the
// other is busy. At most GOMAXPROCS-1 Reads wait in the poller at once,
// so the eventfds the server holds must stay about that many, not one
// for every tunnel that ever waited there (up to MaxConcurrentStreams a
// connection).
func TestTunnelEventfdsBounded(t *testing.T) {
	if !havePollWake() {
		t.Skip("no pollWake on this system")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	tunnelCountsZero(t, "before")
	const n = 40
	bodies := make(chan *requestBody, n)
	gates := make([]chan struct{}, 2*n+2)
	for i := range gates {
		gates[i] = make(chan struct{})
	}
	read := make(chan uint32, n)
	ts := newTestServer(t, holding(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		b := r.Body.(*requestBody)
		bodies <- b
		buf := make([]byte, 64)
		for {
			if _, err := b.Read(buf); err != nil {
				return
			}
			read <- b.st.id
			<-gates[b.st.id]
		}
	}))
	base := eventfds(t)
	rc := dialRaw(t, ts)
	go func() { // the server's frames: read and dropped
		for {
			if _, err := rc.fr.ReadFrame(); err != nil {
				return
			}
		}
	}()
	// waiting waits until b's Read waits (in the poller or on the Cond),
	// and reports whether it is in the poller.
	waiting := func(b *requestBody) bool {
		t.Helper()
		for i := 0; ; i++ {
			b.st.sc.mu.Lock()
			w, p := b.st.rdst != nil, b.st.pwWaiting
			b.st.sc.mu.Unlock()
			if w {
				return p
			}
			if i == 10000 {
				t.Fatal("the handler's Read never waited")
			}
			time.Sleep(time.Millisecond)
		}
	}
	gotRead := func(id uint32) {
		t.Helper()
		select {
		case got := <-read:
			if got != id {
				t.Fatalf("stream %d read, want %d", got, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("stream %d: no read after 10s", id)
		}
	}
	open := func(id uint32) *requestBody {
		t.Helper()
		rc.headers(id, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "a", ":path", "/")
		select {
		case b := <-bodies:
			return b
		case <-time.After(10 * time.Second):
			t.Fatal("handler did not start")
			return nil
		}
	}
	rc.post(1, "/hold") // the read loop reads, not a tunnel's Read
	prev := open(3)
	if !waiting(prev) {
		t.Fatal("the first tunnel's Read does not wait in the poller")
	}
	for k := uint32(5); k < 2*n+2; k += 2 {
		cur := open(k)
		waiting(cur)
		// Both busy at once: prev first (from the poller), then cur
		// (from the Cond).
		rc.fr.WriteData(prev.st.id, false, []byte("a"))
		gotRead(prev.st.id)
		rc.fr.WriteData(k, false, []byte("b"))
		gotRead(k)
		// prev waits while cur is busy (the Cond), then cur waits alone
		// (the poller).
		gates[prev.st.id] <- struct{}{}
		waiting(prev)
		gates[k] <- struct{}{}
		if !waiting(cur) {
			t.Fatalf("stream %d: Read on the Cond, want the poller (nothing else busy)", k)
		}
		prev = cur
	}
	held := eventfds(t) - base
	if max := runtime.GOMAXPROCS(0) + 1; held > max {
		t.Errorf("%d tunnels, one Read in the poller: the server holds %d eventfds, want at most %d", n, held, max)
	}
	rc.c.Close()
	ts.close()
	tunnelCountsZero(t, "after")
	if left := eventfds(t) - base; left > 0 {
		t.Errorf("%d eventfds left after the connection closed", left)
	}
}

// TestTunnelEventfdsReleased opens tunnels and resets them rapidly on a
// live server, in every way a stream ends with its Read in the poller
// (RST_STREAM, END_STREAM, the handler returning while another goroutine
// waits in Read, a panicking handler, Close from another goroutine, the
// connection's end), and checks that no eventfd is left and the
// process-wide counters come back to 0.
func TestTunnelEventfdsReleased(t *testing.T) {
	if !havePollWake() {
		t.Skip("no pollWake on this system")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	tunnelCountsZero(t, "before")
	started := make(chan *requestBody, 64)
	ts := newTestServer(t, holding(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		b := r.Body.(*requestBody)
		buf := make([]byte, 64)
		switch r.URL.Path {
		case "/other":
			// The handler returns while another goroutine waits in Read.
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					if _, err := b.Read(buf); err != nil {
						return
					}
				}
			}()
			started <- b
			<-r.Context().Done()
			return
		case "/panic":
			started <- b
			if _, err := b.Read(buf); err != nil {
				return
			}
			panic(http.ErrAbortHandler)
		}
		started <- b
		for {
			if _, err := b.Read(buf); err != nil {
				return
			}
		}
	}))
	base := eventfds(t)
	polled := 0 // Reads seen waiting in the poller
	waitPolled := func(b *requestBody) {
		t.Helper()
		for i := 0; i < 2000; i++ {
			b.st.sc.mu.Lock()
			w, p := b.st.rdst != nil, b.st.pwWaiting
			b.st.sc.mu.Unlock()
			if w {
				if p {
					polled++
				}
				return
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatal("Read never waited")
	}
	for round := 0; round < 3; round++ {
		rc := dialRaw(t, ts)
		go func() {
			for {
				if _, err := rc.fr.ReadFrame(); err != nil {
					return
				}
			}
		}()
		rc.post(1, "/hold") // the read loop reads, not a tunnel's Read
		id := uint32(3)
		for i := 0; i < 60; i++ {
			path := []string{"/", "/end", "/other", "/panic", "/close", "/rst"}[i%6]
			rc.headers(id, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "a", ":path", path)
			var b *requestBody
			select {
			case b = <-started:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: handler did not start", path)
			}
			waitPolled(b)
			switch path {
			case "/", "/rst":
				rc.fr.WriteData(id, false, []byte("x"))
				rc.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			case "/end":
				rc.fr.WriteData(id, true, []byte("x"))
			case "/other":
				rc.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			case "/panic":
				rc.fr.WriteData(id, false, []byte("x"))
			case "/close":
				b.Close()
				rc.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			}
			id += 2
		}
		// Streams left open end with the connection.
		for j := 0; j < 4; j++ {
			rc.headers(id, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "a", ":path", "/")
			waitPolled(<-started)
			id += 2
		}
		rc.c.Close()
	}
	ts.close()
	if polled == 0 {
		t.Error("no Read waited in the poller")
	}
	tunnelCountsZero(t, "after")
	for i := 0; ; i++ {
		left := eventfds(t) - base
		if left <= 0 {
			break
		}
		if i == 2000 {
			t.Fatalf("%d eventfds left after every tunnel ended", left)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTunnelReadNoEventfd: with the process out of file descriptors, a
// tunnel's Read cannot have an eventfd; it waits on the Cond and gets
// its data, END_STREAM and RST_STREAM all the same.
func TestTunnelReadNoEventfd(t *testing.T) {
	if !havePollWake() {
		t.Skip("no pollWake on this system")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	tunnelCountsZero(t, "before")
	type result struct {
		data   string
		err    error
		tried  bool
		polled bool
	}
	results := make(chan result, 4)
	ts := newTestServer(t, holding(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		b := r.Body.(*requestBody)
		buf := make([]byte, 64)
		for {
			n, err := b.Read(buf)
			b.st.sc.mu.Lock()
			tried, polled := b.st.pwTried, b.st.pw != nil
			b.st.sc.mu.Unlock()
			results <- result{string(buf[:n]), err, tried, polled}
			if err != nil {
				return
			}
		}
	}))
	rc := dialRaw(t, ts)
	go func() {
		for {
			if _, err := rc.fr.ReadFrame(); err != nil {
				return
			}
		}
	}()
	next := func(what string) result {
		t.Helper()
		return nextRead(t, results, what)
	}
	// Use up the file descriptors: lower the soft limit and fill it.
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Skip(err)
	}
	ents, _ := os.ReadDir("/proc/self/fd")
	lim := old
	lim.Cur = uint64(len(ents)) + 64
	if lim.Cur > old.Cur {
		t.Skip("soft limit too low already")
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	var fill []*os.File
	release := func() {
		for _, f := range fill {
			f.Close()
		}
		fill = nil
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	}
	defer release()
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		fill = append(fill, f)
	}
	if w := newPollWake(); w != nil {
		w.close()
		t.Fatal("an eventfd with no file descriptor left")
	}
	rc.post(1, "/hold") // the read loop reads, not the tunnel's Read
	rc.headers(3, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "a", ":path", "/")
	time.Sleep(20 * time.Millisecond) // most likely waiting; either way the data must come
	rc.fr.WriteData(3, false, []byte("hello"))
	r := next("data")
	if r.data != "hello" || r.err != nil || r.polled {
		t.Errorf("data: %+v, want hello, no error, not through the poller", r)
	}
	time.Sleep(20 * time.Millisecond)
	rc.fr.WriteData(3, false, []byte("again"))
	if r := next("data"); r.data != "again" || r.err != nil || !r.tried || r.polled {
		t.Errorf("data: %+v, want again, no error, an eventfd tried and not had", r)
	}
	time.Sleep(20 * time.Millisecond)
	rc.fr.WriteRSTStream(3, http2.ErrCodeCancel)
	if r := next("RST_STREAM"); r.err == nil {
		t.Errorf("RST_STREAM: %+v, want an error", r)
	}
	release()
	tunnelCountsZero(t, "after")
}
