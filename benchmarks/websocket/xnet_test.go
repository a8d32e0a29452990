package websocket

// The x/net engine ("molt") accepts extended CONNECT only in a process
// that opts in, as a program serving WebSockets over HTTP/2 with it would.
import _ "github.com/molt-http/molt/server/xconnect"
