package router

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
)

// An RFC 8441 extended CONNECT is served by the GET route of its path,
// which is how a WebSocket handler registered with Get takes WebSockets
// over HTTP/2 as well as over HTTP/1.1. Most GET handlers know nothing of
// tunnels, though, and a 2xx answer to an extended CONNECT tells the
// client that the tunnel is open. So the router wraps the writer of such
// a request in a tunnelGuard: a 2xx (or a 101, an HTTP/1.1 upgrade's
// answer) from a handler that did not call AcceptExtendedConnect becomes
// 501 Not Implemented, and what the handler writes and the header it sets
// after it are dropped. Other answers (a 401 from an
// authentication middleware, say) go out as written. A custom NotFound is
// guarded too. Routes registered for CONNECT or for every method (Mount's
// among them) get the request as it is: they chose to see CONNECTs.

// errTunnelRefused is what a guarded handler's writes return once its 2xx
// has been turned into a 501.
var errTunnelRefused = errors.New("router: extended CONNECT answered 2xx or 101 by a handler that did not accept it (router.AcceptExtendedConnect); sent 501 instead")

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

// serveTunnel has h, a GET route's handler (or the router's NotFound),
// serve the extended CONNECT req through a tunnelGuard; a handler that
// returns without answering would have the engine send 200, so the guard
// answers for it. A request that a router further out guards already (a
// router on another's GET route) shares that guard's claim, so that an
// accept by the handler reaches both; and where w is that guard, or
// wraps it, it is not guarded twice.
func serveTunnel(h http.Handler, w http.ResponseWriter, req *http.Request) {
	c, ok := req.Context().Value(tunnelKey{}).(*tunnelClaim)
	if ok && guarded(w, c) {
		h.ServeHTTP(w, req)
		return
	}
	if !ok {
		c = new(tunnelClaim)
		req = req.WithContext(context.WithValue(req.Context(), tunnelKey{}, c))
	}
	g := &tunnelGuard{ResponseWriter: w, claim: c, path: req.URL.Path, ctx: req.Context()}
	h.ServeHTTP(g, req)
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	if g.refused {
		// A header map the handler took before the refusal still
		// reaches the response: no trailer of its may follow the 501.
		h := g.ResponseWriter.Header()
		for k := range h {
			if strings.HasPrefix(k, http.TrailerPrefix) {
				delete(h, k)
			}
		}
	}
}

// guarded reports whether w is, or wraps, a tunnelGuard of claim c.
func guarded(w http.ResponseWriter, c *tunnelClaim) bool {
	for w != nil {
		if g, ok := w.(*tunnelGuard); ok && g.claim == c {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
	return false
}

// tunnelGuard is the writer of an extended CONNECT served by a GET route.
// Besides Flush, it has the optional methods molt's engines' writers
// have (FlushError, CloseNotify, WriteString) and Unwrap for
// http.ResponseController and the server package's 1xx helpers.
type tunnelGuard struct {
	http.ResponseWriter
	claim   *tunnelClaim
	path    string
	ctx     context.Context // the request's, for CloseNotify
	wrote   bool            // the final status went out (or was replaced)
	refused bool            // it opened the tunnel without the right to: 501 went instead
	spare   http.Header     // what Header returns once refused
}

// opensTunnel reports whether a final status code would tell the client
// that its tunnel is open: a 2xx, or a 101, which a handler written for
// HTTP/1.1's Upgrade sends (HTTP/2 has no 101, RFC 9113 section 8.6).
func opensTunnel(code int) bool {
	return code == http.StatusSwitchingProtocols || code >= 200 && code <= 299
}

// Header returns the response's header; once the answer is refused, a
// map of its own that goes nowhere (so that no trailer the handler
// declares follows the 501).
func (g *tunnelGuard) Header() http.Header {
	if g.refused {
		if g.spare == nil {
			g.spare = make(http.Header)
		}
		return g.spare
	}
	return g.ResponseWriter.Header()
}

func (g *tunnelGuard) WriteHeader(code int) {
	if g.wrote {
		if !g.refused {
			g.ResponseWriter.WriteHeader(code) // the engine logs the superfluous call
		}
		return
	}
	if code >= 200 || code == http.StatusSwitchingProtocols {
		g.wrote = true
	}
	if !opensTunnel(code) || g.claim.accepted {
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
	io.WriteString(g.ResponseWriter, "501 not implemented: "+g.path+" does not accept an extended CONNECT\n")
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

// WriteString is Write for a string, passed on as io.WriteString would.
func (g *tunnelGuard) WriteString(s string) (int, error) {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	if g.refused {
		return 0, errTunnelRefused
	}
	return io.WriteString(g.ResponseWriter, s)
}

// Flush flushes the response, which commits a 200 when nothing was
// written, as net/http's does.
func (g *tunnelGuard) Flush() { g.FlushError() }

// FlushError is Flush with the error of the writer underneath.
func (g *tunnelGuard) FlushError() error {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(g.ResponseWriter).Flush()
}

// CloseNotify is the deprecated http.CloseNotifier of the writer
// underneath, or one fed by the request's context.
func (g *tunnelGuard) CloseNotify() <-chan bool {
	if cn, ok := g.ResponseWriter.(http.CloseNotifier); ok {
		return cn.CloseNotify()
	}
	ch := make(chan bool, 1)
	context.AfterFunc(g.ctx, func() { ch <- true })
	return ch
}

// Unwrap gives http.ResponseController and the server package the writer
// underneath (which, once the answer is refused, has sent the 501).
func (g *tunnelGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }
