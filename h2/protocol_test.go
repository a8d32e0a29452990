package h2

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

func TestServerSettings(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure func(*Server)
		want      map[http2.SettingID]uint32
		absent    []http2.SettingID
	}{
		{"defaults", nil, map[http2.SettingID]uint32{
			http2.SettingMaxConcurrentStreams:  DefaultMaxConcurrentStreams,
			http2.SettingMaxFrameSize:          DefaultMaxReadFrameSize,
			http2.SettingInitialWindowSize:     DefaultMaxUploadBufferStream,
			http2.SettingMaxHeaderListSize:     DefaultMaxHeaderListSize,
			http2.SettingEnablePush:            0,
			http2.SettingEnableConnectProtocol: 1,
		}, nil},
		{"configured", func(s *Server) {
			s.MaxConcurrentStreams = 7
			s.MaxUploadBufferPerStream = 1000
			s.DisableExtendedConnect = true
		}, map[http2.SettingID]uint32{
			http2.SettingMaxConcurrentStreams: 7,
			http2.SettingInitialWindowSize:    1000,
		}, []http2.SettingID{http2.SettingEnableConnectProtocol}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			var cfg []func(*Server)
			if tc.configure != nil {
				cfg = append(cfg, tc.configure)
			}
			ts := newTestServer(t, http.NotFoundHandler(), cfg...)
			rc := dialRaw(t, ts)
			for id, v := range tc.want {
				if got, ok := rc.settings[id]; !ok || got != v {
					t.Errorf("%v = %v (sent %v), want %v", id, got, ok, v)
				}
			}
			for _, id := range tc.absent {
				if _, ok := rc.settings[id]; ok {
					t.Errorf("%v sent", id)
				}
			}
			// Our SETTINGS are acknowledged; a PING is answered.
			rc.readUntil("SETTINGS ACK", func(f http2.Frame) bool {
				s, ok := f.(*http2.SettingsFrame)
				return ok && s.IsAck()
			})
			rc.ping()
		})
	}
}

// TestMalformedRequests checks RFC 9113 section 8's stream errors: each
// request is reset with PROTOCOL_ERROR, its handler never runs, and the
// connection goes on.
func TestMalformedRequests(t *testing.T) {
	checkGoroutines(t)
	ran := make(chan string, 100)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran <- r.URL.Path }))
	base := []string{":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/"}
	for _, tc := range []struct {
		name   string
		fields []string
	}{
		{"connection", append(base, "connection", "close")},
		{"keep-alive", append(base, "keep-alive", "1")},
		{"transfer-encoding", append(base, "transfer-encoding", "chunked")},
		{"upgrade", append(base, "upgrade", "websocket")},
		{"te gzip", append(base, "te", "gzip")},
		{"uppercase name", append(base, "X-Upper", "1")},
		{"no :path", []string{":method", "GET", ":scheme", "http", ":authority", "a"}},
		{"empty :path", []string{":method", "GET", ":scheme", "http", ":path", ""}},
		{"no :method", []string{":scheme", "http", ":path", "/"}},
		{"bad :scheme", []string{":method", "GET", ":scheme", "ftp", ":path", "/"}},
		{":protocol on GET", append(base, ":protocol", "websocket")},
		{"CONNECT with :path", []string{":method", "CONNECT", ":authority", "a:1", ":path", "/"}},
		{"CONNECT without :authority", []string{":method", "CONNECT"}},
		{"pseudo after regular", []string{":method", "GET", ":scheme", "http", "x", "1", ":path", "/"}},
		{"response pseudo", append(base, ":status", "200")},
		{"content-length with no body", append(base, "content-length", "3")},
		{"bad content-length", append(base, "content-length", "x")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, ts)
			rc.headers(1, true, tc.fields...)
			rc.wantRST(1, http2.ErrCodeProtocol)
			rc.ping()
		})
	}
	select {
	case p := <-ran:
		t.Errorf("a handler ran for a malformed request (%s)", p)
	default:
	}
}

// TestRequest checks what a handler sees, against net/http's conventions.
func TestRequest(t *testing.T) {
	checkGoroutines(t)
	type seen struct {
		method, uri, path, host, proto, cookie, protocol string
		major                                            int
		contentLength                                    int64
		remote                                           bool
		local                                            bool
		body                                             string
		trailer                                          string
	}
	got := make(chan seen, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, local := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		got <- seen{r.Method, r.RequestURI, r.URL.Path, r.Host, r.Proto, r.Header.Get("Cookie"), r.Header.Get(":protocol"),
			r.ProtoMajor, r.ContentLength, r.RemoteAddr != "", local, string(b), r.Trailer.Get("X-T")}
	}))
	rc := dialRaw(t, ts)

	rc.get(1, "/p?q=1", "cookie", "a=1", "cookie", "b=2")
	rc.response(1)
	if s := <-got; s.method != "GET" || s.uri != "/p?q=1" || s.path != "/p" || s.host != "example.com" ||
		s.proto != "HTTP/2.0" || s.major != 2 || s.cookie != "a=1; b=2" || s.contentLength != 0 || !s.remote || !s.local {
		t.Errorf("GET: %+v", s)
	}

	rc.post(3, "/up", "content-length", "5", "trailer", "x-t")
	rc.fr.WriteData(3, false, []byte("hel"))
	rc.fr.WriteData(3, false, []byte("lo"))
	rc.headers(3, true, "x-t", "v")
	rc.response(3)
	if s := <-got; s.body != "hello" || s.contentLength != 5 || s.trailer != "v" {
		t.Errorf("POST: %+v", s)
	}

	// RFC 8441: :protocol is exposed as x/net and net/http expose it.
	rc.headers(5, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "a", ":path", "/ws")
	rc.fr.WriteData(5, true, nil)
	rc.response(5)
	if s := <-got; s.method != "CONNECT" || s.protocol != "websocket" || s.path != "/ws" || s.contentLength != -1 {
		t.Errorf("extended CONNECT: %+v", s)
	}

	rc.headers(7, false, ":method", "CONNECT", ":authority", "example.com:443")
	rc.fr.WriteData(7, true, nil)
	rc.response(7)
	if s := <-got; s.method != "CONNECT" || s.uri != "example.com:443" || s.host != "example.com:443" {
		t.Errorf("CONNECT: %+v", s)
	}
}

