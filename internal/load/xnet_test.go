package load

// The x/net engine accepts extended CONNECT only in a process that opts
// in; the WebSocket-over-HTTP/2 tests run on both engines, so the test
// binary opts in, as a program serving them with that engine would.
import _ "github.com/molt-http/molt/server/xconnect"
