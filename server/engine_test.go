package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/server"
)

// newEngine builds engine e for a test, from a configuration with a
// logger that writes nothing.
func newEngine(t *testing.T, e h2ctest.Engine) server.Engine {
	t.Helper()
	cfg := server.Config{Logger: slog.New(slog.DiscardHandler)}
	h2ctest.WithEngine(e)(&cfg)
	eng, err := cfg.Engine(cfg)
	if err != nil {
		t.Fatalf("building the %s engine: %v", e, err)
	}
	return eng
}

// serveOne hands one loopback connection to eng and returns the client's
// end, with the client preface, an empty SETTINGS and a blind SETTINGS
// ACK already written, and a channel closed when ServeConn has returned.
func serveOne(t *testing.T, eng server.Engine, opts server.ConnOptions) (net.Conn, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		eng.ServeConn(sc, opts)
	}()
	t.Cleanup(func() {
		sc.Close()
		<-done
	})
	var buf bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	fr.WriteSettings()
	fr.WriteSettingsAck()
	if _, err := client.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	// Bounds a broken engine; a healthy one answers within milliseconds.
	client.SetDeadline(time.Now().Add(20 * time.Second))
	return client, done
}

// TestEngineDrainReachesLaterConnections checks that Drain stays in
// effect: a connection that reaches the engine after Drain gets GOAWAY
// and, with no stream open, is closed by the engine. Shutdown relies on
// it for a connection that passed its draining check just before.
func TestEngineDrainReachesLaterConnections(t *testing.T) {
	h2ctest.RunEngines(t, testEngineDrainReachesLaterConnections)
}

func testEngineDrainReachesLaterConnections(t *testing.T, e h2ctest.Engine) {
	eng := newEngine(t, e)
	eng.Drain()
	c, done := serveOne(t, eng, server.ConnOptions{Context: context.Background(), Handler: http.NotFoundHandler()})
	fr := http2.NewFramer(c, c)
	var goAway bool
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			if !goAway {
				t.Fatalf("no GOAWAY on a connection begun after Drain: %v", err)
			}
			if !errors.Is(err, io.EOF) {
				t.Errorf("connection not closed after its GOAWAY: %v", err)
			}
			break
		}
		if p, ok := f.(*http2.PingFrame); ok && !p.IsAck() {
			fr.WritePing(true, p.Data) // molt's engine sends its final GOAWAY on the answer
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			if ga.ErrCode != http2.ErrCodeNo {
				t.Errorf("GOAWAY %v, want NO_ERROR", ga.ErrCode)
			}
			goAway = true
		}
	}
	<-done
}

// TestEngineGivesStream1ItsOwnContext hands an engine an upgrade request
// whose context has already ended: the handler of stream 1 must run
// with a live context of the engine's, derived from ConnOptions.Context.
func TestEngineGivesStream1ItsOwnContext(t *testing.T) {
	h2ctest.RunEngines(t, testEngineGivesStream1ItsOwnContext)
}

type ctxKey struct{}

func testEngineGivesStream1ItsOwnContext(t *testing.T, e h2ctest.Engine) {
	eng := newEngine(t, e)
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	up, err := http.NewRequestWithContext(gone, "GET", "http://x/", nil)
	if err != nil {
		t.Fatal(err)
	}
	up.Proto, up.ProtoMajor, up.ProtoMinor = "HTTP/2.0", 2, 0
	type result struct {
		err   error
		value any
	}
	got := make(chan result, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- result{r.Context().Err(), r.Context().Value(ctxKey{})}
	})
	base := context.WithValue(context.Background(), ctxKey{}, "conn")
	serveOne(t, eng, server.ConnOptions{Context: base, Handler: h, Upgrade: up})
	select {
	case r := <-got:
		if r.err != nil {
			t.Errorf("stream 1's context: %v, want one that has not ended", r.err)
		}
		if r.value != "conn" {
			t.Errorf("stream 1's context carries %v, want ConnOptions.Context's values", r.value)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("stream 1 never served")
	}
}

// TestUpgradeSettingsAreCheckedByTheEngine sends HTTP2-Settings with 65
// settings, which x/net applies and molt's engine refuses (it takes 64
// at most): the core must ask the engine before its 101, and decline the
// upgrade rather than switch to an engine that will fail the connection.
func TestUpgradeSettingsAreCheckedByTheEngine(t *testing.T) {
	h2ctest.RunEngines(t, testUpgradeSettingsAreCheckedByTheEngine)
}

func testUpgradeSettingsAreCheckedByTheEngine(t *testing.T, e h2ctest.Engine) {
	ts := h2ctest.NewServer(t, describe, h2ctest.WithEngine(e))
	settings := bytes.Repeat([]byte{0, 1, 0, 0, 0x10, 0}, 65) // HEADER_TABLE_SIZE 4096, 65 times
	req := "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: " + base64.RawURLEncoding.EncodeToString(settings) + "\r\n\r\n"
	resp, _ := rawRoundTrip(t, ts, req)
	want := map[h2ctest.Engine]int{h2ctest.XNet: http.StatusSwitchingProtocols, h2ctest.H2: http.StatusOK}[e]
	if resp.StatusCode != want {
		t.Fatalf("upgrade with 65 settings: %s, want %d", resp.Status, want)
	}
	declined := ts.Stats().Declined[server.DeclineSettingsValue]
	if wantDeclined := int64(map[h2ctest.Engine]int{h2ctest.H2: 1}[e]); declined != wantDeclined {
		t.Errorf("declined for settings-value: %d, want %d", declined, wantDeclined)
	}
}