func TestRequestBodyLengthChecked(t *testing.T) {
	checkGoroutines(t)
	errs := make(chan error, 2)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		errs <- err
	}))
	for _, tc := range []struct {
		name string
		data []string
	}{
		{"short", []string{"abc"}},
		{"long", []string{"abc", "def"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, ts)
			rc.post(1, "/", "content-length", "5")
			for i, d := range tc.data {
				rc.fr.WriteData(1, i == len(tc.data)-1, []byte(d))
			}
			rc.wantRST(1, http2.ErrCodeProtocol)
			if err := <-errs; err == nil {
				t.Error("handler read the body without error")
			}
		})
	}
}

func TestResponse(t *testing.T) {
	checkGoroutines(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>hi") })
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		if _, err := w.Write([]byte("x")); err != http.ErrBodyNotAllowed {
			t.Errorf("Write after 204: %v", err)
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("b", 100000)))
	})
	mux.HandleFunc("/hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/trailers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Declared")
		w.Write([]byte("body"))
		w.(http.Flusher).Flush()
		w.Header().Set("X-Declared", "d")
		w.Header().Set(http.TrailerPrefix+"X-Late", "l")
	})
	mux.HandleFunc("/cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3")
		if _, err := w.Write([]byte("toolong")); err != http.ErrContentLength {
			t.Errorf("Write beyond Content-Length: %v", err)
		}
		w.Write([]byte("abc"))
	})
	mux.HandleFunc("/clshort", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.Write([]byte("abc"))
	})
	ts := newTestServer(t, mux)
	rc := dialRaw(t, ts)

	id := uint32(1)
	next := func() uint32 { id += 2; return id - 2 }

	s := next()
	rc.get(s, "/small")
	r := rc.response(s)
	if r.status != "200" || string(r.body) != "<html>hi" || r.get("content-length") != "8" ||
		r.get("content-type") != "text/html; charset=utf-8" || r.get("date") == "" {
		t.Errorf("/small: %+v", r)
	}
	s = next()
	rc.headers(s, true, ":method", "HEAD", ":scheme", "http", ":path", "/small")
	if r = rc.response(s); r.status != "200" || len(r.body) != 0 || r.get("content-length") != "8" {
		t.Errorf("HEAD /small: %+v", r)
	}
	s = next()
	rc.get(s, "/empty")
	if r = rc.response(s); r.status != "200" || r.get("content-length") != "0" {
		t.Errorf("/empty: %+v", r)
	}
	s = next()
	rc.get(s, "/nocontent")
	if r = rc.response(s); r.status != "204" || r.get("content-length") != "" {
		t.Errorf("/nocontent: %+v", r)
	}
	s = next()
	rc.get(s, "/big")
	if r = rc.response(s); len(r.body) != 100000 || r.get("content-length") != "" {
		t.Errorf("/big: %d bytes, %+v", len(r.body), r.header)
	}
	s = next()
	rc.get(s, "/hints")
	if r = rc.response(s); len(r.infos) != 1 || r.infos[0] != "103" || r.status != "200" || r.get("link") != "" {
		t.Errorf("/hints: %+v", r)
	}
	s = next()
	rc.get(s, "/trailers")
	r = rc.response(s)
	tr := map[string]string{}
	for _, f := range r.trailers {
		tr[f.Name] = f.Value
	}
	if string(r.body) != "body" || tr["x-declared"] != "d" || tr["x-late"] != "l" {
		t.Errorf("/trailers: %+v", r)
	}
	s = next()
	rc.get(s, "/cl")
	if r = rc.response(s); string(r.body) != "abc" {
		t.Errorf("/cl: %+v", r)
	}
	s = next()
	rc.get(s, "/clshort")
	rc.wantRST(s, http2.ErrCodeInternal)
}

// TestFlowControlNeighbours: a handler that does not read its body holds
// only its own window; other streams go on.
func TestFlowControlNeighbours(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stuck" {
			<-release
		}
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	}), func(s *Server) {
		s.MaxUploadBufferPerConnection = 65535
		s.MaxUploadBufferPerStream = 65535
	})
	defer close(release)
	rc := dialRaw(t, ts)
	chunk := make([]byte, 16384)
	send := func(id uint32, n int) {
		for n > 0 {
			k := min(n, len(chunk))
			rc.fr.WriteData(id, false, chunk[:k])
			n -= k
		}
	}
	// The stuck stream fills its whole window, which is the whole
	// connection window too.
	rc.post(1, "/stuck")
	send(1, 65535)
	// The connection window comes back although nobody reads.
	rc.readUntil("connection WINDOW_UPDATE", func(f http2.Frame) bool {
		w, ok := f.(*http2.WindowUpdateFrame)
		return ok && w.StreamID == 0
	})
	rc.post(3, "/other")
	send(3, 40000)
	rc.fr.WriteData(3, true, nil)
	if r := rc.response(3); string(r.body) != "40000" {
		t.Errorf("neighbour got %q", r.body)
	}
	// More data on the stuck stream than its window is a stream error.
	rc.fr.WriteData(1, false, []byte("x"))
	rc.wantRST(1, http2.ErrCodeFlowControl)
}

