package h2

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestDrainPeerNotReading: Drain returns at once even when a connection's
// peer reads nothing, so that its writes block: one such client must not
// hold up the GOAWAY of every other connection, nor the caller's
// Shutdown and its deadline.
func TestDrainPeerNotReading(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Logger: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	// A pipe has no buffer: every server write blocks until the client
	// reads, which this one never does.
	sconn, cconn := net.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeConn(sconn, &ServeConnOpts{Handler: http.NotFoundHandler()})
	}()
	defer func() {
		cconn.Close()
		<-served
	}()
	if _, err := io.WriteString(cconn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	for tracked := false; !tracked; {
		srv.mu.Lock()
		tracked = len(srv.conns) == 1
		srv.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	drained := make(chan struct{})
	go func() {
		srv.Drain()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("Drain blocked on a connection whose peer does not read")
	}
}

// TestBufferedBodiesBounded attacks a live server with many streams whose
// handlers do not read their bodies (CVE-2019-9517, internal data
// buffering): the client sends all that the server's windows allow, and
// the request data the server takes in stays within twice the connection
// window, however many streams there are.
func TestBufferedBodiesBounded(t *testing.T) {
	checkGoroutines(t)
	const (
		streams    = 64
		connWindow = 128 << 10
	)
	release := make(chan struct{})
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}), func(s *Server) {
		s.MaxConcurrentStreams = streams
		s.MaxUploadBufferPerConnection = connWindow
		s.MaxUploadBufferPerStream = 64 << 10
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	rc := dialRaw(t, ts)
	connSend := int64(initialWindow)
	send := map[uint32]int64{}
	for i := range streams {
		id := uint32(2*i + 1)
		rc.post(id, "/")
		send[id] = int64(rc.settings[http2.SettingInitialWindowSize])
	}
	chunk := make([]byte, 16384)
	total := int64(0)
	for round := 0; round < 1000; round++ {
		sent := int64(0)
		for id := uint32(1); id < 2*streams; id += 2 {
			for send[id] > 0 && connSend > 0 {
				n := min(int64(len(chunk)), send[id], connSend)
				if err := rc.fr.WriteData(id, false, chunk[:n]); err != nil {
					t.Fatal(err)
				}
				send[id] -= n
				connSend -= n
				sent += n
			}
		}
		total += sent
		if sent == 0 {
			break
		}
		// The server answers frames in order: every WINDOW_UPDATE that the
		// data above earns comes before the PING's ACK.
		data := [8]byte{'r', byte(round), byte(round >> 8)}
		rc.fr.WritePing(false, data)
		rc.readUntil("PING ACK", func(f http2.Frame) bool {
			switch f := f.(type) {
			case *http2.WindowUpdateFrame:
				if f.StreamID == 0 {
					connSend += int64(f.Increment)
				} else {
					send[f.StreamID] += int64(f.Increment)
				}
			case *http2.RSTStreamFrame:
				t.Fatalf("stream %d reset: %v", f.StreamID, f.ErrCode)
			case *http2.GoAwayFrame:
				t.Fatalf("GOAWAY %v", f.ErrCode)
			case *http2.PingFrame:
				return f.IsAck() && f.Data == data
			}
			return false
		})
	}
	if total > 2*connWindow {
		t.Errorf("the server took in %d bytes of request bodies nobody reads, more than twice the connection window (%d)", total, connWindow)
	}
	// Once the handlers return, their buffers are released and the
	// connection serves again.
	unblock()
	for id := uint32(2*streams + 1); ; id += 2 {
		rc.get(id, "/")
		f := rc.readUntil("answer", func(f http2.Frame) bool { return f.Header().StreamID == id })
		if _, ok := f.(*http2.MetaHeadersFrame); ok {
			break
		}
		if id > 4001 {
			t.Fatal("no stream served after the handlers returned")
		}
		time.Sleep(time.Millisecond)
	}
}

