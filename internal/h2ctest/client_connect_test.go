package h2ctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	_ "github.com/molt-http/molt/internal/h2ctest/internal/xconnecton"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// tunnelEcho answers a CONNECT with 200 and copies the request body back,
// flushing after every read, until the client ends its side. Paths under
// /status/ answer that status instead. It reports the request's method,
// :protocol and host in response headers.
func tunnelEcho(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Method", r.Method)
	w.Header().Set("X-Protocol", r.Header.Get(":protocol"))
	w.Header().Set("X-Host", r.Host)
	w.Header().Set("X-Path", r.URL.RequestURI())
	w.Header().Set("X-Version", r.Header.Get("Sec-Websocket-Version"))
	if code, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
		var status int
		fmt.Sscan(code, &status)
		w.WriteHeader(status)
		return
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	buf := make([]byte, 8<<10)
	for {
		n, err := r.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// streamContext returns a context bounded by testTimeout.
func streamContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func TestExtendedConnect(t *testing.T) {
	checkNoLeaks(t) // in the parent: a subtest's check would see its parent
	Run(t, testExtendedConnect, H2CUpgrade, H2CPrior)
}

func testExtendedConnect(t *testing.T, mode Mode) {
	ts := NewServer(t, http.HandlerFunc(tunnelEcho))
	cc := ts.ClientConn(t, mode, ClientOptions{})

	for i := range 2 { // two tunnels, one after the other, on one connection
		h := http.Header{"Sec-Websocket-Version": {"13"}, "Connection": {"Upgrade"}}
		s, err := cc.ExtendedConnect(streamContext(t), "/chat?room=1", "websocket", h)
		if err != nil {
			t.Fatalf("ExtendedConnect: %v", err)
		}
		wantID := uint32(1 + 2*i)
		if mode == H2CUpgrade {
			wantID += 2 // stream 1 carried the upgraded request
		}
		if s.ID() != wantID {
			t.Errorf("stream ID = %d, want %d", s.ID(), wantID)
		}
		res := s.Response()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200", res.StatusCode)
		}
		for k, want := range map[string]string{
			"X-Method":   "CONNECT",
			"X-Protocol": "websocket",
			"X-Host":     ts.Addr,
			"X-Path":     "/chat?room=1",
			"X-Version":  "13",
		} {
			if got := res.Header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}

		// 1 MiB is far beyond the default stream window of 65,535 bytes,
		// so writes must wait for the server's WINDOW_UPDATEs.
		payload := pattern(1<<20, byte(i))
		werr := make(chan error, 1)
		go func() {
			_, err := s.Write(payload)
			if err == nil {
				err = s.CloseWrite()
			}
			werr <- err
		}()
		got, err := io.ReadAll(s)
		if err != nil {
			t.Fatalf("reading the echo: %v", err)
		}
		if err := await(t, werr, "writer"); err != nil {
			t.Fatalf("writing: %v", err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("echo of %d bytes differs (got %d bytes)", len(payload), len(got))
		}
		if _, err := s.Write([]byte("x")); err == nil {
			t.Error("Write after CloseWrite succeeded")
		}
		s.Close()
	}
}

func TestExtendedConnectStatus(t *testing.T) {
	checkNoLeaks(t)
	Run(t, func(t *testing.T, mode Mode) {
		ts := NewServer(t, http.HandlerFunc(tunnelEcho))
		cc := ts.ClientConn(t, mode, ClientOptions{})
		s, err := cc.ExtendedConnect(streamContext(t), "/status/403", "websocket", nil)
		if err != nil {
			t.Fatalf("ExtendedConnect: %v", err)
		}
		defer s.Close()
		if s.Response().StatusCode != http.StatusForbidden {
			t.Fatalf("status = %d, want 403", s.Response().StatusCode)
		}
		if n, err := s.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("Read = %d, %v; want 0, EOF", n, err)
		}
	}, H2CUpgrade, H2CPrior)
}

func TestExtendedConnectCloseResets(t *testing.T) {
	checkNoLeaks(t)
	Run(t, func(t *testing.T, mode Mode) {
		bodyErr := make(chan error, 1)
		ts := NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodConnect {
				return // the h2c upgrade's own request
			}
			w.WriteHeader(http.StatusOK)
			http.NewResponseController(w).Flush()
			_, err := io.ReadAll(r.Body)
			bodyErr <- err
		}))
		cc := ts.ClientConn(t, mode, ClientOptions{})
		s, err := cc.ExtendedConnect(streamContext(t), "/", "websocket", nil)
		if err != nil {
			t.Fatalf("ExtendedConnect: %v", err)
		}
		if _, err := s.Write([]byte("some data")); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := await(t, bodyErr, "the handler's read"); err == nil {
			t.Fatal("the handler read the body to EOF; want an error from the reset")
		}
		if _, err := s.Read(make([]byte, 1)); err == nil || err == io.EOF {
			t.Errorf("Read after Close = %v, want an error", err)
		}
		// The connection stays usable.
		s2, err := cc.ExtendedConnect(streamContext(t), "/", "websocket", nil)
		if err != nil {
			t.Fatalf("second ExtendedConnect: %v", err)
		}
		s2.Close()
	}, H2CUpgrade, H2CPrior)
}

