package server

import (
	"context"
	"net/http"
)

// Protocol names the way a connection or request reached the server. The
// same three names are used in the API, logs, stats, test modes and docs.
type Protocol string

// The ways into a molt server.
const (
	// H1 is HTTP/1.x (HTTP/1.0 or HTTP/1.1) through net/http.
	H1 Protocol = "h1"
	// H2CUpgrade is HTTP/2 reached by an HTTP/1.1 request with
	// "Upgrade: h2c", answered with 101 Switching Protocols.
	H2CUpgrade Protocol = "h2c-upgrade"
	// H2CPrior is HTTP/2 by prior knowledge: the connection opened with the
	// HTTP/2 preface.
	H2CPrior Protocol = "h2c-prior"
)

// Protocols lists every Protocol in a fixed order.
var Protocols = []Protocol{H1, H2CUpgrade, H2CPrior}

// IsHTTP2 reports whether p is one of the HTTP/2 protocols.
func (p Protocol) IsHTTP2() bool { return p == H2CUpgrade || p == H2CPrior }

// ConnState is a state of a connection, reported to Config.ConnState.
type ConnState int

// Connection states. A connection starts New; it becomes Active and Idle
// as net/http serves HTTP/1.1 requests on it, or HTTP2 when the HTTP/2
// engine takes it (after the preface or an upgrade), or Hijacked when a
// handler takes it over; it ends Closed.
const (
	StateNew ConnState = iota
	StateActive
	StateIdle
	StateHTTP2
	StateHijacked
	StateClosed
)

var connStateNames = [...]string{"new", "active", "idle", "http2", "hijacked", "closed"}

// String returns the state's lower-case name.
func (s ConnState) String() string {
	if int(s) < len(connStateNames) {
		return connStateNames[s]
	}
	return "unknown"
}

// connInfo is stored in the base context of every connection, so that a
// request can learn how it arrived and which server serves it.
type connInfo struct {
	proto Protocol
	srv   *Server
	conn  *conn
}

type connInfoKey struct{}

func withConnInfo(ctx context.Context, info *connInfo) context.Context {
	return context.WithValue(ctx, connInfoKey{}, info)
}

func connInfoOf(r *http.Request) *connInfo {
	info, _ := r.Context().Value(connInfoKey{}).(*connInfo)
	return info
}

// ProtocolOf reports how r reached the server: H1, H2CUpgrade (every stream
// of an upgraded connection, stream 1 included) or H2CPrior. It returns ""
// for a request that a molt Server did not serve.
func ProtocolOf(r *http.Request) Protocol {
	if info := connInfoOf(r); info != nil {
		return info.proto
	}
	return ""
}

// FromRequest returns the Server that serves r, or nil if a molt Server did
// not serve it. Long-lived handlers use it to register shutdown hooks.
func FromRequest(r *http.Request) *Server {
	if info := connInfoOf(r); info != nil {
		return info.srv
	}
	return nil
}