// hpackInt appends the HPACK integer v with an n-bit prefix whose other
// bits are first (RFC 7541 section 5.1).
func hpackInt(b []byte, first byte, n uint, v uint64) []byte {
	max := uint64(1)<<n - 1
	if v < max {
		return append(b, first|byte(v))
	}
	b = append(b, first|byte(max))
	for v -= max; v >= 128; v >>= 7 {
		b = append(b, byte(v&0x7f)|0x80)
	}
	return append(b, byte(v))
}

// TestAttacks sends malformed or hostile frame sequences to a live server
// and checks the answer: the stream error or connection error RFC 9113
// asks for, a connection that still works after a stream error, and no
// goroutine left behind.
func TestAttacks(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}), func(s *Server) {
		s.MaxHeaderListSize = 64 << 10
		s.MaxReadFrameSize = 1 << 17
		s.MaxUploadBufferPerConnection = 65535
		s.MaxUploadBufferPerStream = 32 << 10
	})
	defer close(release)
	get := func(rc *rawConn, path string) []byte {
		rc.hbuf.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "example.com"}, {":path", path}} {
			rc.henc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		return append([]byte(nil), rc.hbuf.Bytes()...)
	}
	big := strings.Repeat("b", 4000)
	for _, tc := range []struct {
		name   string
		send   func(rc *rawConn)
		goAway bool          // a connection error with code, or
		rst    uint32        // a stream error on this stream, with code
		code   http2.ErrCode // (neither: send checks the answers itself)
	}{
		{name: "HPACK bomb of indexed references", send: func(rc *rawConn) {
			// Stream 1 puts a 4000-byte field in the dynamic table;
			// stream 3 refers to it 16000 times in 16000 bytes.
			rc.get(1, "/", "x-big", big)
			rc.response(1)
			block := get(rc, "/")
			for range 16000 {
				block = append(block, 0x80|62)
			}
			rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block, EndStream: true, EndHeaders: true})
			if r := rc.response(3); r.status != "431" {
				rc.t.Fatalf("HPACK bomb answered %+v, want 431", r)
			}
		}},
		{name: "table size update above the limit", goAway: true, code: http2.ErrCodeCompression, send: func(rc *rawConn) {
			block := hpackInt(nil, 0x20, 5, 1<<20)
			rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: append(block, get(rc, "/")...), EndStream: true, EndHeaders: true})
		}},
		{name: "table size update after a field", goAway: true, code: http2.ErrCodeCompression, send: func(rc *rawConn) {
			block := append(get(rc, "/"), hpackInt(nil, 0x20, 5, 100)...)
			rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndStream: true, EndHeaders: true})
		}},
		{name: "header list over the limit across CONTINUATIONs", goAway: true, code: http2.ErrCodeProtocol, send: func(rc *rawConn) {
			rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get(rc, "/"), EndStream: true})
			field := append(hpackInt([]byte{0}, 0, 7, 5), "x-pad"...) // literal, not indexed
			field = append(hpackInt(field, 0, 7, 8000), strings.Repeat("p", 8000)...)
			for range 20 {
				if err := rc.fr.WriteContinuation(1, false, field); err != nil {
					return // the server has closed the connection
				}
			}
		}},
		{name: "DATA beyond the stream window", rst: 1, code: http2.ErrCodeFlowControl, send: func(rc *rawConn) {
			rc.post(1, "/hold")
			w := int(rc.settings[http2.SettingInitialWindowSize])
			for w >= 0 {
				rc.fr.WriteData(1, false, make([]byte, min(16384, w+1)))
				w -= 16384
			}
		}},
		{name: "DATA beyond the connection window", goAway: true, code: http2.ErrCodeFlowControl, send: func(rc *rawConn) {
			// One frame larger than the whole connection window (65535),
			// which MaxReadFrameSize allows.
			rc.post(1, "/hold")
			rc.fr.WriteData(1, false, make([]byte, 70000))
		}},
		{name: "WINDOW_UPDATE overflow on a stream", rst: 1, code: http2.ErrCodeFlowControl, send: func(rc *rawConn) {
			rc.post(1, "/hold")
			rc.fr.WriteWindowUpdate(1, 1<<31-1)
		}},
		{name: "WINDOW_UPDATE overflow on the connection", goAway: true, code: http2.ErrCodeFlowControl, send: func(rc *rawConn) {
			rc.fr.WriteWindowUpdate(0, 1<<30)
			rc.fr.WriteWindowUpdate(0, 1<<30)
		}},
		{name: "INITIAL_WINDOW_SIZE overflowing an open stream", goAway: true, code: http2.ErrCodeFlowControl, send: func(rc *rawConn) {
			rc.post(1, "/hold")
			rc.fr.WriteWindowUpdate(1, 1<<31-1-1<<20) // the window is now 2^31-1
			rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<20 + 1})
		}},
		{name: "zero WINDOW_UPDATE on a stream", rst: 1, code: http2.ErrCodeProtocol, send: func(rc *rawConn) {
			rc.post(1, "/hold")
			rc.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 1, []byte{0, 0, 0, 0})
		}},
		{name: "zero WINDOW_UPDATE on the connection", goAway: true, code: http2.ErrCodeProtocol, send: func(rc *rawConn) {
			rc.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 0, []byte{0, 0, 0, 0})
		}},
		{name: "PRIORITY on itself", rst: 3, code: http2.ErrCodeProtocol, send: func(rc *rawConn) {
			rc.fr.WritePriority(3, http2.PriorityParam{StreamDep: 3, Weight: 1})
		}},
		{name: "HEADERS depending on itself", rst: 1, code: http2.ErrCodeProtocol, send: func(rc *rawConn) {
			rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get(rc, "/"), EndStream: true, EndHeaders: true,
				Priority: http2.PriorityParam{StreamDep: 1, Weight: 1}})
		}},
		{name: "DATA padding longer than the frame", goAway: true, code: http2.ErrCodeProtocol, send: func(rc *rawConn) {
			rc.post(1, "/hold")
			rc.fr.WriteRawFrame(http2.FrameData, http2.FlagDataPadded, 1, []byte{10, 'x'})
		}},
		{name: "HEADERS padding longer than the frame", goAway: true, code: http2.ErrCodeProtocol, send: func(rc *rawConn) {
			block := get(rc, "/")
			rc.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersPadded|http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1,
				append([]byte{byte(len(block) + 1)}, block...))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, ts)
			tc.send(rc)
			switch {
			case tc.goAway:
				rc.wantGoAway(tc.code)
				if err := rc.waitClosed(); err != nil {
					t.Errorf("connection not closed: %v", err)
				}
			case tc.rst != 0:
				rc.wantRST(tc.rst, tc.code)
				rc.ping()
			default:
				rc.ping()
			}
		})
	}
}

