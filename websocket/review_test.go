package websocket_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/websocket"
)

// TestStaleContextDoesNotInterrupt checks that a context passed to an
// earlier read does not interrupt a later read made with a context that
// cannot end (context.Background).
func TestStaleContextDoesNotInterrupt(t *testing.T) { h2ctest.Run(t, testStaleContextDoesNotInterrupt) }

func testStaleContextDoesNotInterrupt(t *testing.T, mode h2ctest.Mode) {
	reading := make(chan struct{})
	result := make(chan string, 1)
	ts := h2ctest.NewServer(t, websocket.Handler(func(_ context.Context, c *websocket.Conn) {
		ctxA, cancelA := context.WithCancel(context.Background())
		defer cancelA()
		if _, _, err := c.Read(ctxA); err != nil {
			result <- "first read: " + err.Error()
			return
		}
		close(reading)
		time.AfterFunc(50*time.Millisecond, cancelA) // ends during the next read
		_, m, err := c.Read(context.Background())
		if err != nil {
			result <- "second read: " + err.Error()
			return
		}
		result <- string(m)
	}, websocket.Options{}))
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	c.send(true, 0, 1, []byte("one"))
	<-reading
	time.Sleep(200 * time.Millisecond)
	c.send(true, 0, 1, []byte("two"))
	if got := <-result; got != "two" {
		t.Fatalf("second read got %q, want \"two\"", got)
	}
}

// TestPooledInflaterNotReusedWhileReading fails compressed messages
// inside the decompressor's Read (a bad frame between fragments, a close
// between fragments) while other connections decompress: a decompressor
// given back to the pool while its Read is still running would be shared
// between connections (the race detector reports it).
func TestPooledInflaterNotReusedWhileReading(t *testing.T) {
	opts := websocket.Options{Compression: websocket.CompressionNoContextTakeover}
	ts := h2ctest.NewServer(t, echoHandler(opts, nil))
	hdr := http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate"}}
	text := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog ", 20))
	comp := newDeflater().compress(text, true)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				c := dialWS(t, ts, h2ctest.H1, "/", hdr)
				if c.status != http.StatusSwitchingProtocols {
					t.Errorf("handshake status %d", c.status)
					return
				}
				if (g+i)%2 == 0 {
					// Fail inside the decompressor's Read.
					c.send(false, 4, 1, comp[:len(comp)/2])
					if i%4 == 0 {
						c.send(true, 0, 8, closePayload(1000, ""))
					} else {
						c.send(true, 0, 3, nil)
					}
					c.expectClose()
				} else {
					for range 4 {
						c.send(true, 4, 1, comp)
						c.message()
					}
					c.send(true, 0, 8, closePayload(1000, ""))
					c.expectClose()
				}
				c.nc.Close()
			}
		}()
	}
	wg.Wait()
}

// TestAcceptDuringShutdown accepts a WebSocket after Shutdown has begun:
// the shutdown hook runs at once and must not race with Accept.
func TestAcceptDuringShutdown(t *testing.T) { h2ctest.Run(t, testAcceptDuringShutdown) }

func testAcceptDuringShutdown(t *testing.T, mode h2ctest.Mode) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect && r.Header.Get("Upgrade") == "" {
			return // the h2c upgrade request
		}
		close(arrived)
		<-release
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		// Not reading yet: the hook's Close reads the peer's close itself.
		time.Sleep(200 * time.Millisecond)
		c.Read(context.Background())
	}))
	shut := make(chan error, 1)
	go func() {
		<-arrived
		go func() { shut <- ts.Shutdown(h2ctest.ShutdownContext(t)) }()
		time.Sleep(100 * time.Millisecond)
		close(release)
	}()
	c := dialWS(t, ts, mode, "/", nil)
	wsOK(t, c, mode)
	if code, _ := c.expectClose(); code != 1001 {
		t.Fatalf("close %d, want 1001", code)
	}
	c.send(true, 0, 8, closePayload(1001, ""))
	c.expectEOF()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestDeflateFinalBlock sends a message compressed with a DEFLATE block
// that has BFINAL set, which RFC 7692 (section 7.2.3.4) allows a sender
// to use: its own example, "Hello" with a trailing 0x00.
func TestDeflateFinalBlock(t *testing.T) { h2ctest.Run(t, testDeflateFinalBlock) }

func testDeflateFinalBlock(t *testing.T, mode h2ctest.Mode) {
	opts := websocket.Options{Compression: websocket.CompressionNoContextTakeover}
	ts := h2ctest.NewServer(t, echoHandler(opts, nil))
	hdr := http.Header{"Sec-WebSocket-Extensions": {"permessage-deflate"}}
	c := dialWS(t, ts, mode, "/", hdr)
	wsOK(t, c, mode)
	for range 2 {
		c.send(true, 4, 1, []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})
		if op, got, _ := c.message(); op != 1 || string(got) != "Hello" {
			t.Fatalf("echo op %d %q, want text \"Hello\"", op, got)
		}
	}
	c.send(true, 0, 8, closePayload(1000, ""))
	if code, _ := c.expectClose(); code != 1000 {
		t.Fatalf("close %d, want 1000", code)
	}
}
