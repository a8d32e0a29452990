package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/molt-http/molt/websocket"
)

// TestServeWebSocketDial runs molt's own client, websocket.Dial, against
// `molt serve`'s /ws on every protocol (HTTP/1.1, and RFC 8441 over h2c
// prior knowledge and upgraded) and both engines, compressed and not:
// messages come back whole, and the close handshake completes.
func TestServeWebSocketDial(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"xnet", "h2"} {
		t.Run(engine, func(t *testing.T) {
			srv := startMolt(t, "-engine", engine)
			for _, p := range []websocket.Protocol{websocket.DialHTTP1, websocket.DialH2CUpgrade, websocket.DialH2CPrior} {
				for _, comp := range []websocket.Compression{websocket.CompressionDisabled, websocket.CompressionNoContextTakeover} {
					t.Run(p.String()+"/"+map[websocket.Compression]string{0: "plain", 1: "deflate"}[comp], func(t *testing.T) {
						ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
						defer cancel()
						c, err := websocket.Dial(ctx, "ws://"+srv.host+":"+srv.port+"/ws", &websocket.DialOptions{Protocol: p, Compression: comp})
						if err != nil {
							t.Fatalf("Dial: %v", err)
						}
						defer c.CloseNow()
						if c.HTTP2() != (p != websocket.DialHTTP1) {
							t.Errorf("HTTP2() = %v", c.HTTP2())
						}
						deflate := c.Response().Header.Get("Sec-WebSocket-Extensions") != ""
						if deflate != (comp != websocket.CompressionDisabled) {
							t.Errorf("permessage-deflate negotiated: %v, offered: %v", deflate, comp != websocket.CompressionDisabled)
						}
						for _, m := range [][]byte{[]byte("hello, molt"), {}, bytes.Repeat([]byte("molt"), 50_000)} {
							if err := c.Write(ctx, websocket.Binary, m); err != nil {
								t.Fatal(err)
							}
							typ, got, err := c.Read(ctx)
							if err != nil || typ != websocket.Binary || !bytes.Equal(got, m) {
								t.Fatalf("echo of %d bytes: %v %d bytes, %v", len(m), typ, len(got), err)
							}
						}
						if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
							t.Fatalf("Close: %v", err)
						}
					})
				}
			}
		})
	}
}
