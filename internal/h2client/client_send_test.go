package h2client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// sendAndWait sends p on cc and waits for its result.
func sendAndWait(t *testing.T, cc *ClientConn, p *Prepared) Result {
	t.Helper()
	ch := make(chan Result, 1)
	if _, err := cc.Send(p, func(r Result) { ch <- r }); err != nil {
		t.Fatalf("Send: %v", err)
	}
	return await(t, ch, "a Send result")
}

func prepare(t *testing.T, method, url string) *Prepared {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(req)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSend checks that Send reports the status and counts the body bytes,
// and that the connection's receive window is whole afterwards, also for
// bodies far larger than the stream and connection windows.
func TestSend(t *testing.T) {
	checkNoLeaks(t)
	addr := startH2(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		if r.Header.Get("X-Test") != "yes" {
			code = http.StatusBadRequest
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.WriteHeader(code)
		if r.Method != http.MethodHead {
			w.Write(pattern(n, 1))
		}
	}))
	tests := []struct {
		method string
		n      int
		code   int
	}{
		{"GET", 0, 200},
		{"GET", 5, 404},
		{"HEAD", 100, 200},
		{"GET", 40 << 20, 200}, // beyond the 4 MiB stream and 16 MiB connection windows
	}
	cc := dialH2(t, addr, ClientOptions{})
	if err := cc.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, "http://"+addr+"/?n="+strconv.Itoa(tt.n)+"&code="+strconv.Itoa(tt.code), nil)
		req.Header.Set("X-Test", "yes")
		p, err := Prepare(req)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the same Prepared twice: the second block is indexed
			r := sendAndWait(t, cc, p)
			want := int64(tt.n)
			if tt.method == "HEAD" {
				want = 0
			}
			if r.Err != nil || r.Status != tt.code || r.BodyBytes != want || r.HeaderAt.IsZero() || r.HeaderBytes == 0 {
				t.Errorf("%s n=%d: %+v, want status %d with %d body bytes", tt.method, tt.n, r, tt.code, want)
			}
		}
	}
	if !connWindowBalanced(cc) {
		t.Error("connection receive window credit leaked")
	}
}

// TestSendBody checks PrepareBody: bodies within the server's windows and
// far beyond them (a 16 KiB stream window: Send waits for credit) arrive
// whole, several in flight at once on one connection, and a server that
// answers before reading a large body ends the stream without leaving
// the body's sender behind (checkNoLeaks) or the connection unusable.
func TestSendBody(t *testing.T) {
	checkNoLeaks(t)
	srv := &http2.Server{MaxUploadBufferPerStream: 16 << 10, MaxUploadBufferPerConnection: 64 << 10}
	addr := startH2(t, srv, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/early" {
			w.WriteHeader(http.StatusAccepted) // the body is never read
			return
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		b, err := io.ReadAll(r.Body)
		if err != nil || r.ContentLength != int64(n) || !bytes.Equal(b, pattern(n, 7)) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		io.WriteString(w, "ok")
	}))
	cc := dialH2(t, addr, ClientOptions{})
	if err := cc.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 100, 16 << 10, 300 << 10} {
		req, _ := http.NewRequest("POST", "http://"+addr+"/?n="+strconv.Itoa(n), nil)
		p, err := PrepareBody(req, pattern(n, 7))
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan Result, 4)
		for range 4 { // in flight together: they share the connection's window
			if _, err := cc.Send(p, func(r Result) { ch <- r }); err != nil {
				t.Fatal(err)
			}
		}
		for range 4 {
			if r := await(t, ch, "a Send result"); r.Err != nil || r.Status != http.StatusOK || r.BodyBytes != 2 || r.SentAt.IsZero() {
				t.Errorf("body of %d bytes: %+v, want 200 and the server's \"ok\"", n, r)
			}
		}
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/early", nil)
	p, err := PrepareBody(req, pattern(1<<20, 7))
	if err != nil {
		t.Fatal(err)
	}
	if r := sendAndWait(t, cc, p); r.Status != http.StatusAccepted {
		t.Errorf("early answer: %+v, want 202", r)
	}
	if r := sendAndWait(t, cc, prepare(t, "GET", "http://"+addr+"/?n=0")); r.Err != nil || r.Status != http.StatusOK {
		t.Errorf("after the early answer: %+v, want 200 on the same connection", r)
	}
	req.Trailer = http.Header{"X-T": {"v"}}
	if _, err := PrepareBody(req, []byte("x")); err == nil {
		t.Error("PrepareBody took a request with trailers")
	}
}

