package middleware

import (
	"fmt"
	"net/http"
)

// CrossOriginOptions configures CrossOrigin. The zero value refuses every
// cross-origin browser request that is not a safe method, and trusts no
// origin.
type CrossOriginOptions struct {
	// TrustedOrigins are origins ("scheme://host[:port]", as browsers
	// send them in Origin) whose requests are allowed even when they are
	// cross-origin, such as a front end served from another host. A
	// request must match one exactly. Default: none.
	TrustedOrigins []string

	// InsecureBypassPatterns are http.ServeMux patterns ("POST
	// /webhooks/", "/oauth/callback") whose requests are never checked:
	// endpoints that other sites are meant to post to. Only requests that
	// match a pattern directly are let through, not those ServeMux would
	// redirect to it. Default: none.
	InsecureBypassPatterns []string

	// Handler answers a refused request. Default: 403 Forbidden with a
	// short text naming the reason.
	Handler http.Handler
}

// CrossOrigin is a middleware that protects against cross-site request
// forgery (CSRF) with net/http's CrossOriginProtection: it refuses
// requests that a browser sends from another origin with a method that is
// not safe, so that no other site can make a user's browser post a form,
// or call an API with the user's cookies. It needs no tokens in forms.
//
// GET, HEAD and OPTIONS are always allowed, and so are CONNECT requests:
// a browser sends CONNECT only as the handshake of a WebSocket over HTTP/2
// (RFC 8441), which is thereby treated like the GET handshake it replaces
// over HTTP/1.1; the websocket package's own Origin check guards both.
// Handlers must not change state on those methods. Any other request is
// judged by Sec-Fetch-Site, which every browser has sent since 2023:
// "same-origin" and "none" (the user typed the URL) pass, and anything
// else ("cross-site", and also "same-site": a sibling subdomain is another
// origin) is refused, unless the request's Origin is one of
// TrustedOrigins or the request matches one of InsecureBypassPatterns.
// Without Sec-Fetch-Site, a request whose Origin names another host than
// r.Host is refused alike, and a request with neither field (not from a
// browser, or from a browser so old that it sends no Origin either) is
// allowed. Behind a proxy that changes Host, put ProxyHeaders first, so
// that r.Host is the host the browser asked for.
//
// CrossOrigin works alike on every protocol. It panics, with a message
// that starts with "middleware: CrossOrigin:", if a trusted origin is not
// of the form scheme://host[:port], or a bypass pattern is invalid or
// conflicts with another.
func CrossOrigin(o CrossOriginOptions) func(http.Handler) http.Handler {
	c := http.NewCrossOriginProtection()
	for _, origin := range o.TrustedOrigins {
		if err := c.AddTrustedOrigin(origin); err != nil {
			panic("middleware: CrossOrigin: " + err.Error())
		}
	}
	for _, p := range o.InsecureBypassPatterns {
		addBypassPattern(c, p)
	}
	deny := o.Handler
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodConnect {
				if err := c.Check(r); err != nil {
					if deny != nil {
						deny.ServeHTTP(w, r)
					} else {
						http.Error(w, "403 forbidden: "+err.Error(), http.StatusForbidden)
					}
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// addBypassPattern adds p to c, turning AddInsecureBypassPattern's panic
// into one that names CrossOrigin.
func addBypassPattern(c *http.CrossOriginProtection, p string) {
	defer func() {
		if v := recover(); v != nil {
			panic(fmt.Sprintf("middleware: CrossOrigin: bypass pattern %q: %v", p, v))
		}
	}()
	c.AddInsecureBypassPattern(p)
}