// TestResetCancelsAndKeepsSlot: RST_STREAM cancels the handler's context,
// and the stream keeps its handler slot until the handler returns
// (MadeYouReset): a new stream waits for it (one queued, as many as
// MaxConcurrentStreams), one more is refused, and the queued one is
// served once the handler has returned.
func TestResetCancelsAndKeepsSlot(t *testing.T) {
	checkGoroutines(t)
	canceled := make(chan struct{})
	release := make(chan struct{})
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-r.Context().Done()
			close(canceled)
			<-release
		}
	}), func(s *Server) { s.MaxConcurrentStreams = 1 })
	rc := dialRaw(t, ts)
	rc.get(1, "/hold")
	rc.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	<-canceled
	rc.get(3, "/")
	rc.get(5, "/")
	rc.wantRST(5, http2.ErrCodeRefusedStream)
	close(release)
	if r := rc.response(3); r.status != "200" {
		t.Fatalf("queued stream: status %q", r.status)
	}
	// Once the handlers have returned, their slot is free. Poll: the
	// client cannot see the handler return.
	for id := uint32(7); ; id += 2 {
		rc.get(id, "/")
		f := rc.readUntil("answer", func(f http2.Frame) bool { return f.Header().StreamID == id })
		if _, ok := f.(*http2.MetaHeadersFrame); ok {
			break
		}
		if id > 2001 {
			t.Fatal("slot never freed")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPanicResetsStream(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic("boom")
		case "/abort":
			panic(http.ErrAbortHandler)
		}
	}))
	rc := dialRaw(t, ts)
	rc.get(1, "/panic")
	rc.wantRST(1, http2.ErrCodeInternal)
	rc.get(3, "/abort")
	rc.wantRST(3, http2.ErrCodeInternal)
	rc.get(5, "/")
	if r := rc.response(5); r.status != "200" {
		t.Errorf("after panics: %+v", r)
	}
}

func TestExpectContinue(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	rc := dialRaw(t, ts)
	rc.post(1, "/", "expect", "100-continue")
	f := rc.readUntil("100", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok }).(*http2.MetaHeadersFrame)
	if s := f.PseudoValue("status"); s != "100" || f.StreamEnded() {
		t.Fatalf("first answer %s, want 100", s)
	}
	rc.fr.WriteData(1, true, []byte("data"))
	if r := rc.response(1); string(r.body) != "data" {
		t.Errorf("got %+v", r)
	}
}

func TestDeadlines(t *testing.T) {
	checkGoroutines(t)
	readErr := make(chan error, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		switch r.URL.Path {
		case "/read":
			rc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			_, err := r.Body.Read(make([]byte, 1))
			readErr <- err
		case "/write":
			if err := rc.EnableFullDuplex(); err != nil {
				t.Error(err)
			}
			rc.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
			for {
				if _, err := w.Write(make([]byte, 16384)); err != nil {
					return
				}
			}
		}
	}))
	rc := dialRaw(t, ts, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	rc.post(1, "/read")
	if err := <-readErr; !errorsIsDeadline(err) {
		t.Errorf("read past deadline: %v", err)
	}
	rc.get(3, "/write") // blocked by our window of 1 byte
	rc.wantRST(3, http2.ErrCodeInternal)
}

func errorsIsDeadline(err error) bool {
	type timeout interface{ Timeout() bool }
	t, ok := err.(timeout)
	return ok && t.Timeout()
}

// TestDrain checks the two-phase GOAWAY: in-flight streams finish, and
// the connection closes once they have.
func TestDrain(t *testing.T) {
	checkGoroutines(t)
	started := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "done")
	}))
	t.Cleanup(unblock) // runs before the server's cleanup
	rc := dialRaw(t, ts)
	rc.get(1, "/slow")
	<-started
	ts.srv.Drain()
	g := rc.wantGoAway(http2.ErrCodeNo)
	if g.LastStreamID != 1<<31-1 {
		t.Errorf("first GOAWAY names stream %d, want 2^31-1", g.LastStreamID)
	}
	p := rc.readUntil("PING", func(f http2.Frame) bool { p, ok := f.(*http2.PingFrame); return ok && !p.IsAck() }).(*http2.PingFrame)
	rc.get(3, "/") // sent before the PING's answer: still served
	rc.fr.WritePing(true, p.Data)
	if r := rc.response(3); string(r.body) != "done" {
		t.Errorf("stream 3: %+v", r)
	}
	g = rc.wantGoAway(http2.ErrCodeNo)
	if g.LastStreamID != 3 {
		t.Errorf("final GOAWAY names stream %d, want 3", g.LastStreamID)
	}
	rc.get(5, "/") // past the GOAWAY: ignored
	unblock()
	if r := rc.response(1); string(r.body) != "done" {
		t.Errorf("stream 1: %+v", r)
	}
	if err := rc.waitClosed(); err != nil {
		t.Errorf("connection did not close: %v", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, http.NotFoundHandler(), func(s *Server) { s.IdleTimeout = 50 * time.Millisecond })
	rc := dialRaw(t, ts)
	rc.wantGoAway(http2.ErrCodeNo)
	if err := rc.waitClosed(); err != nil {
		t.Errorf("idle connection did not close: %v", err)
	}
}

// TestIdleTimeoutAfterHandler checks the idle timer, which stays set
// while streams come and go and checks the connection's idle time when
// it fires (onIdle): a handler running across several IdleTimeouts keeps
// the connection open and answers, with no GOAWAY before its response,
// and once it has returned the connection closes idle.
func TestIdleTimeoutAfterHandler(t *testing.T) {
	checkGoroutines(t)
	const idle = 250 * time.Millisecond
	started, release := make(chan struct{}), make(chan struct{})
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	}), func(s *Server) { s.IdleTimeout = idle })
	rc := dialRaw(t, ts)
	rc.get(1, "/")
	<-started
	time.Sleep(3 * idle) // the timer fires while the handler runs (not a bound on anything)
	close(release)
	if r := rc.response(1); r.status != "200" || string(r.body) != "done" {
		t.Fatalf("response %q %q, want 200 \"done\"", r.status, r.body)
	}
	if len(rc.goaways) > 0 {
		t.Fatalf("GOAWAY %v before the response of a handler still running", rc.goaways[0].ErrCode)
	}
	rc.wantGoAway(http2.ErrCodeNo)
	if err := rc.waitClosed(); err != nil {
		t.Errorf("idle connection did not close: %v", err)
	}
}

