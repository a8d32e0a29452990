package h2

import (
	"io"
	"net/http"
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