func TestExtendedConnectContextCancel(t *testing.T) {
	checkNoLeaks(t)
	ts := NewServer(t, http.HandlerFunc(tunnelEcho))
	cc := ts.ClientConn(t, H2CPrior, ClientOptions{})
	ctx, cancel := context.WithCancel(streamContext(t))
	s, err := cc.ExtendedConnect(ctx, "/", "websocket", nil)
	if err != nil {
		t.Fatalf("ExtendedConnect: %v", err)
	}
	defer s.Close()
	cancel()
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel = %v, want context.Canceled", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Write after cancel = %v, want context.Canceled", err)
	}
}

func TestConnect(t *testing.T) {
	checkNoLeaks(t)
	Run(t, func(t *testing.T, mode Mode) {
		ts := NewServer(t, http.HandlerFunc(tunnelEcho))
		cc := ts.ClientConn(t, mode, ClientOptions{})
		s, err := cc.Connect(streamContext(t), "example.test:443", nil)
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		defer s.Close()
		res := s.Response()
		if res.StatusCode != http.StatusOK || res.Header.Get("X-Method") != "CONNECT" || res.Header.Get("X-Host") != "example.test:443" || res.Header.Get("X-Protocol") != "" {
			t.Fatalf("response %d %v, want 200 to a plain CONNECT for example.test:443", res.StatusCode, res.Header)
		}
		if _, err := s.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if err := s.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(s)
		if string(got) != "hello" || err != nil {
			t.Fatalf("echo = %q, %v; want \"hello\", nil", got, err)
		}
	}, H2CUpgrade, H2CPrior)
}

// TestExtendedConnectWire checks the exact header block and DATA frames of
// an extended CONNECT against a scripted server.
func TestExtendedConnectWire(t *testing.T) {
	checkNoLeaks(t)
	problems := make(chan string, 1)
	addr := startRaw(t, []http2.Setting{{ID: http2.SettingEnableConnectProtocol, Val: 1}}, func(s *rawServer) {
		var report []string
		defer func() { problems <- strings.Join(report, "; ") }()
		var hf *http2.MetaHeadersFrame
		for hf == nil {
			f, err := s.fr.ReadFrame()
			if err != nil {
				report = append(report, "no HEADERS: "+err.Error())
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					s.fr.WriteSettingsAck()
				}
			case *http2.MetaHeadersFrame:
				hf = f
			}
		}
		var fields []string
		for _, f := range hf.Fields {
			fields = append(fields, f.Name+": "+f.Value)
		}
		want := ":method: CONNECT|:protocol: websocket|:scheme: http|:path: /ws|:authority: example.test|sec-websocket-version: 13"
		if got := strings.Join(fields, "|"); got != want {
			report = append(report, fmt.Sprintf("header block %q, want %q", got, want))
		}
		if hf.StreamEnded() {
			report = append(report, "HEADERS carried END_STREAM")
		}
		s.hbuf.Reset()
		s.henc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: hf.StreamID, BlockFragment: s.hbuf.Bytes(), EndHeaders: true})
		var data []byte
		for {
			f, err := s.fr.ReadFrame()
			if err != nil {
				report = append(report, "reading DATA: "+err.Error())
				return
			}
			if df, ok := f.(*http2.DataFrame); ok {
				data = append(data, df.Data()...)
				if df.StreamEnded() {
					break
				}
			}
		}
		if string(data) != "ping" {
			report = append(report, fmt.Sprintf("DATA %q, want \"ping\"", data))
		}
		s.fr.WriteData(hf.StreamID, true, []byte("pong"))
		s.drain()
	})
	cc := dialH2(t, addr, ClientOptions{})
	h := http.Header{"Host": {"example.test"}, "Sec-Websocket-Version": {"13"}, "Upgrade": {"websocket"}, "Te": {"trailers"}}
	s, err := cc.ExtendedConnect(streamContext(t), "/ws", "websocket", h)
	if err != nil {
		t.Fatalf("ExtendedConnect: %v", err)
	}
	defer s.Close()
	if _, err := s.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(s)
	if string(got) != "pong" || err != nil {
		t.Errorf("read %q, %v; want \"pong\", nil", got, err)
	}
	cc.Close()
	if p := await(t, problems, "the server script"); p != "" {
		t.Error(p)
	}
}

