package router_test

// The x/net engine accepts extended CONNECT only in a process that opts
// in; TestTunnelGuardLive runs on both engines, so the test binary opts
// in, as a program serving tunnels with that engine would.
import _ "github.com/molt-http/molt/server/xconnect"
