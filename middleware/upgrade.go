package middleware

import (
	"net/http"

	"golang.org/x/net/http/httpguts"
)

// IsUpgrade reports whether r opens a connection that outlives an ordinary
// response: an HTTP/1.1 protocol upgrade (a WebSocket handshake, say: an
// Upgrade field and the "upgrade" token in Connection), or a CONNECT,
// which includes the extended CONNECT (RFC 8441) that carries a WebSocket
// over HTTP/2. Middleware that limit, buffer, time or transform bodies
// pass such requests through untouched.
//
// An "Upgrade: h2c" request never gets here when a molt server serves
// it: the server switches protocols itself, and the handler sees the
// request as HTTP/2 stream 1.
func IsUpgrade(r *http.Request) bool {
	if r.Method == http.MethodConnect {
		return true
	}
	return len(r.Header["Upgrade"]) > 0 && httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade")
}
