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
// # HTTP/2 and GODEBUG
//
// golang.org/x/net/http2 and net/http accept extended CONNECT only when
// the GODEBUG environment variable holds http2xconnect=1 at their package
// init, and then for the whole process. Importing this package sets it,
// before those packages initialise: every HTTP/2 server in the process
// (molt's, and any other net/http or x/net one) then advertises
// SETTINGS_ENABLE_CONNECT_PROTOCOL, so browsers may open WebSockets to it
// over HTTP/2; a server whose handler does not understand such a
// CONNECT answers it as it answers any other request. Running the
// program with GODEBUG=http2xconnect=0 switches it off, leaving
// WebSockets over HTTP/1.1 only.
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

import _ "github.com/molt-http/molt/websocket/internal/xconnect" // GODEBUG=http2xconnect=1 before net/http's init