// TestSendConcurrentFromCallbacks keeps several streams in flight by sending
// the next request from each done callback, as the load generator does, and
// checks that every request completes (the coalesced writes get flushed).
func TestSendConcurrentFromCallbacks(t *testing.T) {
	checkNoLeaks(t)
	addr := startH2(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	cc := dialH2(t, addr, ClientOptions{})
	if err := cc.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := prepare(t, "GET", "http://"+addr+"/")
	const inFlight, total = 16, 2000
	var (
		mu        sync.Mutex
		started   = 0
		completed = 0
		bad       []Result
		allDone   = make(chan struct{})
	)
	var done func(Result)
	done = func(r Result) {
		mu.Lock()
		completed++
		if r.Err != nil || r.Status != 200 || r.BodyBytes != 2 {
			bad = append(bad, r)
		}
		again := started < total
		if again {
			started++
		}
		if completed == total {
			close(allDone)
		}
		mu.Unlock()
		if again {
			if _, err := cc.Send(p, done); err != nil {
				t.Errorf("Send from callback: %v", err)
			}
		}
	}
	mu.Lock()
	started = inFlight
	mu.Unlock()
	for range inFlight {
		if _, err := cc.Send(p, done); err != nil {
			t.Fatal(err)
		}
	}
	await(t, allDone, "all requests")
	if len(bad) > 0 {
		t.Errorf("%d bad results, first %+v", len(bad), bad[0])
	}
}

// TestSendErrors checks the failures Send reports: a stream limit reached,
// a stream reset by the server, one refused, one cancelled, and a closed
// connection.
func TestSendErrors(t *testing.T) {
	checkNoLeaks(t)
	addr := startRaw(t, []http2.Setting{{ID: http2.SettingMaxConcurrentStreams, Val: 1}}, func(s *rawServer) {
		s.fr.WriteRSTStream(s.readHeaders(), http2.ErrCodeInternal)
		s.fr.WriteRSTStream(s.readHeaders(), http2.ErrCodeRefusedStream)
		s.readHeaders() // left open: the client cancels it
		s.drain()
	})
	cc := dialH2(t, addr, ClientOptions{})
	p := prepare(t, "GET", "http://"+addr+"/")
	// The raw server answers no PING: wait for its SETTINGS instead.
	for deadline := time.Now().Add(testTimeout); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, ok := cc.PeerMaxConcurrentStreams(); ok {
			break
		}
	}
	if n, ok := cc.PeerMaxConcurrentStreams(); n != 1 || !ok {
		t.Errorf("PeerMaxConcurrentStreams = %d, %v; want 1, true", n, ok)
	}

	var se http2.StreamError
	if r := sendAndWait(t, cc, p); !errors.As(r.Err, &se) || se.Code != http2.ErrCodeInternal {
		t.Errorf("reset stream: %+v, want a StreamError INTERNAL_ERROR", r)
	}
	if r := sendAndWait(t, cc, p); !errors.Is(r.Err, ErrStreamRefused) {
		t.Errorf("refused stream: %+v, want ErrStreamRefused", r)
	}

	ch := make(chan Result, 1)
	id, err := cc.Send(p, func(r Result) { ch <- r })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Send(p, func(Result) { t.Error("done called for a refused Send") }); !errors.Is(err, ErrStreamLimit) {
		t.Errorf("second stream with MAX_CONCURRENT_STREAMS=1: %v, want ErrStreamLimit", err)
	}
	errTimeout := errors.New("timeout")
	cc.CancelStream(id, errTimeout)
	if r := await(t, ch, "the cancelled stream"); !errors.Is(r.Err, errTimeout) {
		t.Errorf("cancelled stream: %+v, want the error given to CancelStream", r)
	}

	id, err = cc.Send(p, func(r Result) { ch <- r })
	if err != nil {
		t.Fatal(err)
	}
	cc.Close()
	if r := await(t, ch, "the stream of a closed connection"); r.Err == nil {
		t.Errorf("stream %d of a closed connection: %+v, want an error", id, r)
	}
	if _, err := cc.Send(p, func(Result) {}); !errors.Is(err, ErrStreamRefused) {
		t.Errorf("Send on a closed connection: %v, want ErrStreamRefused", err)
	}
}

