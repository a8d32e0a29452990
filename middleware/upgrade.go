package middleware

import (
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// IsUpgrade reports whether r opens a connection that outlives an ordinary
// response, judged by what the request is rather than by header fields
// alone, since any client can add those:
//
//   - a CONNECT over HTTP/2 or later: the method itself makes the stream
//     a tunnel, and it includes the extended CONNECT (RFC 8441) that
//     carries a WebSocket over HTTP/2, whose request body is the session;
//   - a CONNECT over HTTP/1.x with no body (ContentLength 0): a CONNECT
//     request has no content (RFC 9110 section 9.3.6), and its tunnel
//     begins once the handler takes the connection. One that declares a
//     body (Content-Length or chunked, which net/http reads like any
//     other) is an ordinary request, since any client can send
//     "CONNECT /upload HTTP/1.1" to a route that takes every method;
//   - an HTTP/1.1 protocol upgrade in the form a WebSocket handshake
//     takes (RFC 6455 section 4.1): a GET with no body (ContentLength 0,
//     as the server reports a request with neither Content-Length nor
//     chunked Transfer-Encoding) whose Upgrade field names a protocol
//     other than h2c, with the "upgrade" token in Connection.
//
// Upgrade and Connection fields on any other request (a POST, a request
// with a body, an HTTP/1.0 request, an HTTP/2 stream) do not make it an
// upgrade, and no HTTP/1.x request with a body is one. Middleware that
// limit, buffer or transform bodies pass upgrades through untouched, and
// Timeout gives an HTTP/1.1 upgrade a deadline for its handshake only
// (until the handler takes the connection); every other request gets
// them, whatever its header says.
//
// A molt server switches to h2c itself, and the handler sees the request
// as HTTP/2 stream 1; an "Upgrade: h2c" request that reaches a handler
// over HTTP/1.1 is one the server declined (a body over its limit, or
// upgrades turned off), served as an ordinary request, and no upgrade.
func IsUpgrade(r *http.Request) bool {
	if r.Method == http.MethodConnect {
		return r.ProtoMajor != 1 || r.ContentLength == 0
	}
	return r.Method == http.MethodGet &&
		r.ProtoMajor == 1 && r.ProtoMinor >= 1 &&
		r.ContentLength == 0 &&
		upgradeNamesProtocol(r.Header["Upgrade"]) &&
		httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade")
}

// upgradeNamesProtocol reports whether the Upgrade field values name a
// protocol other than h2c, which only the server itself switches to.
func upgradeNamesProtocol(values []string) bool {
	for _, v := range values {
		for v != "" {
			var p string
			p, v, _ = strings.Cut(v, ",")
			name, _, _ := strings.Cut(strings.TrimSpace(p), "/")
			if name != "" && !strings.EqualFold(name, "h2c") {
				return true
			}
		}
	}
	return false
}