func TestConnectionErrors(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, http.NotFoundHandler())
	for _, tc := range []struct {
		name string
		code http2.ErrCode
		send func(rc *rawConn)
	}{
		{"even stream", http2.ErrCodeProtocol, func(rc *rawConn) { rc.get(2, "/") }},
		{"decreasing stream", http2.ErrCodeProtocol, func(rc *rawConn) { rc.get(5, "/"); rc.get(3, "/") }},
		{"DATA on idle", http2.ErrCodeProtocol, func(rc *rawConn) { rc.fr.WriteData(1, true, []byte("x")) }},
		{"RST on idle", http2.ErrCodeProtocol, func(rc *rawConn) { rc.fr.WriteRSTStream(1, http2.ErrCodeCancel) }},
		{"connection window overflow", http2.ErrCodeFlowControl, func(rc *rawConn) { rc.fr.WriteWindowUpdate(0, 1<<31-1) }},
		{"bad initial window", http2.ErrCodeFlowControl, func(rc *rawConn) {
			rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31})
		}},
		{"PUSH_PROMISE", http2.ErrCodeProtocol, func(rc *rawConn) {
			rc.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, EndHeaders: true})
		}},
		{"error, then more input", http2.ErrCodeFlowControl, func(rc *rawConn) {
			// The server stops reading at the error with input left
			// unread; closing at once would reset the connection and
			// lose the GOAWAY.
			var buf bytes.Buffer
			fr := http2.NewFramer(&buf, nil)
			fr.WriteWindowUpdate(0, 1<<31-1)
			for range 20000 {
				fr.WritePing(false, [8]byte{})
			}
			go rc.c.Write(buf.Bytes())
		}},
		{"frame too large", http2.ErrCodeFrameSize, func(rc *rawConn) {
			rc.post(1, "/")
			rc.fr.WriteData(1, false, make([]byte, 20000))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, ts)
			tc.send(rc)
			rc.wantGoAway(tc.code)
			if err := rc.waitClosed(); err != nil {
				t.Errorf("connection not closed: %v", err)
			}
		})
	}
}

// TestSettingsRepeated: repeated settings in one frame apply in order
// (h2spec 6.5.3/1, which x/net fails).
func TestSettingsRepeated(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "abc") }))
	rc := dialRaw(t, ts, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	rc.get(1, "/")
	f := rc.readUntil("DATA", func(f http2.Frame) bool { _, ok := f.(*http2.DataFrame); return ok }).(*http2.DataFrame)
	if len(f.Data()) != 1 {
		t.Errorf("first DATA carries %d bytes, want 1 (the last value applies)", len(f.Data()))
	}
}

// TestSettingsAckPrecedesTheirUse: a DATA frame that a larger
// SETTINGS_INITIAL_WINDOW_SIZE lets out follows that frame's ACK, since a
// peer (h2spec 6.9.2/1 among them) reads the ACK before it looks for the
// DATA. The handler waits on a window of 0 each round; the order was
// wrong in a few percent of rounds when the ACK was queued after the
// settings were applied.
func TestSettingsAckPrecedesTheirUse(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "abc") }))
	for round := range 200 {
		rc := dialRaw(t, ts, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		rc.readUntil("SETTINGS ACK", func(f http2.Frame) bool {
			s, ok := f.(*http2.SettingsFrame)
			return ok && s.IsAck()
		})
		rc.get(1, "/")
		rc.readUntil("HEADERS", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok })
		rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
		f := rc.readUntil("SETTINGS ACK or DATA", func(f http2.Frame) bool {
			s, ok := f.(*http2.SettingsFrame)
			_, data := f.(*http2.DataFrame)
			return data || ok && s.IsAck()
		})
		if _, ok := f.(*http2.DataFrame); ok {
			t.Fatalf("round %d: DATA sent before the ACK of the SETTINGS that allowed it", round)
		}
		if d := rc.readUntil("DATA", func(f http2.Frame) bool { _, ok := f.(*http2.DataFrame); return ok }).(*http2.DataFrame); len(d.Data()) != 1 {
			t.Fatalf("round %d: DATA carries %d bytes, want 1", round, len(d.Data()))
		}
		rc.c.Close()
	}
}

// TestUpgrade serves an h2c upgrade's request as stream 1 with the
// decoded HTTP2-Settings applied, over net.Pipe.
func TestUpgrade(t *testing.T) {
	checkGoroutines(t)
	c, s := net.Pipe()
	defer c.Close()
	var srv Server
	done := make(chan struct{})
	req, _ := http.NewRequest("GET", "http://example.com/up", nil)
	req.RemoteAddr = "pipe"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		defer close(done)
		srv.ServeConn(s, &ServeConnOpts{
			Context: ctx,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "%s %s", r.URL.Path, r.Proto)
			}),
			UpgradeRequest: req,
			Settings:       []byte{0, 4, 0, 0, 0, 2}, // INITIAL_WINDOW_SIZE 2
		})
	}()
	rc := newRawConn(t, c)
	// The server writes its first flight (SETTINGS, and stream 1's first
	// frames) without waiting for the client preface, and net.Pipe is
	// unbuffered: the client writes from a goroutine while it reads, or
	// both sides could be left blocked in Write.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.WriteString(c, http2.ClientPreface)
		rc.fr.WriteSettings()
		rc.fr.WriteSettingsAck()
	}()
	defer wg.Wait()
	f0 := rc.read()
	if sf, ok := f0.(*http2.SettingsFrame); !ok || sf.IsAck() {
		t.Fatalf("first frame %v, want SETTINGS", f0)
	}
	f := rc.readUntil("DATA", func(f http2.Frame) bool { _, ok := f.(*http2.DataFrame); return ok }).(*http2.DataFrame)
	if f.StreamID != 1 || string(f.Data()) != "/u" {
		t.Errorf("first DATA %q on stream %d, want %q on 1 (window 2)", f.Data(), f.StreamID, "/u")
	}
	c.Close()
	<-done
}

// TestWriteAfterReset: a handler that writes after its stream was reset
// gets an error, and the connection goes on (it once failed the whole
// connection's writes).
func TestWriteAfterReset(t *testing.T) {
	checkGoroutines(t)
	wrote := make(chan error, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/reset" {
			return
		}
		<-r.Context().Done()
		w.Header().Set("X", "1")
		_, err := w.Write([]byte("late"))
		if err == nil {
			err = http.NewResponseController(w).Flush()
		}
		wrote <- err
	}))
	rc := dialRaw(t, ts)
	rc.get(1, "/reset")
	rc.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	if err := <-wrote; err == nil {
		t.Error("write after reset succeeded")
	}
	rc.ping()
	rc.get(3, "/")
	if r := rc.response(3); r.status != "200" {
		t.Errorf("after reset: %+v", r)
	}
}

