package h2

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// The tests of reading by a tunnel's handler (lead.go): while a tunnel
// is a connection's only stream, its Read reads the connection; the
// connection must be served all the same, and the reading must come back
// to the read loop whenever the handler is away.

// leadServer serves tunnels that echo what they read (handing their body
// to bodies as they start, and the error that ends their Read to ends,
// if not nil), POST /hold as holding does, and other requests answering
// "other".
func leadServer(t *testing.T, bodies chan<- *requestBody, ends chan<- error) *testServer {
	return newTestServer(t, holding(tunnelOr(bodies, ends, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "other") })))
}

// tunnelOr serves a CONNECT stream by echoing what its Read returns
// (handing its body to bodies as it starts, and the error that ends its
// Read to ends, if not nil), and any other stream with other.
func tunnelOr(bodies chan<- *requestBody, ends chan<- error, other http.HandlerFunc) http.HandlerFunc {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			other(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		b := r.Body.(*requestBody)
		bodies <- b
		buf := make([]byte, 64)
		for {
			n, err := b.Read(buf)
			if n > 0 {
				w.Write(buf[:n])
				http.NewResponseController(w).Flush()
			}
			if err != nil {
				if ends != nil {
					ends <- err
				}
				return
			}
		}
	})
}

// openTunnel opens an extended CONNECT for / on stream id, reads its
// response headers and returns its body, from bodies.
func openTunnel(t *testing.T, rc *rawConn, id uint32, bodies <-chan *requestBody) *requestBody {
	t.Helper()
	return openTunnelPath(t, rc, id, "/", bodies)
}

// openTunnelPath is openTunnel for path.
func openTunnelPath(t *testing.T, rc *rawConn, id uint32, path string, bodies <-chan *requestBody) *requestBody {
	t.Helper()
	rc.headers(id, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "a", ":path", path)
	rc.readUntil("response headers", func(f http2.Frame) bool {
		_, ok := f.(*http2.MetaHeadersFrame)
		return ok && f.Header().StreamID == id
	})
	select {
	case b := <-bodies:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("tunnel handler did not start")
		return nil
	}
}

// waitLeading waits (bounded) until b's Read holds the connection's
// reading and waits in its read.
func waitLeading(t *testing.T, b *requestBody) {
	t.Helper()
	if !leading(b) {
		t.Fatal("the tunnel's Read never read the connection")
	}
}

// leading waits up to 10 s for b's Read to hold the connection's reading
// and wait in its read, and reports whether it did.
func leading(b *requestBody) bool {
	sc := b.st.sc
	for range 10000 {
		sc.mu.Lock()
		ok := sc.leader == b.st && sc.leaderBlocked
		sc.mu.Unlock()
		if ok {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// readData reads frames until DATA on id has brought n bytes, giving
// back each frame's credit on the stream if credit is set, and returns
// them.
func readData(t *testing.T, rc *rawConn, id uint32, n int, credit bool) string {
	t.Helper()
	var got bytes.Buffer
	for got.Len() < n {
		f := rc.readUntil("DATA", func(f http2.Frame) bool {
			_, ok := f.(*http2.DataFrame)
			return ok && f.Header().StreamID == id
		}).(*http2.DataFrame)
		got.Write(f.Data())
		if credit && len(f.Data()) > 0 {
			rc.fr.WriteWindowUpdate(id, uint32(len(f.Data())))
		}
	}
	return got.String()
}

// echo sends msg on tunnel id and checks that it comes back.
func echo(t *testing.T, rc *rawConn, id uint32, msg string) {
	t.Helper()
	rc.fr.WriteData(id, false, []byte(msg))
	if got := readData(t, rc, id, len(msg), false); got != msg {
		t.Fatalf("echo on stream %d: %q, want %q", id, got, msg)
	}
}

// readResponse reads the response on stream id to its end and returns its
// status and body.
func readResponse(t *testing.T, rc *rawConn, id uint32) (string, string) {
	t.Helper()
	var status string
	var body bytes.Buffer
	for {
		f := rc.readUntil("response", func(f http2.Frame) bool { return f.Header().StreamID == id })
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if s := f.PseudoValue("status"); s != "" {
				status = s
			}
			if f.StreamEnded() {
				return status, body.String()
			}
		case *http2.DataFrame:
			body.Write(f.Data())
			if f.StreamEnded() {
				return status, body.String()
			}
		case *http2.RSTStreamFrame:
			t.Fatalf("stream %d reset: %v", id, f.ErrCode)
		}
	}
}

// TestLeadServesConnection: while a tunnel's Read reads the connection,
// everything else on it is served as the read loop would: PING and
// SETTINGS are answered, a request on another stream gets its response,
// the tunnel still echoes, and a connection error from the client ends
// it with GOAWAY and the tunnel's Read with an error.
func TestLeadServesConnection(t *testing.T) {
	checkGoroutines(t)
	bodies := make(chan *requestBody, 4)
	ends := make(chan error, 1)
	ts := leadServer(t, bodies, ends)
	rc := dialRaw(t, ts)
	b := openTunnel(t, rc, 1, bodies)
	waitLeading(t, b)
	echo(t, rc, 1, "hello")
	waitLeading(t, b)

	ping := [8]byte{'l', 'e', 'a', 'd'}
	rc.fr.WritePing(false, ping)
	rc.readUntil("PING ack", func(f http2.Frame) bool {
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck() && p.Data == ping
	})
	rc.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 15})
	rc.readUntil("SETTINGS ack", func(f http2.Frame) bool {
		s, ok := f.(*http2.SettingsFrame)
		return ok && s.IsAck()
	})

	rc.get(3, "/other")
	if status, body := readResponse(t, rc, 3); status != "200" || body != "other" {
		t.Fatalf("GET on another stream while the tunnel read: %s %q, want 200 \"other\"", status, body)
	}
	echo(t, rc, 1, "again")
	waitLeading(t, b) // the only stream again: its Read reads again

	rc.fr.AllowIllegalWrites = true
	rc.fr.WriteData(0, false, []byte("x")) // DATA on stream 0: a connection error
	rc.wantGoAway(http2.ErrCodeProtocol)
	if err := within(t, "tunnel Read after the connection error", ends); err == nil {
		t.Error("the tunnel's Read went on after the connection ended")
	}
	ts.close()
}

