package websocket

import (
	"context"
	"net/http"
	"time"

	moltws "github.com/molt-http/molt/websocket"
)

// MoltEcho is molt's websocket package in its allocation-free loop:
// AppendMessage into a reused buffer, then Write. It is mounted with
// websocket.Handler (which closes the connection when the loop ends),
// accepts any origin, and leaves compression at its default (disabled;
// the benchmark client offers none anyway).
func MoltEcho() http.Handler {
	return moltws.Handler(func(ctx context.Context, c *moltws.Conn) {
		var buf []byte
		for {
			typ, msg, err := c.AppendMessage(ctx, buf[:0])
			if err != nil {
				return
			}
			buf = msg
			if err := c.Write(ctx, typ, buf); err != nil {
				return
			}
		}
	}, moltws.Options{AllowAnyOrigin: true})
}

// MoltEchoDeadlines is MoltEcho with the keepalive pattern: a fresh read
// deadline before every read and a fresh write deadline before every
// write. Over HTTP/2 the Conn keeps those deadlines itself
// (TestServerAllocs holds them to no allocation per message).
func MoltEchoDeadlines() http.Handler {
	return moltws.Handler(func(ctx context.Context, c *moltws.Conn) {
		var buf []byte
		for {
			c.SetReadDeadline(time.Now().Add(time.Minute))
			typ, msg, err := c.AppendMessage(ctx, buf[:0])
			if err != nil {
				return
			}
			buf = msg
			c.SetWriteDeadline(time.Now().Add(time.Minute))
			if err := c.Write(ctx, typ, buf); err != nil {
				return
			}
		}
	}, moltws.Options{AllowAnyOrigin: true})
}
