package websocket

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
)

// recordingConn is a net.Conn that records how it was written to: by
// Write, or by WriteBuffers as molt's server's connections allow.
type recordingConn struct {
	net.Conn // nil: only the writing methods are used
	writes   int
	vectors  int
	out      bytes.Buffer
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.out.Write(p)
}

func (c *recordingConn) WriteBuffers(bufs *net.Buffers) (int64, error) {
	c.vectors++
	return bufs.WriteTo(&c.out)
}

// newWriteOnlyConn is a server Conn whose hijacked connection is nc, with
// a 4 KiB write buffer, as after an HTTP/1.1 handshake.
func newWriteOnlyConn(nc net.Conn) *Conn {
	c := newConn(httptest.NewRequest("GET", "/", nil), &Options{})
	c.netConn = nc
	c.bw = bufio.NewWriterSize(nc, 4096)
	return c
}

// TestLargeFramesGoOutInOneVector checks that a message too large for the
// write buffer leaves in one WriteBuffers call, header and payload
// together, and that smaller ones still go through the buffer, one Write
// each; the bytes are a correct frame either way.
func TestLargeFramesGoOutInOneVector(t *testing.T) {
	for _, tt := range []struct {
		n               int
		writes, vectors int
	}{
		{16, 1, 0},
		{4096 - 4, 1, 0}, // with its 4-byte header, exactly the buffer
		{4096 - 3, 0, 1},
		{64 << 10, 0, 1},
	} {
		rc := &recordingConn{}
		c := newWriteOnlyConn(rc)
		p := bytes.Repeat([]byte{0xA5}, tt.n)
		if err := c.Write(context.Background(), Binary, p); err != nil {
			t.Fatalf("%d bytes: %v", tt.n, err)
		}
		if rc.writes != tt.writes || rc.vectors != tt.vectors {
			t.Errorf("%d bytes: %d Write and %d WriteBuffers calls, want %d and %d", tt.n, rc.writes, rc.vectors, tt.writes, tt.vectors)
		}
		var h frameHeader
		b := rc.out.Bytes()
		if len(b) < 2 || len(b) < headerLen(b[1]) || !parseHeader(b[:headerLen(b[1])], &h) {
			t.Fatalf("%d bytes: no frame header in % x", tt.n, b[:min(len(b), 14)])
		}
		if h.op != opBinary || !h.fin || h.masked || h.length != int64(tt.n) || !bytes.Equal(b[headerLen(b[1]):], p) {
			t.Errorf("%d bytes: frame %+v with %d payload bytes", tt.n, h, len(b)-headerLen(b[1]))
		}
		if c.wvec[0] != nil || c.wvec[1] != nil {
			t.Errorf("%d bytes: the connection still refers to the payload after writing it", tt.n)
		}
	}
}

// TestLargeFramesOverAPlainConn checks the same path on a connection
// without WriteBuffers (net/http's server hands out its own): the frame
// arrives whole.
func TestLargeFramesOverAPlainConn(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	c := newWriteOnlyConn(server)
	p := bytes.Repeat([]byte{0x5A}, 64<<10)
	errc := make(chan error, 1)
	go func() {
		errc <- c.Write(context.Background(), Binary, p)
		server.Close()
	}()
	var got bytes.Buffer
	if _, err := got.ReadFrom(client); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	b := got.Bytes()
	if len(b) != 10+len(p) || b[0] != 0x82 || b[1] != 127 || !bytes.Equal(b[10:], p) {
		t.Fatalf("got %d bytes, beginning % x; want a 10-byte header and the %d-byte payload", len(b), b[:min(len(b), 10)], len(p))
	}
}

// TestHijackedMoltConnWritesVectors checks that the connection a handler
// hijacks from molt's server is a buffersWriter, and that it writes.
func TestHijackedMoltConnWritesVectors(t *testing.T) {
	isVector := make(chan bool, 1)
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			isVector <- false
			return
		}
		defer nc.Close()
		bw, ok := nc.(buffersWriter)
		isVector <- ok
		if ok {
			bufs := net.Buffers{[]byte("HTTP/1.1 204 No Content\r\n"), []byte("Connection: close\r\n\r\n")}
			bw.WriteBuffers(&bufs)
		}
	}))
	resp, err := ts.Client(t, h2ctest.H1).Get(ts.URL)
	if !<-isVector {
		t.Fatal("the hijacked connection has no WriteBuffers method")
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want 204 written through WriteBuffers", resp.StatusCode)
	}
}
