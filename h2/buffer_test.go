package h2

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// chunkReader returns its chunks one per Read, then err.
type chunkReader struct {
	chunks [][]byte
	err    error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, r.err
	}
	n := copy(p, r.chunks[0])
	if r.chunks[0] = r.chunks[0][n:]; len(r.chunks[0]) == 0 {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

// TestReadBuffer reads chunks of many sizes through a readBuffer that is
// released whenever it may be, with reads of many sizes, and checks that
// every byte arrives in order, and the final error after them.
func TestReadBuffer(t *testing.T) {
	errEnd := errors.New("end")
	for _, tc := range []struct {
		name   string
		chunks []int
		read   int
		idle   bool
	}{
		{"small chunks, frame-header reads", []int{9, 30, 1, 500, 512, 513}, 9, false},
		{"large chunks, idle", []int{40000, 100, 70000, 3}, 1000, true},
		{"large chunks, busy", []int{40000, 100, 70000, 3}, 1000, false},
		{"reads larger than a buffer", []int{5, 100000, 7}, bufSize + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want bytes.Buffer
			src := &chunkReader{err: errEnd}
			for i, n := range tc.chunks {
				c := bytes.Repeat([]byte{byte('a' + i)}, n)
				want.Write(c)
				src.chunks = append(src.chunks, c)
			}
			b := &readBuffer{src: src}
			var got bytes.Buffer
			p := make([]byte, tc.read)
			for {
				if b.Buffered() == 0 {
					b.release(func() bool { return tc.idle })
				}
				n, err := b.Read(p)
				got.Write(p[:n])
				if err != nil {
					if err != errEnd {
						t.Fatalf("error %v, want %v", err, errEnd)
					}
					break
				}
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("read %d bytes, not the %d sent, in order", got.Len(), want.Len())
			}
			if b.buf != nil {
				b.release(func() bool { return true })
			}
		})
	}
}

// TestReadBufferReleases checks when the buffer goes back to the pool
// (empty, and the input small or the connection idle), and that small
// input, read from the small array where it lands, takes no pooled
// buffer at all.
func TestReadBufferReleases(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunk  int
		idle   bool
		pooled bool // a pooled buffer is taken
		want   bool // released
	}{
		{"small input", idleReadSize - 1, false, false, true},
		{"large input, busy", idleReadSize * 4, false, true, false},
		{"large input, idle", idleReadSize * 4, true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &chunkReader{chunks: [][]byte{make([]byte, tc.chunk)}, err: io.EOF}
			b := &readBuffer{src: src}
			// Frame-header-sized reads, as the Framer makes: through the
			// buffer, not around it.
			for left := tc.chunk; left > 0; left -= 9 {
				if _, err := io.ReadFull(b, make([]byte, min(9, left))); err != nil {
					t.Fatal(err)
				}
			}
			if b.pooled != tc.pooled {
				t.Fatalf("took a pooled buffer: %v, want %v", b.pooled, tc.pooled)
			}
			b.release(func() bool { return tc.idle })
			if got := b.buf == nil; got != tc.want {
				t.Fatalf("released %v, want %v", got, tc.want)
			}
			if _, err := b.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("after the data: %v, want EOF", err)
			}
		})
	}
	// Bytes still buffered are never released.
	b := &readBuffer{src: strings.NewReader("0123456789")}
	b.Read(make([]byte, 4))
	b.release(func() bool { return true })
	if b.buf == nil || b.Buffered() != 6 {
		t.Fatalf("released a buffer holding %d bytes", b.Buffered())
	}
}

