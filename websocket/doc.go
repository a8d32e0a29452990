// Package websocket is molt's WebSocket implementation: RFC 6455 over
// HTTP/1.1 and RFC 8441 (extended CONNECT) over HTTP/2, on h2c upgraded
// and prior-knowledge connections alike, with permessage-deflate
// (RFC 7692). It is mounted as a handler or as middleware on any route:
//
//	r.Get("/ws", websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
//		for {
//			typ, msg, err := c.Read(ctx)
//			if err != nil {
//				return
//			}
//			if err := c.Write(ctx, typ, msg); err != nil {
//				return
//			}
//		}
//	}, websocket.Options{}))
//
// Accept does the handshake inside any handler, after whatever checks
// (authentication, say) the handler makes on the request first.
//
// Dial is the client side: it opens a WebSocket over HTTP/1.1, or over
// HTTP/2 (prior knowledge or the h2c upgrade) as an extended CONNECT
// stream, and returns the same Conn, whose frames it masks:
//
//	c, err := websocket.Dial(ctx, "ws://localhost:8080/ws", &websocket.DialOptions{
//		Protocol: websocket.DialH2CPrior,
//	})
//
// NetConn, ReadJSON, WriteJSON, Conn.CloseRead and the KeepAlive option
// serve accepted and dialed Conns alike.
//
// # Limits
//
// A Conn reads messages of up to DefaultReadLimit (1 MiB, after
// decompression) unless Options.ReadLimit or Conn.SetReadLimit say
// otherwise; a larger one fails the connection with close 1009. Read and
// AppendMessage hold a whole message, so peers can claim about the limit
// times the number of connections; Reader streams a message without
// holding it whole. The default was 32 MiB before: set ReadLimit to keep
// it.
//
// # HTTP/2 and extended CONNECT
//
// Over HTTP/2 a WebSocket is an extended CONNECT stream (RFC 8441), which
// the server must advertise with SETTINGS_ENABLE_CONNECT_PROTOCOL. molt's
// own engine, the default, does so per server (on unless
// server.HTTP2Config.DisableExtendedConnect). Importing this package
// changes nothing in the process: it sets no GODEBUG. The x/net engine
// (server.NewXNetEngine) accepts extended CONNECT only when the program
// opts in for the whole process, by importing
// github.com/molt-http/molt/server/xconnect (or running with
// GODEBUG=http2xconnect=1); without it, WebSockets reach that engine over
// HTTP/1.1 only.
//
// # The handler's return
//
// Over HTTP/2 a WebSocket is its handler's stream, which ends when the
// handler returns. Handler closes the connection when its function
// returns. Upgrade lets the handler after it return while goroutines use
// the connection (the gorilla/websocket idiom) and keeps the stream until
// the connection is closed. A Conn from Accept used after its handler
// returned fails every operation with a clear error over HTTP/2, and goes
// on working over HTTP/1.1. Deadlines behave as a net.Conn's on both:
// one passing on an idle connection does nothing.
//
// # Shutdown
//
// A Conn accepted on a request served by a molt server registers with
// the server's shutdown hooks: Shutdown sends it a close frame 1001
// (going away), waits (up to five seconds) for the peer's close and
// closes it; Shutdown itself waits for that.
package websocket
