package h2

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestLeadLargeFrames: with MaxReadFrameSize above the read
// buffer, a tunnel's DATA frames cannot be buffered whole
// (frameTooLarge): the reading goes back and forth, and every byte must
// still arrive in order; a read deadline still ends the Read while the
// client is in the middle of a large frame.
func TestLeadLargeFrames(t *testing.T) {
	checkGoroutines(t)
	got := make(chan []byte, 1)
	derr := make(chan error, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		rc.Flush()
		var all bytes.Buffer
		buf := make([]byte, 700)
		for all.Len() < 4<<20 {
			n, err := r.Body.Read(buf)
			all.Write(buf[:n])
			if err != nil {
				break
			}
		}
		got <- all.Bytes()
		rc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := r.Body.Read(buf)
		derr <- err
		io.Copy(io.Discard, r.Body)
	}), func(s *Server) {
		s.MaxReadFrameSize = 1 << 20
		s.MaxUploadBufferPerStream = 16 << 20
		s.MaxUploadBufferPerConnection = 16 << 20
	})
	rc := dialRaw(t, ts)
	rc.headers(1, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "a", ":path", "/")
	want := make([]byte, 4<<20)
	for i := range want {
		want[i] = byte(i*13 + i>>11)
	}
	for off := 0; off < len(want); {
		n := min(len(want)-off, 100000+off%50000)
		if err := rc.fr.WriteData(1, false, want[off:off+n]); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	select {
	case g := <-got:
		if !bytes.Equal(g, want) {
			t.Fatalf("body differs (%d bytes, want %d)", len(g), len(want))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the body never arrived")
	}
	// Half a large frame: the header and some of its payload.
	hdr := []byte{0x01, 0x00, 0x00, 0, 0, 0, 0, 0, 1}
	rc.c.Write(append(hdr, make([]byte, 40000)...))
	select {
	case err := <-derr:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read: %v, want deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read still waits 10 s past its deadline, in the middle of a large frame")
	}
	rc.c.Write(make([]byte, 1<<16-40000))
	rc.ping()
	rc.fr.WriteData(1, true, nil)
}
