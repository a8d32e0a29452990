package h2

import (
	"io"
	"math"
	"net/http"
	"runtime"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestHeadersReadPaths sends requests in every shape of HEADERS frame
// readFrame meets: a whole block (decoded in the read buffer), the same
// block again (the decoder's repeat), a frame split across writes, padded,
// with priority, with CONTINUATION; each is served with its own path and
// fields, and the frames after each are read in step. Then a malformed
// block on the fast path is a stream error, and a CONTINUATION after a
// HEADERS that ended its block a connection error.
func TestHeadersReadPaths(t *testing.T) {
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path+" "+r.Header.Get("X-N"))
	}))
	defer ts.close()
	rc := dialRaw(t, ts)
	block := func(path, n string) []byte {
		rc.hbuf.Reset()
		for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: "example.com"}, {Name: ":path", Value: path}, {Name: "x-n", Value: n}} {
			rc.henc.WriteField(f)
		}
		return append([]byte(nil), rc.hbuf.Bytes()...)
	}
	want := func(id uint32, body string) {
		t.Helper()
		if r := rc.response(id); r.status != "200" || string(r.body) != body {
			t.Fatalf("stream %d: %s %q, want 200 %q", id, r.status, r.body, body)
		}
	}
	write := func(p http2.HeadersFrameParam) {
		t.Helper()
		if err := rc.fr.WriteHeaders(p); err != nil {
			t.Fatal(err)
		}
	}

	write(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block("/a", "1"), EndStream: true, EndHeaders: true})
	want(1, "/a 1")
	write(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block("/b", "2"), EndStream: true, EndHeaders: true})
	want(3, "/b 2")
	same := block("/b", "2") // indexed now: a block that leaves the table alone
	write(http2.HeadersFrameParam{StreamID: 5, BlockFragment: same, EndStream: true, EndHeaders: true})
	want(5, "/b 2")

	// Split across two writes: the server may find only part of the
	// payload buffered, and reads the rest through the Framer.
	frag := block("/c", "3")
	hdr := []byte{0, 0, byte(len(frag)), byte(http2.FrameHeaders), byte(http2.FlagHeadersEndStream | http2.FlagHeadersEndHeaders), 0, 0, 0, 7}
	rc.c.Write(append(hdr, frag[:2]...))
	rc.c.Write(frag[2:])
	want(7, "/c 3")

	write(http2.HeadersFrameParam{StreamID: 9, BlockFragment: block("/d", "4"), EndStream: true, EndHeaders: true, PadLength: 5})
	want(9, "/d 4")
	write(http2.HeadersFrameParam{StreamID: 11, BlockFragment: block("/e", "5"), EndStream: true, EndHeaders: true, Priority: http2.PriorityParam{StreamDep: 0, Weight: 7}})
	want(11, "/e 5")
	frag = block("/f", "6")
	write(http2.HeadersFrameParam{StreamID: 13, BlockFragment: frag[:3], EndStream: true})
	if err := rc.fr.WriteContinuation(13, true, frag[3:]); err != nil {
		t.Fatal(err)
	}
	want(13, "/f 6")
	write(http2.HeadersFrameParam{StreamID: 15, BlockFragment: block("/g", "7"), EndStream: true, EndHeaders: true})
	want(15, "/g 7")

	// An uppercase name, decoded on the fast path: a stream error, and
	// the connection goes on.
	rc.hbuf.Reset()
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: "example.com"}, {Name: ":path", Value: "/"}, {Name: "X-Upper", Value: "1"}} {
		rc.henc.WriteField(f)
	}
	write(http2.HeadersFrameParam{StreamID: 17, BlockFragment: rc.hbuf.Bytes(), EndStream: true, EndHeaders: true})
	rc.wantRST(17, http2.ErrCodeProtocol)
	rc.ping()

	// A CONTINUATION after a block that ended.
	write(http2.HeadersFrameParam{StreamID: 19, BlockFragment: block("/h", "8"), EndHeaders: true})
	if err := rc.fr.WriteContinuation(19, true, nil); err != nil {
		t.Fatal(err)
	}
	rc.wantGoAway(http2.ErrCodeProtocol)
}

// TestWindowUpdateReadPaths gives a response credit in every shape of
// WINDOW_UPDATE readFrame meets: buffered whole (parsed in the read
// buffer), split across writes (read by the Framer), with the reserved
// bit set (ignored); each lets a window's worth more of the body out.
// Then the ones the Framer must refuse still are: a zero increment on a
// stream is RST_STREAM PROTOCOL_ERROR, and a payload of five bytes GOAWAY
// FRAME_SIZE_ERROR.
func TestWindowUpdateReadPaths(t *testing.T) {
	const window = 65535 // the client's, by default
	const size = 4 * window
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write(make([]byte, size))
		}
	}))
	defer ts.close()
	rc := dialRaw(t, ts, http2.Setting{ID: http2.SettingInitialWindowSize, Val: window})
	rc.get(1, "/big")
	got := 0
	readWindow := func(what string) {
		t.Helper()
		want := got + window
		rc.readUntil(what, func(f http2.Frame) bool {
			if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
				got += len(d.Data())
			}
			return got >= want
		})
		if got != want {
			t.Fatalf("%s: %d bytes of the body, want %d", what, got, want)
		}
	}
	update := func(id, inc uint32) []byte {
		return []byte{0, 0, 4, byte(http2.FrameWindowUpdate), 0, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id), byte(inc >> 24), byte(inc >> 16), byte(inc >> 8), byte(inc)}
	}
	readWindow("the first window") // the client's: the server waits for credit
	rc.c.Write(append(update(0, window), update(1, window)...))
	readWindow("the window of two whole updates")
	split := append(update(0, window), update(1, window)...)
	rc.c.Write(split[:11]) // the first frame's header and two bytes of its payload
	rc.c.Write(split[11:])
	readWindow("the window of an update split across writes")
	rc.c.Write(append(update(0, 1<<31|window), update(1, 1<<31|window)...))
	readWindow("the window of updates with the reserved bit")

	rc.get(3, "/")
	rc.response(3)
	rc.c.Write(update(3, 0))
	rc.wantRST(3, http2.ErrCodeProtocol)
	rc.ping() // the connection goes on
	rc.c.Write([]byte{0, 0, 5, byte(http2.FrameWindowUpdate), 0, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	rc.wantGoAway(http2.ErrCodeFrameSize)
}

// TestWindowUpdateNoAllocs checks that the server reads a valid
// WINDOW_UPDATE without allocating (a peer sends one for about every
// 64 KiB it receives; the Framer allocates a frame for each): the
// allocations of the whole process over a run of 2n frames, less those
// over a run of n, least of three tries.
func TestWindowUpdateNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ts := newTestServer(t, http.NotFoundHandler())
	defer ts.close()
	rc := dialRaw(t, ts)
	const n = 1000
	frames := make([]byte, 0, 2*n*13)
	for range 2 * n {
		frames = append(frames, 0, 0, 4, byte(http2.FrameWindowUpdate), 0, 0, 0, 0, 0, 0, 0, 0, 1)
	}
	run := func(k int) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rc.c.Write(frames[:k*13])
		rc.ping()
		runtime.ReadMemStats(&after)
		return after.Mallocs - before.Mallocs
	}
	best := math.Inf(1)
	for range 3 {
		one, two := run(n), run(2*n)
		best = min(best, (float64(two)-float64(one))/n)
	}
	if best > 0.1 {
		t.Errorf("%.2f allocations per WINDOW_UPDATE, want 0", best)
	}
}