// TestRapidResetFlood attacks a live server with streams opened and reset
// at once (CVE-2023-44487) whose handlers outlive the reset: handlers
// running at once never exceed MaxConcurrentStreams, as many more wait
// for a slot, the excess is refused, and the connection survives.
func TestRapidResetFlood(t *testing.T) {
	checkGoroutines(t)
	const limit = 8
	var mu sync.Mutex
	running, peak := 0, 0
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		<-r.Context().Done()
		<-release
		mu.Lock()
		running--
		mu.Unlock()
	}), func(s *Server) { s.MaxConcurrentStreams = limit })
	t.Cleanup(unblock)
	rc := dialRaw(t, ts)
	const n = 500
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range n {
			id := uint32(2*i + 1)
			rc.get(id, "/")
			rc.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
	}()
	refused := 0
	rc.readUntil("all refusals", func(f http2.Frame) bool {
		if r, ok := f.(*http2.RSTStreamFrame); ok && r.ErrCode == http2.ErrCodeRefusedStream {
			refused++
		}
		return refused == n-2*limit
	})
	mu.Lock()
	p := peak
	mu.Unlock()
	if p > limit {
		t.Errorf("%d handlers ran at once, limit %d", p, limit)
	}
	unblock()
	<-sent
	rc.ping()
}

func TestTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure func(*Server)
		ack       bool // acknowledge the server's SETTINGS
		want      http2.ErrCode
		wantPing  bool
	}{
		{"settings not acknowledged", func(s *Server) { s.SettingsTimeout = 20 * time.Millisecond }, false, http2.ErrCodeSettingsTimeout, false},
		{"ping unanswered", func(s *Server) { s.ReadIdleTimeout = 20 * time.Millisecond; s.PingTimeout = 20 * time.Millisecond }, true, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			ts := newTestServer(t, http.NotFoundHandler(), tc.configure)
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			rc := newRawConn(t, c)
			io.WriteString(c, http2.ClientPreface)
			rc.fr.WriteSettings()
			if f, ok := rc.read().(*http2.SettingsFrame); !ok || f.IsAck() {
				t.Fatal("no SETTINGS first")
			}
			if tc.ack {
				rc.fr.WriteSettingsAck()
			}
			sawPing, sawGoAway := false, false
			for {
				f, err := rc.fr.ReadFrame()
				if err != nil {
					break // closed
				}
				switch f := f.(type) {
				case *http2.PingFrame:
					sawPing = sawPing || !f.IsAck()
				case *http2.GoAwayFrame:
					sawGoAway = true
					if f.ErrCode != tc.want {
						t.Errorf("GOAWAY %v, want %v", f.ErrCode, tc.want)
					}
				}
			}
			if sawPing != tc.wantPing {
				t.Errorf("saw PING %v, want %v", sawPing, tc.wantPing)
			}
			if tc.want != 0 && !sawGoAway {
				t.Errorf("connection closed without GOAWAY %v", tc.want)
			}
		})
	}
}

// TestWriteByteTimeout: a client that stops reading while a response is
// streamed loses the connection after WriteByteTimeout, and the handler
// sees a write error instead of blocking for ever.
func TestWriteByteTimeout(t *testing.T) {
	checkGoroutines(t)
	writeErr := make(chan error, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for range 4096 { // 256 MiB at most: far beyond any socket buffer
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}), func(s *Server) { s.WriteByteTimeout = 50 * time.Millisecond })
	rc := dialRaw(t, ts, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	rc.fr.WriteWindowUpdate(0, 1<<31-1-65535-1<<20)
	rc.get(1, "/")
	// Read nothing more.
	if err := <-writeErr; err == nil {
		t.Error("the handler wrote 256 MiB to a client that reads nothing")
	}
}

// TestFloods attacks a live server with floods of frames that serve
// nothing; each ends with GOAWAY ENHANCE_YOUR_CALM, and a legitimate
// client's few such frames (well under the budget) pass.
func TestFloods(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	const n = 3 * floodBudget
	for _, tc := range []struct {
		name  string
		frame func(fr *http2.Framer, i int)
	}{
		{"PING", func(fr *http2.Framer, i int) { fr.WritePing(false, [8]byte{}) }},
		{"SETTINGS", func(fr *http2.Framer, i int) { fr.WriteSettings() }},
		{"RST_STREAM", func(fr *http2.Framer, i int) { fr.WriteRSTStream(1, http2.ErrCodeCancel) }},
		{"PRIORITY", func(fr *http2.Framer, i int) { fr.WritePriority(3, http2.PriorityParam{StreamDep: 0, Weight: 1}) }},
		{"empty DATA", func(fr *http2.Framer, i int) { fr.WriteData(3, false, nil) }},
		{"empty CONTINUATION", func(fr *http2.Framer, i int) {
			if i == 0 {
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: []byte{0x82}})
				return
			}
			fr.WriteContinuation(5, false, nil)
		}},
		{"one-byte CONTINUATION", func(fr *http2.Framer, i int) {
			if i == 0 {
				// :method GET, then a literal field whose 500000-byte value
				// comes one byte a frame.
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: []byte{0x82, 0x00, 0x01, 'x', 0x7f, 0xa1, 0xc1, 0x1e}})
				return
			}
			fr.WriteContinuation(5, false, []byte{'v'})
		}},
		// Trailers on a stream we reset are ignored once: the client ends
		// the stream with them, so a second HEADERS is a connection error
		// and no flood. DATA without END_STREAM is ignored every time; it
		// spends the budget when it carries no data (padding only), or
		// goes beyond the window the stream had at the reset (what a
		// client can have in flight, free: TestDataAfterResetIsNotAFlood).
		{"padding-only DATA on a reset stream", func(fr *http2.Framer, i int) {
			if i == 0 {
				fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 3, make([]byte, 4)) // the server resets stream 3
				return
			}
			fr.WriteDataPadded(3, false, nil, []byte{0})
		}},
		{"DATA beyond a reset stream's window", func(fr *http2.Framer, i int) {
			if i == 0 {
				fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 3, make([]byte, 4)) // the server resets stream 3
				for w := DefaultMaxUploadBufferStream; w > 0; w -= 16384 {
					fr.WriteData(3, false, make([]byte, min(w, 16384)))
				}
				return
			}
			fr.WriteData(3, false, []byte{'x'})
		}},
		{"malformed streams", func(fr *http2.Framer, i int) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 5), BlockFragment: []byte{0x82}, EndStream: true, EndHeaders: true}) // :method GET only
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, ts)
			rc.get(1, "/")
			rc.post(3, "/")
			var buf bytes.Buffer
			fr := http2.NewFramer(&buf, nil)
			for i := range n {
				tc.frame(fr, i)
			}
			go rc.c.Write(buf.Bytes())
			rc.wantGoAway(http2.ErrCodeEnhanceYourCalm)
		})
	}
	t.Run("below the budget", func(t *testing.T) {
		rc := dialRaw(t, ts)
		for range floodBudget / 2 {
			rc.fr.WritePing(false, [8]byte{})
		}
		rc.get(1, "/")
		if r := rc.response(1); r.status != "200" {
			t.Errorf("got %+v", r)
		}
	})
}

