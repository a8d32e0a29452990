package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/molt-http/molt/internal/h2ctest"
)

// TestShutdownDeadlineWithPeerNotReadingH2 attacks the h2 engine with a
// client that asks for an endless response and never reads it, so that
// the server's writes to it block: Shutdown must still keep to its
// context, and close the connection when that ends.
func TestShutdownDeadlineWithPeerNotReadingH2(t *testing.T) {
	var written atomic.Int64
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 16<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			written.Add(int64(len(chunk)))
		}
	}), h2ctest.WithEngine(h2ctest.H2))
	c := ts.Dial(t)
	var buf bytes.Buffer
	fr := http2.NewFramer(&buf, nil)
	buf.WriteString(http2.ClientPreface)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	fr.WriteWindowUpdate(0, 1<<31-1-65535)
	fr.WriteSettingsAck() // blindly, so that no SETTINGS timeout ends the connection
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hbuf.Bytes(), EndStream: true, EndHeaders: true})
	if _, err := c.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	// Wait until the handler's writes stall: the socket buffers are full.
	// (Should they only seem to, the test still holds.)
	for last, still := int64(-1), 0; still < 5; {
		time.Sleep(20 * time.Millisecond)
		if n := written.Load(); n == last && n > 0 {
			still++
		} else {
			last, still = n, 0
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ts.Shutdown(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Shutdown ignored its deadline: a client that does not read holds it")
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Errorf("connection not closed after Shutdown: %v", err)
	}
}