// TestReadBufferFill checks fill's moves between the small array and a
// pooled buffer: a frame that arrives whole in small is buffered there; a
// frame begun in small whose rest arrives later moves, with its first
// bytes, into a pooled buffer; and no byte is lost or reordered.
func TestReadBufferFill(t *testing.T) {
	small := frameBytes(0, 30)   // a frame of 39 bytes
	large := frameBytes(1, 2000) // begun in small, ends in a pooled buffer
	src := &chunkReader{chunks: [][]byte{small, large[:100], large[100:700], large[700:]}, err: io.EOF}
	b := &readBuffer{src: src}
	if err := b.fill(); err != nil {
		t.Fatal(err)
	}
	if b.pooled || !b.frameBuffered() || b.frameLen() != len(small) {
		t.Fatalf("first fill: pooled %v, frame buffered %v (%d bytes), want a whole frame of %d in small", b.pooled, b.frameBuffered(), b.frameLen(), len(small))
	}
	var got bytes.Buffer
	p := make([]byte, len(small))
	io.ReadFull(b, p)
	got.Write(p)
	b.release(func() bool { return false })
	for !b.frameBuffered() {
		if err := b.fill(); err != nil {
			t.Fatalf("fill: %v", err)
		}
	}
	if !b.pooled {
		t.Fatal("a frame larger than the small array is buffered whole outside a pooled buffer")
	}
	p = make([]byte, len(large))
	if _, err := io.ReadFull(b, p); err != nil {
		t.Fatal(err)
	}
	got.Write(p)
	if want := append(append([]byte(nil), small...), large...); !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read %d bytes, not the %d sent, in order", got.Len(), len(want))
	}
}

// frameBytes returns a frame header announcing n bytes of payload, and
// the payload, each byte of it seed plus its index.
func frameBytes(seed byte, n int) []byte {
	p := []byte{byte(n >> 16), byte(n >> 8), byte(n), 0, 0, 0, 0, 0, 1}
	for i := 0; i < n; i++ {
		p = append(p, seed+byte(i))
	}
	return p
}

// recordingWriter records the size of every Write.
type recordingWriter struct {
	bytes.Buffer
	writes []int
	err    error
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.writes = append(w.writes, len(p))
	return w.Buffer.Write(p)
}

// TestWriteBuffer checks that frames are gathered into one write per
// Flush (or per buffer-full), that none is lost or reordered, that the
// buffer is released on Flush, and that a write error is returned.
func TestWriteBuffer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []int
		want   []int // sizes of the writes that reach dst
	}{
		{"frames gathered", []int{9, 100, 13}, []int{122}},
		{"buffer full", []int{bufSize - 10, 20, 5}, []int{bufSize - 10, 25}},
		{"larger than a buffer", []int{10, bufSize + 1, 3}, []int{10, bufSize + 1, 3}},
		{"nothing", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := &recordingWriter{}
			b := &writeBuffer{dst: dst}
			var want bytes.Buffer
			for i, n := range tc.writes {
				p := bytes.Repeat([]byte{byte('a' + i)}, n)
				want.Write(p)
				if k, err := b.Write(p); k != n || err != nil {
					t.Fatalf("Write = %d, %v", k, err)
				}
			}
			if err := b.Flush(); err != nil {
				t.Fatal(err)
			}
			if b.buf != nil {
				t.Fatal("Flush kept the buffer")
			}
			if !bytes.Equal(dst.Bytes(), want.Bytes()) {
				t.Fatal("bytes lost or reordered")
			}
			if len(dst.writes) != len(tc.want) {
				t.Fatalf("writes %v, want %v", dst.writes, tc.want)
			}
			for i := range tc.want {
				if dst.writes[i] != tc.want[i] {
					t.Fatalf("writes %v, want %v", dst.writes, tc.want)
				}
			}
		})
	}
	failing := &recordingWriter{err: errors.New("broken")}
	b := &writeBuffer{dst: failing}
	b.Write([]byte("frame"))
	if err := b.Flush(); err != failing.err {
		t.Fatalf("Flush = %v, want %v", err, failing.err)
	}
}