// TestHeaderListTooLarge: a header list beyond MaxHeaderListSize is
// answered with 431 without running the handler, and a body that follows
// is not held against the stream.
func TestHeaderListTooLarge(t *testing.T) {
	checkGoroutines(t)
	ran := make(chan struct{}, 1)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran <- struct{}{} }),
		func(s *Server) { s.MaxHeaderListSize = 1000 })
	rc := dialRaw(t, ts)
	v := strings.Repeat("a", 300) // each field fits, the list does not
	// HEADERS and DATA in one write, so the server reads both at once.
	var buf bytes.Buffer
	fr := rc.fr
	rc.fr = http2.NewFramer(&buf, nil)
	rc.post(1, "/", "x-1", v, "x-2", v, "x-3", v, "x-4", v)
	rc.fr.WriteData(1, true, []byte("body"))
	rc.fr = fr
	rc.c.Write(buf.Bytes())
	if r := rc.response(1); r.status != "431" {
		t.Errorf("got %+v, want 431", r)
	}
	select {
	case <-ran:
		t.Error("handler ran")
	default:
	}
	// The body is not an error: at most RST_STREAM NO_ERROR (response
	// complete) or STREAM_CLOSED (DATA after it) may follow.
	rc.fr.WritePing(false, [8]byte{9})
	rc.readUntil("PING ACK", func(f http2.Frame) bool {
		if r, ok := f.(*http2.RSTStreamFrame); ok && r.ErrCode == http2.ErrCodeProtocol {
			t.Errorf("stream reset with PROTOCOL_ERROR")
		}
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck()
	})
}

// TestDecoderTableBeforeAck: with a header table smaller than 4096
// advertised, the client may still use 4096 bytes until it acknowledges
// the server's SETTINGS (RFC 9113 section 6.5.3).
func TestDecoderTableBeforeAck(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Header.Get("X-A")) }),
		func(s *Server) { s.MaxDecoderHeaderTableSize = 64 })
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc := newRawConn(t, c)
	io.WriteString(c, http2.ClientPreface)
	rc.fr.WriteSettings()
	// Two requests, and no ACK of the server's SETTINGS; the second
	// refers to the first's entry in a 4096-byte table, which a 64-byte
	// table would have evicted.
	v := strings.Repeat("v", 100)
	for _, id := range []uint32{1, 3} {
		rc.get(id, "/", "x-a", v)
		if r := rc.response(id); string(r.body) != v {
			t.Errorf("stream %d: %q", id, r.body)
		}
	}
}

// TestFramesAfterOurReset: what a correct client may have in flight
// when our RST_STREAM reaches it (DATA, then trailers) is ignored (RFC
// 9113 section 5.1, "closed"), and the trailers' header block is still
// decoded: the next request refers to a field the ignored trailers added
// to the HPACK table.
func TestFramesAfterOurReset(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/early":
			io.WriteString(w, "early") // returns without reading the body
		default:
			io.Copy(io.Discard, r.Body)
			w.Header().Set("X-Seen", r.Header.Get("X-Shared"))
		}
	}))
	for _, tc := range []struct {
		name  string
		code  http2.ErrCode
		start func(rc *rawConn)
	}{
		{"early answer", http2.ErrCodeNo, func(rc *rawConn) { earlyAnswer(t, rc) }},
		{"stream error", http2.ErrCodeProtocol, func(rc *rawConn) {
			rc.post(1, "/", "content-length", "1")
			rc.fr.WriteData(1, false, []byte("too long"))
		}},
		{"refused", http2.ErrCodeProtocol, func(rc *rawConn) {
			rc.headers(1, false, ":method", "POST", ":scheme", "http", ":authority", "x", ":path", "/", "connection", "close")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, ts)
			tc.start(rc)
			rc.wantRST(1, tc.code)
			rc.fr.WriteData(1, false, []byte("late"))
			// Trailers in flight; WriteField with indexing puts the
			// field in both HPACK tables.
			rc.headers(1, true, "x-shared", "from-trailers")
			// None is answered: the PING's ACK comes first.
			rc.fr.WritePing(false, [8]byte{9})
			rc.readUntil("PING ACK", func(f http2.Frame) bool {
				switch f := f.(type) {
				case *http2.RSTStreamFrame:
					t.Fatalf("RST_STREAM %v on stream %d", f.ErrCode, f.StreamID)
				case *http2.GoAwayFrame:
					t.Fatalf("GOAWAY %v (%q)", f.ErrCode, f.DebugData())
				case *http2.PingFrame:
					return f.IsAck()
				}
				return false
			})
			// x-shared is now an indexed field of the dynamic table.
			rc.get(3, "/", "x-shared", "from-trailers")
			r := rc.response(3)
			if r.status != "200" || r.get("x-seen") != "from-trailers" {
				t.Fatalf("stream 3: status %s, x-seen %q", r.status, r.get("x-seen"))
			}
			rc.ping()
			if len(rc.goaways) > 0 {
				t.Fatalf("GOAWAY %v", rc.goaways[0].ErrCode)
			}
		})
	}
}

