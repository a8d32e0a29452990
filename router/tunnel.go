package router

import (
	"context"
	"errors"
	"net/http"
)

// An RFC 8441 extended CONNECT is served by the GET route of its path,
// which is how a WebSocket handler registered with Get takes WebSockets
// over HTTP/2 as well as over HTTP/1.1. Most GET handlers know nothing of
// tunnels, though, and a 2xx answer to an extended CONNECT tells the
// client that the tunnel is open. So the router wraps the writer of such
// a request in a tunnelGuard: a 2xx from a handler that did not call
// AcceptExtendedConnect becomes 501 Not Implemented, and what the handler
// writes after it is dropped. Non-2xx answers (a 401 from an
// authentication middleware, say) go out as written. Routes registered
// for CONNECT or for every method get the request as it is: they chose
// to see CONNECTs.

// errTunnelRefused is what a guarded handler's writes return once its 2xx
// has been turned into a 501.
var errTunnelRefused = errors.New("router: extended CONNECT answered 2xx by a handler that did not accept it (router.AcceptExtendedConnect); sent 501 instead")

type tunnelKey struct{}

// tunnelClaim records whether the handler accepted the extended CONNECT.
type tunnelClaim struct{ accepted bool }

// AcceptExtendedConnect tells the router that the handler serving r
// accepts the request's RFC 8441 extended CONNECT (its :protocol). It must
// be called before the handler's 2xx answer whenever an extended CONNECT
// reaches a GET route, or the router answers 501 Not Implemented instead;
// elsewhere it does nothing. molt's websocket package calls it in Accept:
// call it from any other tunnelling handler registered with Get (or
// register that handler for CONNECT, or for every method, where the router
// passes the request on untouched).
func AcceptExtendedConnect(r *http.Request) {
	if c, ok := r.Context().Value(tunnelKey{}).(*tunnelClaim); ok {
		c.accepted = true
	}
}

// serveTunnel has h, a GET route's handler, serve the extended CONNECT
// req through a tunnelGuard; a handler that returns without answering
// would have the engine send 200, so the guard answers for it.
func serveTunnel(h http.Handler, w http.ResponseWriter, req *http.Request) {
	c := new(tunnelClaim)
	req = req.WithContext(context.WithValue(req.Context(), tunnelKey{}, c))
	g := &tunnelGuard{ResponseWriter: w, claim: c, path: req.URL.Path}
	h.ServeHTTP(g, req)
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
}

// tunnelGuard is the writer of an extended CONNECT served by a GET route.
type tunnelGuard struct {
	http.ResponseWriter
	claim   *tunnelClaim
	path    string
	wrote   bool // the status went out (or was replaced)
	refused bool // it was a 2xx the handler had no right to: 501 went instead
}

func (g *tunnelGuard) WriteHeader(code int) {
	if g.wrote {
		g.ResponseWriter.WriteHeader(code) // net/http logs the superfluous call
		return
	}
	if code >= 200 {
		g.wrote = true
	}
	if code < 200 || code > 299 || g.claim.accepted {
		g.ResponseWriter.WriteHeader(code)
		return
	}
	g.refused = true
	h := g.ResponseWriter.Header()
	clear(h)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	g.ResponseWriter.WriteHeader(http.StatusNotImplemented)
	// The :protocol is the client's; the path is what it asked for.
	g.ResponseWriter.Write([]byte("501 not implemented: " + g.path + " does not accept an extended CONNECT\n"))
}

func (g *tunnelGuard) Write(p []byte) (int, error) {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	if g.refused {
		return 0, errTunnelRefused
	}
	return g.ResponseWriter.Write(p)
}

// Flush flushes the response, which commits a 200 when nothing was
// written, as net/http's does.
func (g *tunnelGuard) Flush() {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	if f, ok := g.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the writer underneath. Once the
// answer is refused it gives nothing: the tunnel is not the handler's.
func (g *tunnelGuard) Unwrap() http.ResponseWriter {
	if g.refused {
		return nil
	}
	return g.ResponseWriter
}
