package h2client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

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

// streamContext returns a context bounded by testTimeout.
func streamContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}