// earlyAnswer opens stream 1 with a POST to /early, whose handler
// answers without reading the body, and reads the answer.
func earlyAnswer(t *testing.T, rc *rawConn) {
	t.Helper()
	rc.post(1, "/early")
	if r := rc.response(1); string(r.body) != "early" {
		t.Fatalf("body %q", r.body)
	}
}

// TestClientErrorsAfterOurReset: the rule that ignores frames on a
// stream we reset is narrow, so that a client's own errors are answered
// however the timing falls (h2spec 5.1/8, 8.1/1 and 8.1.2.1/3 against a
// handler that answers at once): a second HEADERS without END_STREAM and
// trailers with a pseudo-header field are stream errors, and once the
// client has reset the stream itself, DATA on it is STREAM_CLOSED.
func TestClientErrorsAfterOurReset(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "early")
	}))
	for _, tc := range []struct {
		name string
		code http2.ErrCode
		send func(rc *rawConn)
	}{
		{"second HEADERS without END_STREAM", http2.ErrCodeProtocol, func(rc *rawConn) {
			rc.headers(1, false, "x-trailer", "v")
		}},
		{"pseudo-header in trailers", http2.ErrCodeProtocol, func(rc *rawConn) {
			rc.headers(1, true, ":method", "POST")
		}},
		{"DATA after the client's own RST_STREAM", http2.ErrCodeStreamClosed, func(rc *rawConn) {
			rc.fr.WriteRSTStream(1, http2.ErrCodeCancel)
			rc.fr.WriteData(1, false, []byte("x"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, ts)
			earlyAnswer(t, rc)
			rc.wantRST(1, http2.ErrCodeNo)
			tc.send(rc)
			rc.wantRST(1, tc.code)
			rc.ping() // the connection lives on
			if len(rc.goaways) > 0 {
				t.Fatalf("GOAWAY %v", rc.goaways[0].ErrCode)
			}
		})
	}
}

// TestIdleStreamFrameErrors: a frame the Framer rejects as a stream
// error is a connection error on an idle stream (RFC 9113 section 5.1),
// and a HEADERS frame too short for its padding or priority fields gets
// GOAWAY with the code of RFC 9113 sections 4.2 and 6.2.
func TestIdleStreamFrameErrors(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, http.NotFoundHandler())
	for _, tc := range []struct {
		name string
		code http2.ErrCode
		send func(rc *rawConn)
	}{
		{"zero WINDOW_UPDATE on idle", http2.ErrCodeProtocol, func(rc *rawConn) { rc.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 1, make([]byte, 4)) }},
		{"zero WINDOW_UPDATE on even idle", http2.ErrCodeProtocol, func(rc *rawConn) { rc.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 2, make([]byte, 4)) }},
		{"PADDED HEADERS, no pad length", http2.ErrCodeFrameSize, func(rc *rawConn) {
			rc.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersPadded|http2.FlagHeadersEndHeaders, 1, nil)
		}},
		{"PRIORITY HEADERS, short", http2.ErrCodeFrameSize, func(rc *rawConn) {
			rc.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersPriority|http2.FlagHeadersEndHeaders, 1, []byte{0, 0, 0})
		}},
		{"PADDED PRIORITY HEADERS, short", http2.ErrCodeFrameSize, func(rc *rawConn) {
			rc.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersPadded|http2.FlagHeadersPriority|http2.FlagHeadersEndHeaders, 1, []byte{0, 0, 0, 0, 0})
		}},
		{"PADDED DATA, no pad length", http2.ErrCodeFrameSize, func(rc *rawConn) {
			rc.post(1, "/")
			rc.fr.WriteRawFrame(http2.FrameData, http2.FlagDataPadded, 1, nil)
		}},
		{"HEADERS padding too long", http2.ErrCodeProtocol, func(rc *rawConn) {
			rc.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersPadded|http2.FlagHeadersEndHeaders, 1, []byte{5, 0x82})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, ts)
			tc.send(rc)
			rc.wantGoAway(tc.code)
			if err := rc.waitClosed(); err != nil {
				t.Errorf("connection not closed: %v", err)
			}
		})
	}
	// On a stream that is not idle, a zero increment resets the stream
	// only (RFC 9113 section 6.9).
	t.Run("zero WINDOW_UPDATE on open", func(t *testing.T) {
		ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				return
			}
			http.NotFound(w, r)
		}))
		rc := dialRaw(t, ts)
		rc.post(1, "/")
		rc.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 1, make([]byte, 4))
		rc.wantRST(1, http2.ErrCodeProtocol)
		rc.get(3, "/")
		if r := rc.response(3); r.status != "404" {
			t.Fatalf("stream 3: status %s", r.status)
		}
	})
}

// writesConn records what each Write of the server carries.
type writesConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *writesConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, bytes.Clone(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// TestUpgradeFirstFlight: after an upgrade the server writes the
// preamble (the core's 101), its SETTINGS and stream 1's response
// without waiting for the client preface (RFC 9113 section 3.2), and
// the preamble never alone: in the same write as the SETTINGS.
// upgradePreamble is what the core hands the engine to write first on an
// upgraded connection.
const upgradePreamble = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"

// serveUpgraded serves s as an upgraded connection (stream 1 a GET,
// upgradePreamble to write first) with srv and h, and reads from c, the
// client's end, the preamble and then the server's SETTINGS, before the
// client has sent anything. It returns a Framer on c and a channel
// closed when ServeConn has returned.
func serveUpgraded(t *testing.T, srv *Server, h http.Handler, c, s net.Conn) (*http2.Framer, chan struct{}) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://example.com/", nil)
	req.RemoteAddr = "pipe"
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeConn(s, &ServeConnOpts{Handler: h, UpgradeRequest: req, Preamble: []byte(upgradePreamble)})
	}()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	got := make([]byte, len(upgradePreamble))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != upgradePreamble {
		t.Fatalf("first bytes %q (%v), want the preamble %q", got, err, upgradePreamble)
	}
	fr := http2.NewFramer(c, br)
	if f, err := fr.ReadFrame(); err != nil {
		t.Fatalf("reading the SETTINGS after the 101: %v", err)
	} else if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
		t.Fatalf("first frame after the preamble %v, want SETTINGS", f)
	}
	return fr, done
}

