// Package h2client is an HTTP/2 client for one cleartext connection, on
// golang.org/x/net/http2's Framer and hpack: prior knowledge
// ([NewClientConn]), the h2c upgrade ([Upgrade], [UpgradeTransport]),
// ordinary requests ([ClientConn.RoundTrip]), CONNECT and RFC 8441
// extended CONNECT streams ([ClientConn.ExtendedConnect]), and raw frames
// for protocol tests.
//
// It is molt's one HTTP/2 client: internal/h2ctest drives the test
// servers with it, and the WebSocket client and the load generator build
// on it, so that molt does not carry several HTTP/2 clients.
package h2client
