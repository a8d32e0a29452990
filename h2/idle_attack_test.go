package h2

import (
	"bytes"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// heapAlloc returns the live heap after collecting garbage (sync.Pool
// contents included, which take two cycles).
func heapAlloc() uint64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestIdleConnAfterManyFieldsHoldsLittle attacks a live server with one
// request per connection whose header list, within MaxHeaderListSize
// (1 MiB by default), is some 31,000 tiny fields: one literal that adds
// "a: " to the HPACK table, then one-byte references to it, about 32 KB
// on the wire. Once the request has been answered the connection is
// idle; what it still holds must not depend on how many fields a past
// request had: the header-block decoder (h2meta.Decoder) reuses its
// field slice from block to block, and gives back one grown by a block
// of many fields (40 bytes a field: 1.5 MB, 48 times what the client
// sent, kept for the connection's life, until stop 24).
func TestIdleConnAfterManyFieldsHoldsLittle(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	const conns = 8
	// Each field costs hpack's 32 bytes plus its name: 33.
	const fields = (DefaultMaxHeaderListSize - 200) / 33

	build := func(rc *rawConn, many bool) []byte {
		b := requestBlock(rc)
		if many {
			b = append(b, 0x40, 1, 'a', 0) // literal with incremental indexing: "a: " is entry 62
			for range fields {
				b = append(b, 0x80|62)
			}
		}
		return b
	}
	send := func(rc *rawConn, id uint32, block []byte) { sendBlock(t, rc, id, block, 16384, false) }

	// Connections that served a small request: the baseline.
	var rcs []*rawConn
	for range conns {
		rc := dialRaw(t, ts)
		send(rc, 1, build(rc, false))
		rcs = append(rcs, rc)
	}
	rcs[0].ping()
	base := heapAlloc()
	// The same connections serve one request of many small fields each,
	// and are idle again.
	for _, rc := range rcs {
		send(rc, 3, build(rc, true))
		rc.ping()
	}
	grew := int64(heapAlloc()) - int64(base)
	perConn := grew / conns
	t.Logf("idle connections hold %d bytes more each after one request of %d fields", perConn, fields)
	if perConn > 128<<10 {
		t.Errorf("an idle connection holds %d bytes more after one request of %d header fields (~%d KB sent): the memory a past request cost stays with the connection", perConn, fields, fields/1024)
	}
	for _, rc := range rcs {
		rc.c.Close()
	}
}

// requestBlock returns the header block of GET / on rc's HPACK encoder.
func requestBlock(rc *rawConn) []byte {
	rc.hbuf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "example.com"}, {":path", "/"}} {
		rc.henc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return append([]byte(nil), rc.hbuf.Bytes()...)
}

// sendBlock sends block on stream id as a HEADERS frame and as many
// CONTINUATION frames of at most frag bytes as it takes, the stream
// ended, and wants a 200 answer. With emptyEnd, an empty CONTINUATION
// frame ends the block.
func sendBlock(t *testing.T, rc *rawConn, id uint32, block []byte, frag int, emptyEnd bool) {
	t.Helper()
	first := true
	for first || len(block) > 0 {
		f := block[:min(frag, len(block))]
		block = block[len(f):]
		end := len(block) == 0 && !emptyEnd
		var err error
		if first {
			err = rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: f, EndStream: true, EndHeaders: end})
		} else {
			err = rc.fr.WriteContinuation(id, end, f)
		}
		if err != nil {
			t.Fatal(err)
		}
		first = false
	}
	if emptyEnd {
		if err := rc.fr.WriteContinuation(id, true, nil); err != nil {
			t.Fatal(err)
		}
	}
	if r := rc.response(id); r.status != "200" {
		t.Fatalf("status %s", r.status)
	}
}

// TestIdleConnAfterSplitFieldHoldsLittle attacks a live server with one
// request per connection that has one header field of half a MiB, its
// value split across CONTINUATION frames. x/net's hpack.Decoder keeps
// the part of a field that a fragment ends in, to decode it with the
// next fragment, in a buffer that never shrinks: fed fragment by
// fragment, each idle connection kept the largest field a client ever
// split (up to MaxHeaderListSize), until stop 25. h2meta.Decoder now
// hands the HPACK decoder whole fields only and keeps the split field
// itself, giving its buffer back once the block is complete. The block
// ends with the field, or after it with an empty CONTINUATION frame
// (then the HPACK decoder's last Write was the split buffer).
func TestIdleConnAfterSplitFieldHoldsLittle(t *testing.T) {
	for _, emptyEnd := range []bool{false, true} {
		t.Run(fmt.Sprintf("emptyEnd=%v", emptyEnd), func(t *testing.T) {
			testIdleConnAfterSplitField(t, emptyEnd)
		})
	}
}

func testIdleConnAfterSplitField(t *testing.T, emptyEnd bool) {
	checkGoroutines(t)
	var whole atomic.Int32 // requests that had all of the field
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.Header.Get("X-Big")) == 512<<10 {
			whole.Add(1)
		}
	}))
	const conns = 8
	big := func(rc *rawConn) []byte {
		// A never-indexed literal leaves the table alone: a fresh
		// encoder writes it, whose buffers go with it (they are not
		// the server's memory).
		var field bytes.Buffer
		hpack.NewEncoder(&field).WriteField(hpack.HeaderField{Name: "x-big", Value: strings.Repeat("v", 512<<10), Sensitive: true})
		return append(requestBlock(rc), field.Bytes()...)
	}
	var rcs []*rawConn
	for range conns {
		rc := dialRaw(t, ts)
		sendBlock(t, rc, 1, requestBlock(rc), 16384, false)
		rcs = append(rcs, rc)
	}
	rcs[0].ping()
	base := heapAlloc()
	for _, rc := range rcs {
		sendBlock(t, rc, 3, big(rc), 16384, emptyEnd)
		rc.ping()
	}
	grew := int64(heapAlloc()) - int64(base)
	perConn := grew / conns
	t.Logf("idle connections hold %d bytes more each after one request with a field of 512 KiB split across CONTINUATION frames", perConn)
	if n := whole.Load(); n != conns {
		t.Errorf("%d of %d handlers saw the whole field", n, conns)
	}
	if perConn > 128<<10 {
		t.Errorf("an idle connection holds %d bytes more after one request with a field of 512 KiB split across CONTINUATION frames: the HPACK decoder keeps the split field's buffer", perConn)
	}
	for _, rc := range rcs {
		rc.c.Close()
	}
}