// deadlinesConn records the read deadlines set on a connection.
type deadlinesConn struct {
	net.Conn
	mu        sync.Mutex
	deadlines []time.Time
}

func (c *deadlinesConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadlines = append(c.deadlines, t)
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlinesConn) recorded() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.deadlines)
}

// TestUpgradeLingerKeptByPreface: a connection that is upgraded and then
// drained before the client preface arrives lingers on the read deadline
// the close set; the preface read that then completes must not clear it
// (which left the connection to the hard close, twice as late).
func TestUpgradeLingerKeptByPreface(t *testing.T) {
	checkGoroutines(t)
	c, s := net.Pipe()
	defer c.Close()
	dc := &deadlinesConn{Conn: s}
	srv := &Server{PingTimeout: 20 * time.Millisecond}
	_, done := serveUpgraded(t, srv, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }), c, dc)
	t.Cleanup(func() { c.Close(); <-done }) // a failure below leaves no server behind
	go io.Copy(io.Discard, c)               // whatever comes next, the server never waits on the pipe
	// The SETTINGS the server wrote can reach us before its read loop
	// has set the preface deadline: wait for that one.
	for i := 0; len(dc.recorded()) < 1; i++ {
		if i == 1000 {
			t.Fatal("no preface deadline after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(dc.recorded()); n != 1 {
		t.Fatalf("%d read deadlines before the drain, want the preface's", n)
	}
	srv.Drain()
	// The final GOAWAY goes out when the unanswered PING times out; then
	// the connection sets its linger deadline.
	for i := 0; len(dc.recorded()) < 2; i++ {
		if i == 1000 {
			t.Fatal("no linger deadline after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.Write([]byte(clientPreface)); err != nil {
		t.Fatalf("writing the preface: %v", err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ServeConn did not return")
	}
	d := dc.recorded()
	if last := d[len(d)-1]; last.IsZero() {
		t.Errorf("read deadlines %v: the last one before the close is none, want the linger", d)
	}
}

// TestUpgradeLingerBeforePrefaceDeadline: when the linger deadline of a
// drain is set before the preface read sets its own (the read loop held
// back by a hook until then), the preface read leaves it alone: setting
// the settings timeout over it would keep the connection for the hard
// close.
func TestUpgradeLingerBeforePrefaceDeadline(t *testing.T) {
	checkGoroutines(t)
	entered, gate := make(chan struct{}), make(chan struct{})
	c, s := net.Pipe()
	defer c.Close()
	dc := &deadlinesConn{Conn: s}
	srv := &Server{PingTimeout: 20 * time.Millisecond}
	srv.testHookPrefaceDeadline = func() {
		close(entered)
		<-gate
	}
	_, done := serveUpgraded(t, srv, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }), c, dc)
	gateOnce := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(func() { gateOnce(); c.Close(); <-done })
	go io.Copy(io.Discard, c)
	<-entered
	srv.Drain()
	for i := 0; len(dc.recorded()) < 1; i++ {
		if i == 1000 {
			t.Fatal("no linger deadline after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	gateOnce()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ServeConn did not return")
	}
	if d := dc.recorded(); len(d) != 1 {
		t.Errorf("read deadlines %v, want only the linger", d)
	}
}

func TestUpgradeFirstFlight(t *testing.T) {
	checkGoroutines(t)
	const preamble = upgradePreamble
	c, s := net.Pipe()
	defer c.Close()
	ws := &writesConn{Conn: s}
	fr, done := serveUpgraded(t, new(Server), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }), c, ws)
	var body []byte
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("waiting for stream 1's response: %v", err)
		}
		if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
			body = append(body, d.Data()...)
			if d.StreamEnded() {
				break
			}
		}
	}
	if string(body) != "hello" {
		t.Errorf("stream 1's body %q, want %q", body, "hello")
	}
	ws.mu.Lock()
	first, n := ws.writes[0], len(ws.writes)
	ws.mu.Unlock()
	if len(first) < len(preamble)+9 || http2.FrameType(first[len(preamble)+3]) != http2.FrameSettings {
		t.Errorf("the first write carries %d bytes, %q: the preamble without the SETTINGS", len(first), first)
	}
	t.Logf("%d writes up to stream 1's END_STREAM (1 when the handler answers before its flush)", n)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the server may write the SETTINGS ACK while we write
		defer wg.Done()
		io.WriteString(c, http2.ClientPreface)
		fr.WriteSettings()
		fr.WriteSettingsAck()
	}()
	if f, err := fr.ReadFrame(); err != nil {
		t.Fatal(err)
	} else if sf, ok := f.(*http2.SettingsFrame); !ok || !sf.IsAck() {
		t.Errorf("after the client's SETTINGS: %v, want the ACK", f)
	}
	wg.Wait()
	c.Close()
	<-done
}

// TestUpgradeFirstFlightHandlerBlocks: stream 1's handler blocks before
// writing anything, and the client sends nothing after its request; the
// 101 and the SETTINGS must still arrive. No timer of the server can
// flush them instead (no SETTINGS ACK timeout, no PING, a handler
// running so no idle timeout), so a first flight left to a handler that
// never writes would hang until the test's deadline.
func TestUpgradeFirstFlightHandlerBlocks(t *testing.T) {
	checkGoroutines(t)
	c, s := net.Pipe()
	defer c.Close()
	release := make(chan struct{})
	_, done := serveUpgraded(t, &Server{SettingsTimeout: -1}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }), c, s)
	close(release)
	c.Close()
	<-done
}

// TestWriteHeader101: HTTP/2 has no 101 Switching Protocols (RFC 9113
// section 8.6), so a handler that answers one (written for HTTP/1.1's
// Upgrade) gets 500 sent instead, and an error logged, not a final
// :status 101 that clients must reject.
func TestWriteHeader101(t *testing.T) {
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusSwitchingProtocols)
		io.WriteString(w, "upgraded bytes")
	}))
	defer ts.close()
	rc := dialRaw(t, ts)
	rc.get(1, "/")
	if r := rc.response(1); r.status != "500" || len(r.infos) != 0 {
		t.Errorf("status %s, 1xx %v, want 500 and no 101", r.status, r.infos)
	}
}