// TestLeadReclaimed: a tunnel's handler that read the connection and
// then stays out of Read (busy elsewhere) gives the reading back to the
// read loop (leadReclaim): PINGs are answered and other streams served
// while it is away, and it reads again when it comes back.
func TestLeadReclaimed(t *testing.T) {
	checkGoroutines(t)
	gate := make(chan struct{})
	bodies := make(chan *requestBody, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			io.WriteString(w, "other")
			return
		}
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		b := r.Body.(*requestBody)
		bodies <- b
		buf := make([]byte, 64)
		for {
			n, err := b.Read(buf)
			if err != nil {
				return
			}
			<-gate // busy, out of Read, holding the reading
			w.Write(buf[:n])
			http.NewResponseController(w).Flush()
		}
	}))
	rc := dialRaw(t, ts)
	b := openTunnel(t, rc, 1, bodies)
	waitLeading(t, b)
	rc.fr.WriteData(1, false, []byte("one"))

	ping := [8]byte{'b', 'u', 's', 'y'}
	rc.fr.WritePing(false, ping)
	rc.readUntil("PING ack while the handler is away", func(f http2.Frame) bool {
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck() && p.Data == ping
	})
	rc.get(3, "/other")
	if status, body := readResponse(t, rc, 3); status != "200" || body != "other" {
		t.Fatalf("GET while the tunnel's handler is away: %s %q, want 200 \"other\"", status, body)
	}
	gate <- struct{}{}
	if got := readData(t, rc, 1, 3, false); got != "one" {
		t.Fatalf("echo: %q, want one", got)
	}
	waitLeading(t, b) // back in Read: it reads again
	rc.fr.WriteData(1, false, []byte("two"))
	gate <- struct{}{}
	if got := readData(t, rc, 1, 3, false); got != "two" {
		t.Fatalf("echo: %q, want two", got)
	}
	rc.fr.WriteData(1, true, nil)
	ts.close()
}

// TestLeadWriteWaitsForWindow: a tunnel's Write that waits for send
// window while its stream holds the reading gets the WINDOW_UPDATE: read
// by the Write itself when no Read of the stream reads (one goroutine
// echoing), or by the Read that reads in another goroutine (full
// duplex). PINGs are answered meanwhile.
func TestLeadWriteWaitsForWindow(t *testing.T) {
	for _, duplex := range []bool{false, true} {
		name := map[bool]string{false: "one goroutine", true: "duplex"}[duplex]
		t.Run(name, func(t *testing.T) { testLeadWriteWaitsForWindow(t, duplex) })
	}
}

func testLeadWriteWaitsForWindow(t *testing.T, duplex bool) {
	checkGoroutines(t)
	bodies := make(chan *requestBody, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		b := r.Body.(*requestBody)
		bodies <- b
		msgs := make(chan []byte, 1)
		read := func() {
			defer close(msgs)
			for {
				buf := make([]byte, 256)
				n, err := b.Read(buf)
				if n > 0 {
					msgs <- buf[:n]
				}
				if err != nil {
					return
				}
			}
		}
		if duplex {
			go read()
			for m := range msgs {
				w.Write(bytes.Repeat(m, 4))
				http.NewResponseController(w).Flush()
			}
			return
		}
		buf := make([]byte, 256)
		for {
			n, err := b.Read(buf)
			if n > 0 {
				w.Write(bytes.Repeat(buf[:n], 4))
				http.NewResponseController(w).Flush()
			}
			if err != nil {
				return
			}
		}
	}))
	// A stream window of 16 bytes: every answer waits for window.
	rc := dialRaw(t, ts, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 16})
	b := openTunnel(t, rc, 1, bodies)
	waitLeading(t, b)
	for i, msg := range []string{"0123456789abcdef", "window"} {
		rc.fr.WriteData(1, false, []byte(msg))
		want := msg + msg + msg + msg
		got := readData(t, rc, 1, 16, false) // all the window allows
		if i == 0 {
			// The answer waits for window: PING meanwhile.
			ping := [8]byte{'w', 'i', 'n', 'd', 'o', 'w'}
			rc.fr.WritePing(false, ping)
			rc.readUntil("PING ack while a Write waits for window", func(f http2.Frame) bool {
				p, ok := f.(*http2.PingFrame)
				return ok && p.IsAck() && p.Data == ping
			})
		}
		rc.fr.WriteWindowUpdate(1, 16)
		got += readData(t, rc, 1, len(want)-16, true)
		if got != want {
			t.Fatalf("answer %d: %q, want %q", i, got, want)
		}
	}
	rc.fr.WriteData(1, true, nil)
	ts.close()
}