// TestIdleConnectionGivesBackWorkers serves 20 streams at once on one
// connection, so that 20 workers run, and checks that once the
// connection is idle they end (within workerLinger, waited for with a
// bound), leaving the connection served: a request after that works.
func TestIdleConnectionGivesBackWorkers(t *testing.T) {
	const streams = 20
	var wg sync.WaitGroup
	wg.Add(streams)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/together" {
			wg.Done()
			wg.Wait() // every stream has its own worker
		}
		io.WriteString(w, "ok")
	}))
	rc := dialRaw(t, ts)
	before := runtime.NumGoroutine()
	for i := range streams {
		rc.get(uint32(2*i+1), "/together")
	}
	for ended := 0; ended < streams; {
		f := rc.read()
		if _, ok := f.(*http2.RSTStreamFrame); ok {
			t.Fatalf("stream %d reset", f.Header().StreamID)
		}
		if _, ok := f.(*http2.DataFrame); ok && f.Header().Flags.Has(http2.FlagDataEndStream) {
			ended++
		}
	}
	deadline := time.Now().Add(workerLinger + 10*time.Second)
	for runtime.NumGoroutine() >= before+streams/2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after the connection went idle; %d before its %d streams", runtime.NumGoroutine(), before, streams)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rc.get(2*streams+1, "/")
	if r := rc.response(2*streams + 1); r.status != "200" || string(r.body) != "ok" {
		t.Fatalf("after the workers ended: %s %q", r.status, r.body)
	}
}

// countingConn counts the writes made to it after counting starts.
type countingConn struct {
	net.Conn
	counting atomic.Bool
	writes   atomic.Int32
}

func (c *countingConn) Write(p []byte) (int, error) {
	if c.counting.Load() {
		c.writes.Add(1)
	}
	return c.Conn.Write(p)
}

// TestWholeResponseInOneWrite checks that a handler's response that
// fits its buffer and the send windows goes out as HEADERS and DATA with
// END_STREAM in one write to the connection.
func TestWholeResponseInOneWrite(t *testing.T) {
	checkGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan struct{})
	conns := make(chan *countingConn, 1)
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		cc := &countingConn{Conn: c}
		conns <- cc
		(&Server{}).ServeConn(cc, &ServeConnOpts{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello, world")
		})})
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rc := newRawConn(t, c)
	io.WriteString(c, http2.ClientPreface)
	rc.fr.WriteSettings()
	rc.readServerSettings()
	rc.fr.WriteSettingsAck()
	rc.ping() // the server has answered everything before the request
	cc := <-conns
	cc.counting.Store(true)
	rc.get(1, "/")
	r := rc.response(1)
	if r.status != "200" || string(r.body) != "hello, world" || r.get("content-length") != "12" {
		t.Fatalf("response %s %q, content-length %q", r.status, r.body, r.get("content-length"))
	}
	if n := cc.writes.Load(); n != 1 {
		t.Errorf("the response took %d writes, want 1", n)
	}
	c.Close()
	<-served
}

// TestWithinLimitNeverRefused keeps MaxConcurrentStreams streams open on
// one connection, opening the next as soon as a response ends, as h2load
// and molt bench do: none may be refused, although the client can see a
// response end before its handler has returned and freed its slot (the
// new stream then waits for the slot).
func TestWithinLimitNeverRefused(t *testing.T) {
	checkGoroutines(t)
	const limit, total = 3, 600
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), func(s *Server) { s.MaxConcurrentStreams = limit })
	rc := dialRaw(t, ts)
	next := uint32(1)
	for ; next < 2*limit; next += 2 {
		rc.get(next, "/")
	}
	for done := 0; done < total; {
		switch f := rc.read().(type) {
		case *http2.RSTStreamFrame:
			t.Fatalf("stream %d reset with %v after %d responses", f.StreamID, f.ErrCode, done)
		case *http2.DataFrame:
			if f.StreamEnded() {
				done++
				rc.get(next, "/")
				next += 2
			}
		}
	}
}

// TestPutBufRefusesOthers checks that the pool takes back only buffers of
// bufSize: a readBuffer's small array given to putBuf by mistake would
// otherwise be handed to another connection, as its own buffer.
func TestPutBufRefusesOthers(t *testing.T) {
	var b readBuffer
	b.inSmallArray(1)
	for range 100 {
		putBuf(b.buf)
		if p := getBuf(); p == b.buf || len(*p) != bufSize {
			t.Fatalf("getBuf returned a buffer of %d bytes (the small array: %v)", len(*p), p == b.buf)
		}
	}
}