// TestDrainBeforePreface: a connection drained while it still waits for
// the client preface sends its SETTINGS first (RFC 9113 section 3.4: the
// server preface is a SETTINGS frame), then the GOAWAY.
func TestDrainBeforePreface(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Logger: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	sconn, cconn := net.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeConn(sconn, &ServeConnOpts{Handler: http.NotFoundHandler()})
	}()
	defer func() {
		cconn.Close()
		<-served
	}()
	for tracked := false; !tracked; {
		srv.mu.Lock()
		tracked = len(srv.conns) == 1
		srv.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	srv.Drain()
	go io.WriteString(cconn, http2.ClientPreface)
	rc := newRawConn(t, cconn)
	if f := rc.read(); f.Header().Type != http2.FrameSettings {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
	rc.readUntil("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok })
}

// TestReadLoopPeerNotReading attacks a live connection with a client
// that floods PINGs and never reads: the read loop's PING ACK (or
// SETTINGS ACK) cannot be written and its write blocks. The connection must end, with a
// log line, once the write has waited WriteByteTimeout or, with that off,
// peerStallTimeout; memory and goroutines stay bounded meanwhile.
func TestReadLoopPeerNotReading(t *testing.T) {
	defer func(d time.Duration) { peerStallTimeout = d }(peerStallTimeout)
	peerStallTimeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name         string
		writeTimeout time.Duration
		want         string
	}{
		{"WriteByteTimeout off", 0, "the read loop cannot write its answers"},
		{"WriteByteTimeout", 200 * time.Millisecond, "within WriteByteTimeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			var logs lockedBuffer
			srv := &Server{
				WriteByteTimeout: tc.writeTimeout,
				Logger:           slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			}
			// A pipe has no buffer: once the client stops reading, the
			// server's next write blocks, as it would on a TCP
			// connection whose socket buffers are full, without
			// depending on their size.
			sc, client := net.Pipe()
			defer client.Close()
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			served := make(chan struct{})
			go func() {
				defer close(served)
				srv.ServeConn(sc, &ServeConnOpts{Handler: http.NotFoundHandler()})
			}()
			// The flood stays under the flood budget (floodBudget), so
			// only the blocked write can end the connection.
			flooded := make(chan struct{})
			go func() {
				defer close(flooded)
				fr := http2.NewFramer(client, client)
				if _, err := io.WriteString(client, http2.ClientPreface); err != nil {
					return
				}
				// Read the server's SETTINGS and connection WINDOW_UPDATE,
				// written together, then nothing more.
				for range 2 {
					if _, err := fr.ReadFrame(); err != nil {
						return
					}
				}
				// The ACK first, so that no SETTINGS timeout ends the
				// connection: only the blocked write can.
				fr.WriteSettingsAck()
				fr.WriteSettings()
				for i := range floodBudget - 100 {
					if fr.WritePing(false, [8]byte{byte(i)}) != nil {
						return
					}
				}
			}()
			select {
			case <-served:
			case <-time.After(20 * time.Second):
				t.Fatal("the connection of a peer that never reads is still served")
			}
			var after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&after)
			if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 4<<20 {
				t.Errorf("heap grew by %d bytes for one connection", grew)
			}
			client.Close()
			<-flooded
			if !strings.Contains(logs.String(), tc.want) {
				t.Errorf("no log line saying %q:\n%s", tc.want, logs.String())
			}
		})
	}
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestDataAfterResetIsNotAFlood: a client uploads to a handler that
// answers without reading, on stream after stream, and sends each body's
// DATA once the stream's RST_STREAM has come (as a client's DATA in
// flight at the reset arrives). 12,000 such frames, more than the flood
// budget of 10,000 holds, carry data within the connection window like
// any upload: the connection must go on serving, not end with
// ENHANCE_YOUR_CALM. Frames without data after a reset still spend the
// budget (TestAttacks' empty-frame cases).
func TestDataAfterResetIsNotAFlood(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "no")
	}))
	rc := dialRaw(t, ts)
	chunk := make([]byte, 1024)
	const streams, frames = 200, 60
	for i := range uint32(streams) {
		id := 2*i + 1
		rc.post(id, "/")
		rc.readUntil("RST_STREAM", func(f http2.Frame) bool {
			if g, ok := f.(*http2.GoAwayFrame); ok {
				rc.t.Fatalf("GOAWAY %v (%q) at stream %d", g.ErrCode, g.DebugData(), id)
			}
			_, ok := f.(*http2.RSTStreamFrame)
			return ok && f.Header().StreamID == id
		})
		for j := range frames {
			if err := rc.fr.WriteData(id, j == frames-1, chunk); err != nil {
				t.Fatalf("DATA on stream %d: %v", id, err)
			}
		}
	}
	id := uint32(2*streams + 1)
	rc.get(id, "/")
	if r := rc.response(id); r.status != "200" || len(rc.goaways) != 0 {
		t.Fatalf("after %d DATA frames on reset streams: response %+v, GOAWAYs %v", streams*frames, r, rc.goaways)
	}
}