// TestLeadStreamEnds ends a tunnel's stream in every way one ends while
// its Read reads the connection (RST_STREAM, END_STREAM, a read
// deadline, Close from another goroutine, the handler returning while
// another goroutine reads, a panicking handler) and checks each time
// that the handler's Read returns and the connection goes on: a request
// on another stream is answered, and the next tunnel reads the
// connection again.
func TestLeadStreamEnds(t *testing.T) {
	checkGoroutines(t)
	type started struct {
		b    *requestBody
		read chan error // the Read's error, once it returns one
		led  bool       // /return, /panic: the Read read the connection before the handler ended
	}
	starts := make(chan started, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			io.WriteString(w, "other")
			return
		}
		if r.URL.Path == "/deadline" {
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		}
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		b := r.Body.(*requestBody)
		s := started{b: b, read: make(chan error, 1)}
		readAll := func() {
			buf := make([]byte, 64)
			for {
				if _, err := b.Read(buf); err != nil {
					s.read <- err
					return
				}
			}
		}
		switch r.URL.Path {
		case "/return":
			go readAll()
			s.led = leading(b)
			starts <- s
			return // while the other goroutine reads
		case "/panic":
			go readAll()
			s.led = leading(b)
			starts <- s
			panic(http.ErrAbortHandler)
		}
		starts <- s
		readAll()
	}))
	rc := dialRaw(t, ts)
	id := uint32(1)
	for _, how := range []string{"/rst", "/end", "/deadline", "/close", "/return", "/panic"} {
		rc.headers(id, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "a", ":path", how)
		var s started
		select {
		case s = <-starts:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: handler did not start", how)
		}
		switch how {
		case "/deadline":
		case "/return", "/panic":
			if !s.led {
				t.Fatalf("%s: the tunnel's Read never read the connection", how)
			}
		default:
			waitLeading(t, s.b)
		}
		switch how {
		case "/rst":
			rc.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		case "/end":
			rc.fr.WriteData(id, true, nil)
		case "/close":
			s.b.Close()
		}
		err := within(t, how+": the tunnel's Read", s.read)
		switch {
		case err == nil:
			t.Errorf("%s: Read returned no error", how)
		case how == "/end" && err != io.EOF:
			t.Errorf("%s: Read: %v, want io.EOF", how, err)
		case how == "/deadline" && !errors.Is(err, os.ErrDeadlineExceeded):
			t.Errorf("%s: Read: %v, want os.ErrDeadlineExceeded", how, err)
		case how == "/close" && !errors.Is(err, errBodyClosed):
			t.Errorf("%s: Read: %v, want errBodyClosed", how, err)
		}
		if how != "/rst" && how != "/end" {
			rc.fr.WriteRSTStream(id, http2.ErrCodeCancel) // the client's half
		}
		rc.get(id+2, "/other")
		if status, body := readResponse(t, rc, id+2); status != "200" || body != "other" {
			t.Fatalf("%s: GET afterwards: %s %q, want 200 \"other\"", how, status, body)
		}
		id += 4
	}
	rc.c.Close()
	ts.close()
}

// TestLeadDrain: Drain while a tunnel's Read reads the connection sends
// GOAWAY, the drain's PING is answered through the tunnel's reading, the
// tunnel goes on until the client ends it, and the connection then
// closes.
func TestLeadDrain(t *testing.T) {
	checkGoroutines(t)
	bodies := make(chan *requestBody, 1)
	ts := leadServer(t, bodies, nil)
	rc := dialRaw(t, ts)
	b := openTunnel(t, rc, 1, bodies)
	waitLeading(t, b)
	ts.srv.Drain()
	rc.wantGoAway(http2.ErrCodeNo)
	p := rc.readUntil("the drain's PING", func(f http2.Frame) bool {
		p, ok := f.(*http2.PingFrame)
		return ok && !p.IsAck()
	}).(*http2.PingFrame)
	rc.fr.WritePing(true, p.Data)
	if f := rc.wantGoAway(http2.ErrCodeNo); f.LastStreamID != 1 {
		t.Fatalf("final GOAWAY names stream %d, want 1", f.LastStreamID)
	}
	echo(t, rc, 1, "still here")
	rc.fr.WriteData(1, true, nil)
	for {
		if _, err := rc.fr.ReadFrame(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("after the tunnel ended: %v, want the connection closed (EOF)", err)
			}
			break
		}
	}
	ts.close()
}