// BenchmarkSend and BenchmarkRoundTrip compare the cost per request of the
// two request paths, 16 streams in flight on one connection to x/net's
// server (go test -run '^$' -bench 'Send|RoundTrip' -benchmem
// ./internal/h2client). The server's cost is in the figures too.
func BenchmarkSend(b *testing.B) {
	addr := startH2(b, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	cc := dialH2(b, addr, ClientOptions{})
	if err := cc.Ping(context.Background()); err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	p, err := Prepare(req)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var remaining atomic.Int64
	remaining.Store(int64(b.N))
	var done func(Result)
	done = func(r Result) {
		if r.Err != nil {
			b.Error(r.Err)
		}
		if remaining.Add(-1) >= 0 {
			if _, err := cc.Send(p, done); err != nil {
				b.Error(err)
				wg.Done()
			}
			return
		}
		wg.Done()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range 16 {
		wg.Add(1)
		if remaining.Add(-1) < 0 {
			wg.Done()
			continue
		}
		if _, err := cc.Send(p, done); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
}

func BenchmarkRoundTrip(b *testing.B) {
	addr := startH2(b, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	cc := dialH2(b, addr, ClientOptions{})
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
			resp, err := cc.RoundTrip(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// TestSendRestFrames checks the frames of a body that waits for credit:
// when the server opens the window for all of it at once, the rest goes
// as full DATA frames, the last carrying END_STREAM, with no empty frame
// after it to end the stream.
func TestSendRestFrames(t *testing.T) {
	checkNoLeaks(t)
	const size = 3*16384 + 100
	type frame struct {
		n   int
		end bool
	}
	got := make(chan []frame, 1)
	addr := startRaw(t, []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 0}}, func(s *rawServer) {
		var frames []frame
		id := s.readHeaders()
		if id == 0 {
			got <- nil
			return
		}
		s.fr.WriteWindowUpdate(id, size)
		for len(frames) == 0 || !frames[len(frames)-1].end {
			f, err := s.fr.ReadFrame()
			if err != nil {
				break
			}
			if d, ok := f.(*http2.DataFrame); ok && d.StreamID == id {
				frames = append(frames, frame{len(d.Data()), d.StreamEnded()})
			}
		}
		got <- frames
		s.respond(id, "200")
		s.drain()
	})
	cc := dialH2(t, addr, ClientOptions{})
	for i := 0; ; i++ { // the raw server answers no PING: wait for its SETTINGS
		if _, known := cc.PeerMaxConcurrentStreams(); known {
			break
		}
		if i == 1000 {
			t.Fatal("no SETTINGS from the server after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/", nil)
	p, err := PrepareBody(req, pattern(size, 3))
	if err != nil {
		t.Fatal(err)
	}
	if r := sendAndWait(t, cc, p); r.Err != nil || r.Status != http.StatusOK {
		t.Fatalf("Send: %+v", r)
	}
	want := []frame{{16384, false}, {16384, false}, {16384, false}, {100, true}}
	if f := <-got; !slices.Equal(f, want) {
		t.Errorf("DATA frames %v, want %v", f, want)
	}
}

// TestSendIndexedBlock checks the header blocks Send writes for one
// Prepared request on one connection: the first adds its fields to the
// dynamic table, the following ones are indexed fields only, the same
// bytes each time; and a request encoded in between (RoundTrip, which
// adds entries and moves the indexes) or a smaller table from the
// server's SETTINGS makes the next Send encode again. The server decodes
// every block with a decoder of its own, so a block kept past a change
// of the table would decode to the wrong fields or fail.
func TestSendIndexedBlock(t *testing.T) {
	checkNoLeaks(t)
	type block struct {
		raw    []byte
		fields []string
		err    error
	}
	blocks := make(chan block, 16)
	addr := startRaw(t, nil, func(s *rawServer) {
		s.fr.ReadMetaHeaders = nil // raw header blocks, decoded here
		dec := hpack.NewDecoder(4096, nil)
		n := 0 // HEADERS frames read
		for {
			f, err := s.fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					s.fr.WriteSettingsAck()
				}
			case *http2.PingFrame: // the client's Ping below waits for SETTINGS
				if !f.IsAck() {
					s.fr.WritePing(true, f.Data)
				}
			case *http2.HeadersFrame:
				n++
				raw := slices.Clone(f.HeaderBlockFragment())
				hf, err := dec.DecodeFull(raw)
				var fields []string
				for _, h := range hf {
					fields = append(fields, h.Name+": "+h.Value)
				}
				blocks <- block{raw, fields, err}
				if n == 6 {
					// Before the 6th answer: no dynamic table from now on.
					s.fr.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0})
				}
				s.respond(f.StreamID, "200")
			}
		}
	})
	cc := dialH2(t, addr, ClientOptions{})
	if err := cc.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/indexed", nil)
	req.Header.Set("X-Test", "yes")
	p, err := Prepare(req)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{":authority: " + addr, ":method: GET", ":path: /indexed", ":scheme: http", "x-test: yes"}
	next := func(what string) block {
		t.Helper()
		b := await(t, blocks, what)
		if b.err != nil || !slices.Equal(b.fields, want) {
			t.Fatalf("%s: block %x decoded to %q (%v), want %q", what, b.raw, b.fields, b.err, want)
		}
		return b
	}
	send := func(what string) block {
		t.Helper()
		if r := sendAndWait(t, cc, p); r.Err != nil || r.Status != 200 {
			t.Fatalf("%s: %+v", what, r)
		}
		return next(what)
	}

	first, second, third := send("1st Send"), send("2nd Send"), send("3rd Send")
	if onlyIndexed(first.raw) {
		t.Errorf("1st block %x is indexed only; its fields were not in the table yet", first.raw)
	}
	if !onlyIndexed(second.raw) || !bytes.Equal(second.raw, third.raw) || len(second.raw) != len(want) {
		t.Errorf("2nd and 3rd blocks %x, %x: want the same %d indexed fields", second.raw, third.raw, len(want))
	}

	rt, err := cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/other?q=1", nil))
	if err != nil {
		t.Fatal(err)
	}
	rt.Body.Close()
	if b := await(t, blocks, "RoundTrip's block"); b.err != nil {
		t.Fatalf("RoundTrip's block %x: %v", b.raw, b.err)
	}
	fifth := send("Send after RoundTrip")
	if bytes.Equal(fifth.raw, second.raw) {
		t.Errorf("Send after RoundTrip wrote the kept block %x again; RoundTrip's entries moved the indexes", fifth.raw)
	}
	send("6th Send") // answered after the SETTINGS that empties the table
	seventh := send("Send after SETTINGS_HEADER_TABLE_SIZE 0")
	if seventh.raw[0]&0xe0 != 0x20 {
		t.Errorf("block after the table size change %x does not begin with a table size update", seventh.raw)
	}
	if onlyIndexed(seventh.raw[1:]) {
		t.Errorf("block %x refers to the dynamic table after it was sized 0", seventh.raw)
	}
	cc.Close()
}

func TestOnlyIndexed(t *testing.T) {
	for _, tt := range []struct {
		block []byte
		want  bool
	}{
		{nil, true},
		{[]byte{0x82, 0xbe}, true},
		{[]byte{0xff, 0x80, 0x01, 0x82}, true}, // index 255, multi-byte
		{[]byte{0xff, 0x80}, false},            // index cut short
		{[]byte{0x82, 0x40}, false},            // literal with indexing
		{[]byte{0x0f, 0x01}, false},            // literal without indexing
		{[]byte{0x10}, false},                  // never indexed
		{[]byte{0x20, 0x82}, false},            // table size update
	} {
		if got := onlyIndexed(tt.block); got != tt.want {
			t.Errorf("onlyIndexed(%x) = %v, want %v", tt.block, got, tt.want)
		}
	}
}
