package server_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/molt-http/molt/internal/h2ctest"
)

// TestShutdownServesConnectionsStillSniffing checks what Shutdown does to
// connections accepted before it that have not shown their protocol yet:
// the first bytes of a request have arrived, the rest arrives once
// Shutdown has begun (its hooks run). The request is served, over
// HTTP/1.1 with keep-alive off, over HTTP/2 with GOAWAY; a connection that
// sends nothing is closed; and Shutdown returns. Before, Shutdown closed
// every such connection at once, and a client whose request was on its
// way got EOF, which a client cannot safely retry.
func TestShutdownServesConnectionsStillSniffing(t *testing.T) {
	h2ctest.RunEngines(t, testShutdownServesConnectionsStillSniffing)
}

func testShutdownServesConnectionsStillSniffing(t *testing.T, e h2ctest.Engine) {
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "served "+r.URL.Path)
	}), h2ctest.WithEngine(e))
	h1, h2, silent := ts.Dial(t), ts.Dial(t), ts.Dial(t)
	h1First, h1Rest := "G", "ET /h1 HTTP/1.1\r\nHost: x\r\n\r\n"
	h2First, h2Rest := http2.ClientPreface[:len(http2.ClientPreface)-1], http2.ClientPreface[len(http2.ClientPreface)-1:]+string(h2Request(t, "/h2"))
	for _, w := range []struct {
		c net.Conn
		b string
	}{{h1, h1First}, {h2, h2First}} {
		if _, err := io.WriteString(w.c, w.b); err != nil {
			t.Fatal(err)
		}
	}
	awaitOpen(t, ts, 3)

	begun := make(chan struct{})
	ts.RegisterOnShutdown(func() { close(begun) })
	done := make(chan error, 1)
	go func() { done <- ts.Shutdown(h2ctest.ShutdownContext(t)) }()
	<-begun
	for _, w := range []struct {
		c net.Conn
		b string
	}{{h1, h1Rest}, {h2, h2Rest}} {
		if _, err := io.WriteString(w.c, w.b); err != nil {
			t.Fatal(err)
		}
	}

	resp, err := http.ReadResponse(bufio.NewReader(h1), nil)
	if err != nil {
		t.Fatalf("HTTP/1.1: %v (the request was lost)", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "served /h1" || !resp.Close {
		t.Errorf("HTTP/1.1: %s %q, Connection: close %v; want 200 %q, keep-alive off", resp.Status, body, resp.Close, "served /h1")
	}

	// molt's engine drains in two phases, so stream 1 is served; x/net's
	// sends one GOAWAY at once, naming stream 0, which refuses stream 1 in
	// a way the client may retry: either way nothing is lost.
	got, goaway, last := h2Answer(h2)
	switch {
	case !goaway:
		t.Errorf("HTTP/2: no GOAWAY")
	case got == "served /h2" && last >= 1:
	case got == "" && last == 0 && e == h2ctest.XNet:
	default:
		t.Errorf("HTTP/2: stream 1 answered %q, GOAWAY names stream %d; want %q under a GOAWAY naming it", got, last, "served /h2")
	}

	silent.SetReadDeadline(time.Now().Add(time.Minute))
	if n, err := silent.Read(make([]byte, 1)); err == nil {
		t.Errorf("the silent connection read %d bytes, want it closed", n)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// h2Request returns the frames of a client that sends SETTINGS and a GET
// of path on stream 1, after the preface.
func h2Request(t *testing.T, path string) []byte {
	var out, hb bytes.Buffer
	fr := http2.NewFramer(&out, nil)
	fr.WriteSettings()
	enc := hpack.NewEncoder(&hb)
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: "x"}, {Name: ":path", Value: path}} {
		enc.WriteField(f)
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// h2Answer reads frames from c until it ends, and returns stream 1's
// body, whether a GOAWAY came and the last stream ID of the last one.
func h2Answer(c net.Conn) (body string, goaway bool, last uint32) {
	c.SetReadDeadline(time.Now().Add(time.Minute))
	fr := http2.NewFramer(c, bufio.NewReader(c))
	var b []byte
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return string(b), goaway, last
		}
		switch f := f.(type) {
		case *http2.DataFrame:
			if f.StreamID == 1 {
				b = append(b, f.Data()...)
			}
		case *http2.GoAwayFrame:
			goaway, last = true, f.LastStreamID
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				fr.WritePing(true, f.Data)
			}
		}
	}
}

// TestShutdownServesHeaderInPieces checks an HTTP/1.1 request whose
// first line arrives while Shutdown has begun and whose header fields
// follow a little later: the sniff hands the connection to net/http on
// the first line, and net/http drops a request it reads once its own
// Shutdown has begun (it closes the connection without an answer), so
// that must wait until net/http has read the request.
func TestShutdownServesHeaderInPieces(t *testing.T) {
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "served "+r.URL.Path)
	}))
	c := ts.Dial(t)
	if _, err := io.WriteString(c, "G"); err != nil {
		t.Fatal(err)
	}
	awaitOpen(t, ts, 1)
	begun := make(chan struct{})
	ts.RegisterOnShutdown(func() { close(begun) })
	done := make(chan error, 1)
	go func() { done <- ts.Shutdown(h2ctest.ShutdownContext(t)) }()
	<-begun
	if _, err := io.WriteString(c, "ET /h1 HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // well within ShutdownSniffGrace
	if _, err := io.WriteString(c, "Host: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%v (the request was lost)", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "served /h1" || !resp.Close {
		t.Errorf("%s %q, Connection: close %v; want 200 %q, keep-alive off", resp.Status, body, resp.Close, "served /h1")
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// awaitOpen waits (a bounded loop) until ts holds n open connections.
func awaitOpen(t *testing.T, ts *h2ctest.Server, n int64) {
	t.Helper()
	for i := 0; ; i++ {
		var open int64
		for _, c := range ts.Stats().Open {
			open += c
		}
		if open >= n {
			return
		}
		if i == 2000 {
			t.Fatalf("the server holds %d of the %d connections", open, n)
		}
		time.Sleep(time.Millisecond)
	}
}