// TestIdleConnAfterLargeFramesHoldsLittle attacks a live server on a
// connection that cannot write a net.Buffers in one call (a *tls.Conn,
// how the engine faces the internet; here a wrapped TCP connection):
// the client allows DATA frames of 16 MiB (SETTINGS_MAX_FRAME_SIZE) and
// windows to match, and fetches a 4 MiB body that its handler writes in
// one Write. http2.Framer builds every frame it writes in a buffer that
// keeps the size of the largest, so the engine writes no frame larger
// than framerMaxFrame through it: in 4 MiB frames the idle connection
// kept 4 MiB.
func TestIdleConnAfterLargeFramesHoldsLittle(t *testing.T) {
	checkGoroutines(t)
	body := make([]byte, 4<<20)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	const conns = 4
	var rcs []*rawConn
	for range conns {
		rc, _ := serveCounted(t, h, false,
			http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1<<24 - 1},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
		rc.fr.WriteWindowUpdate(0, 1<<31-1-65535-1<<20)
		rc.fr.SetMaxReadFrameSize(1<<24 - 1)
		rc.ping() // the server has applied the settings
		rcs = append(rcs, rc)
	}
	base := heapAlloc()
	for _, rc := range rcs {
		rc.get(1, "/")
		if r := rc.response(1); len(r.body) != len(body) {
			t.Fatalf("body of %d bytes, want %d", len(r.body), len(body))
		}
	}
	for _, rc := range rcs {
		rc.ping()
	}
	after := heapAlloc()
	perConn := (int64(after) - int64(base)) / conns
	t.Logf("an idle connection holds %d bytes more after one 4 MiB response", perConn)
	if perConn > 256<<10 {
		t.Errorf("an idle connection holds %d bytes more after one 4 MiB response in frames of the size the client allowed: the Framer's write buffer stays at the largest frame", perConn)
	}
}

// TestQueuedStreamsResetNeverRun attacks a live server with streams
// that wait for a handler slot (MaxConcurrentStreams handlers are
// running) and are then ended before they got one: reset by the client,
// or with the whole connection closed. Their handlers must not run: the
// client has withdrawn the request, and the server would spend a
// handler's work on an answer nobody can receive (x/net skips such
// streams as a slot frees; CVE-2023-44487's amplification is exactly
// work for streams the client has already cancelled). Before nextQueued
// skipped them, every one ran, its context already cancelled, and
// ServeConn waited for them all, long after the connection was gone.
func TestQueuedStreamsResetNeverRun(t *testing.T) {
	for _, how := range []string{"RST_STREAM", "connection closed"} {
		t.Run(how, func(t *testing.T) {
			checkGoroutines(t)
			const limit = 4
			release := make(chan struct{})
			var once sync.Once
			unblock := func() { once.Do(func() { close(release) }) }
			var holding sync.WaitGroup
			holding.Add(limit)
			var queuedRan atomic.Int32
			ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/hold") {
					holding.Done()
					<-release
					return
				}
				queuedRan.Add(1)
				time.Sleep(50 * time.Millisecond) // work that ignores the context
			}), func(s *Server) { s.MaxConcurrentStreams = limit })
			t.Cleanup(unblock)
			rc := dialRaw(t, ts)
			for i := range uint32(limit) {
				rc.get(2*i+1, "/hold")
			}
			holding.Wait()
			// The client resets the holders; their handlers run on
			// (they keep their slots), so the next streams wait in the
			// queue for a slot.
			for i := range uint32(limit) {
				rc.fr.WriteRSTStream(2*i+1, http2.ErrCodeCancel)
			}
			const queued = limit
			for i := range uint32(queued) {
				rc.get(2*(limit+i)+1, "/work")
			}
			rc.ping() // all read and queued
			if how == "RST_STREAM" {
				for i := range uint32(queued) {
					rc.fr.WriteRSTStream(2*(limit+i)+1, http2.ErrCodeCancel)
				}
				rc.ping() // read: the connection lives on
			}
			rc.c.Close()
			// The server sees the client go, and ends every stream,
			// before the holders return: only then is it known that the
			// queued ones were withdrawn.
			waitTornDown(t, ts)
			unblock()
			// The holders return, and their workers look at the queue;
			// ServeConn returns once every handler it started has.
			ts.close()
			if n := queuedRan.Load(); n != 0 {
				t.Errorf("%d of %d queued streams ended before they had a handler slot (%s) still ran their handler", n, queued, how)
			}
		})
	}
}

// waitTornDown waits until every connection of ts has begun its teardown
// (the client gone: every stream ended), for up to 10 seconds.
func waitTornDown(t *testing.T, ts *testServer) {
	t.Helper()
	for range 10000 {
		closing := true
		ts.srv.mu.Lock()
		for sc := range ts.srv.conns {
			sc.mu.Lock()
			closing = closing && sc.closing
			sc.mu.Unlock()
		}
		ts.srv.mu.Unlock()
		if closing {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the server did not see the client close its connection within 10 s")
}
