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
