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

	_ "github.com/molt-http/molt/server/xconnect" // the x/net engine's extended CONNECT
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