func TestExtendedConnectNotEnabled(t *testing.T) {
	checkNoLeaks(t)
	for _, tc := range []struct {
		name     string
		settings []http2.Setting
	}{
		{"absent", nil},
		{"zero", []http2.Setting{{ID: http2.SettingEnableConnectProtocol, Val: 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startRaw(t, tc.settings, func(s *rawServer) { s.drain() })
			cc := dialH2(t, addr, ClientOptions{})
			s, err := cc.ExtendedConnect(streamContext(t), "/", "websocket", nil)
			if !errors.Is(err, ErrNoExtendedConnect) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("ExtendedConnect = %v, want ErrNoExtendedConnect", err)
			}
			if !cc.CanTakeNewRequest() {
				t.Error("the refusal broke the connection")
			}
		})
	}
}

func TestExtendedConnectBadArguments(t *testing.T) {
	checkNoLeaks(t)
	addr := startRaw(t, []http2.Setting{{ID: http2.SettingEnableConnectProtocol, Val: 1}}, func(s *rawServer) {
		if id := s.readHeaders(); id != 0 {
			s.respond(id, "200")
		}
		s.drain()
	})
	cc := dialH2(t, addr, ClientOptions{})
	for _, tc := range []struct{ path, protocol string }{
		{"/", ""},
		{"/", "web socket"},
		{"", "websocket"},
		{"ws", "websocket"},
		{"/a b", "websocket"},
	} {
		if s, err := cc.ExtendedConnect(streamContext(t), tc.path, tc.protocol, nil); err == nil {
			s.Close()
			t.Errorf("ExtendedConnect(%q, %q) succeeded", tc.path, tc.protocol)
		}
	}
	if s, err := cc.Connect(streamContext(t), "", nil); err == nil {
		s.Close()
		t.Error("Connect with no authority succeeded")
	}
	// Only now does a stream reach the server, which answers it.
	s, err := cc.ExtendedConnect(streamContext(t), "/", "websocket", nil)
	if err != nil {
		t.Fatalf("valid ExtendedConnect: %v", err)
	}
	defer s.Close()
	if s.ID() != 1 || s.Response().StatusCode != http.StatusOK {
		t.Errorf("stream %d answered %d, want stream 1 answered 200", s.ID(), s.Response().StatusCode)
	}
}

// TestExtendedConnectResetKeepsData checks that data the server sent before
// resetting a tunnel is read before the reset's error.
func TestExtendedConnectResetKeepsData(t *testing.T) {
	checkNoLeaks(t)
	addr := startRaw(t, []http2.Setting{{ID: http2.SettingEnableConnectProtocol, Val: 1}}, func(s *rawServer) {
		id := s.readHeaders()
		if id == 0 {
			return
		}
		s.hbuf.Reset()
		s.henc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: s.hbuf.Bytes(), EndHeaders: true})
		s.fr.WriteData(id, false, []byte("before the reset"))
		s.fr.WriteRSTStream(id, http2.ErrCodeInternal)
		s.drain()
	})
	cc := dialH2(t, addr, ClientOptions{})
	s, err := cc.ExtendedConnect(streamContext(t), "/", "websocket", nil)
	if err != nil {
		t.Fatalf("ExtendedConnect: %v", err)
	}
	defer s.Close()
	got, err := io.ReadAll(s)
	var se http2.StreamError
	if string(got) != "before the reset" || !errors.As(err, &se) || se.Code != http2.ErrCodeInternal {
		t.Fatalf("read %q, %v; want \"before the reset\" and a stream error INTERNAL_ERROR", got, err)
	}
	if !connWindowBalanced(cc) {
		t.Error("connection flow-control credit leaked")
	}
}
