package websocket_test

// The x/net engine accepts extended CONNECT only in a process that opts
// in; these tests run WebSockets over HTTP/2 on both engines, so the test
// binary opts in, as a program serving them with that engine would.
import _ "github.com/molt-http/molt/server/xconnect"
