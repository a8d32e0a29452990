package h2

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestFlushBeforePartialFrame sends a request and, in the same write, the
// start of the next frame. The read loop then blocks for the rest of that
// frame; the response must go out all the same, not wait in the buffer
// for bytes the client may send only once it has its answer.
func TestFlushBeforePartialFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		tail []byte // a prefix of the next frame
	}{
		{"header-prefix", []byte{0, 0, 8, byte(http2.FramePing)}},
		{"payload-prefix", []byte{0, 0, 8, byte(http2.FramePing), 0, 0, 0, 0, 0, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "hello")
			}))
			rc := dialRaw(t, ts)
			rc.ping() // the SETTINGS exchange is over
			rc.hbuf.Reset()
			for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "example.com"}, {":path", "/"}} {
				rc.henc.WriteField(hpackField(f[0], f[1]))
			}
			var out bytes.Buffer
			fr := http2.NewFramer(&out, nil)
			if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: rc.hbuf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
				t.Fatal(err)
			}
			out.Write(tc.tail)
			if _, err := rc.c.Write(out.Bytes()); err != nil {
				t.Fatal(err)
			}
			// A hang shows as a read deadline error, not as a wait of
			// the whole test timeout.
			rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			r := rc.response(1)
			if r.status != "200" || string(r.body) != "hello" {
				t.Fatalf("response %q %q, want 200 hello", r.status, r.body)
			}
		})
	}
}

func hpackField(name, value string) hpack.HeaderField {
	return hpack.HeaderField{Name: name, Value: value}
}

// TestInvalidBlockInContinuationEndStream sends a request whose header
// block is invalid, with END_STREAM on its HEADERS frame, in one frame or
// split into CONTINUATION frames. Either way the server resets the
// stream, and DATA on it afterwards, after the client's own END_STREAM,
// is answered STREAM_CLOSED: the stream is not taken for one the server
// refused while the client's DATA may still be in flight.
func TestInvalidBlockInContinuationEndStream(t *testing.T) {
	for _, split := range []bool{false, true} {
		t.Run(map[bool]string{false: "one-frame", true: "continuation"}[split], func(t *testing.T) {
			ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			rc := dialRaw(t, ts)
			rc.hbuf.Reset()
			for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "example.com"}, {":path", "/"}, {"X-Upper", "1"}} {
				rc.henc.WriteField(hpackField(f[0], f[1]))
			}
			blk := rc.hbuf.Bytes()
			if split {
				rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:3], EndStream: true})
				rc.fr.WriteContinuation(1, true, blk[3:])
			} else {
				rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk, EndStream: true, EndHeaders: true})
			}
			rc.wantRST(1, http2.ErrCodeProtocol)
			rc.fr.WriteData(1, false, []byte("x"))
			rc.fr.WritePing(false, [8]byte{9})
			f := rc.readUntil("RST_STREAM or PING ACK", func(f http2.Frame) bool {
				switch f := f.(type) {
				case *http2.RSTStreamFrame:
					return f.StreamID == 1
				case *http2.PingFrame:
					return f.IsAck()
				}
				return false
			})
			if r, ok := f.(*http2.RSTStreamFrame); !ok || r.ErrCode != http2.ErrCodeStreamClosed {
				t.Fatalf("answer to DATA on a closed stream: %v, want RST_STREAM STREAM_CLOSED", f)
			}
		})
	}
}

// TestGoAwayReasonNotStale checks that the debug data of a GOAWAY for a
// connection error found by the Framer is not the detail of an earlier
// header block's stream error.
func TestGoAwayReasonNotStale(t *testing.T) {
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	rc := dialRaw(t, ts)
	rc.headers(1, true, ":method", "GET", ":scheme", "http", ":authority", "example.com", ":path", "/", "X-Upper", "1")
	rc.wantRST(1, http2.ErrCodeProtocol)
	rc.fr.WriteRawFrame(http2.FramePing, 0, 0, make([]byte, 7)) // a PING must be 8 bytes
	g := rc.wantGoAway(http2.ErrCodeFrameSize)
	if d := string(g.DebugData()); bytes.Contains(bytes.ToLower(g.DebugData()), []byte("x-upper")) {
		t.Fatalf("GOAWAY debug data %q: the detail of the earlier stream error", d)
	}
}
