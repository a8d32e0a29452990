package middleware

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ProxyHeadersOptions configures ProxyHeaders. Both fields are required:
// ProxyHeaders believes only the proxies it is told to trust, and reads
// only the header they set.
type ProxyHeadersOptions struct {
	// Header names what the trusted proxies set: "Forwarded" (RFC 7239:
	// for=, proto= and host= of one element), or "X-Forwarded-For"
	// (together with X-Forwarded-Proto and X-Forwarded-Host). Only those
	// fields are read.
	Header string

	// TrustedProxies are the proxies trusted to set Header; the same
	// value that ClientIP takes.
	TrustedProxies TrustedProxies
}

// ProxyHeaders is a middleware for servers behind reverse proxies: it
// takes the client's address, the scheme the client used (http or
// https) and the host it asked for from the header the proxies set, when
// the peer of the connection is one of them, like gorilla's
// handlers.ProxyHeaders and chi's RealIP, but believing only trusted
// proxies.
//
// The client is found exactly as ClientIP finds it with the same options,
// by the walk from the right that stops at the first untrusted hop, and
// is what ClientIPFrom and ClientAddrFrom report after it, and what
// Logger and RateLimit see; use ProxyHeaders or ClientIP, not both.
// r.RemoteAddr stays the peer.
//
// With Forwarded, the scheme and host are the proto= and host= of the
// element that names the client (or, when the walk stops at an element
// whose for= is "unknown" or obfuscated, of that element): the one the
// proxy that faced the client wrote. With X-Forwarded-For, they are the
// last values of X-Forwarded-Proto and X-Forwarded-Host, the ones the
// nearest proxy set; so proxies must set these fields, as nginx's
// proxy_set_header, httputil.ProxyRequest.SetXForwarded and the cloud load
// balancers do, not append to what the client sent. A scheme other than
// http or https is ignored, and so is a host that is not a valid host
// name or IP address with an optional port: no path, no user info, no
// spaces.
//
// The host found replaces r.Host, so that handlers, the router and
// CrossOrigin see the host the browser asked for; the request is copied,
// not changed. The scheme is what SchemeFrom reports, and what Secure
// goes by to send Strict-Transport-Security; r.URL is left as it is, and
// r.TLS stays nil: the connection to this server was not encrypted.
//
// When the peer is not a trusted proxy nothing is taken from the
// request's headers, whatever they say. ProxyHeaders works alike on every
// protocol. It panics if Header is not "Forwarded" or "X-Forwarded-For",
// TrustedProxies trusts nobody, or a trusted prefix is invalid.
func ProxyHeaders(o ProxyHeadersOptions) func(http.Handler) http.Handler {
	c := &clientIPConfig{trust: o.TrustedProxies.compile("ProxyHeaders")}
	switch h := http.CanonicalHeaderKey(o.Header); h {
	case "Forwarded":
		c.forwarded = true
	case "X-Forwarded-For":
		c.list = h
	default:
		panic(fmt.Sprintf(`middleware: ProxyHeaders: Header %q: want "Forwarded" or "X-Forwarded-For" (ClientIP reads other address fields)`, o.Header))
	}
	if o.TrustedProxies.isZero() {
		panic("middleware: ProxyHeaders: no TrustedProxies: name the proxies trusted to set " + o.Header)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, in *http.Request) {
			r, info := withInfo(in)
			peer, trusted := c.trust.peer(r.RemoteAddr)
			if !trusted {
				info.clientIP, info.scheme = peer, ""
				next.ServeHTTP(w, r)
				return
			}
			var proto, host string
			walk := hopWalk{trust: &c.trust}
			if c.forwarded {
				walk.forwarded(r.Header["Forwarded"])
				proto, host = walk.meta()
			} else {
				walk.list(r.Header["X-Forwarded-For"])
				proto = lastListElement(r.Header["X-Forwarded-Proto"])
				host = lastListElement(r.Header["X-Forwarded-Host"])
			}
			info.clientIP = walk.result(peer)
			switch {
			case strings.EqualFold(proto, "https"):
				info.scheme = "https"
			case strings.EqualFold(proto, "http"):
				info.scheme = "http"
			default:
				info.scheme = ""
			}
			if host != "" && host != r.Host && validForwardedHost(host) {
				if r == in { // withInfo made no copy: make one
					r = new(http.Request)
					*r = *in
				}
				r.Host = host
			}
			next.ServeHTTP(w, r)
		})
	}
}

// SchemeFrom returns the scheme by which the client sent r: "https" if r
// came on a TLS connection or ProxyHeaders found that a trusted proxy
// received it over HTTPS, else "http". A scheme in r.URL (a client may
// send an absolute URL) does not count.
func SchemeFrom(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if info := infoFrom(r.Context()); info != nil && info.scheme == "https" {
		return "https"
	}
	return "http"
}

// lastListElement returns the last non-empty element of a comma-separated
// list spread over fields, trimmed, or "".
func lastListElement(fields []string) string {
	for i := len(fields) - 1; i >= 0; i-- {
		v := fields[i]
		for v != "" {
			var e string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				v, e = v[:j], v[j+1:]
			} else {
				v, e = "", v
			}
			if e = strings.Trim(e, " \t"); e != "" {
				return e
			}
		}
	}
	return ""
}

// validForwardedHost reports whether s is a host for r.Host: a DNS name
// (letters, digits, '-', '.', '_'), an IPv4 address, or an IPv6 address in
// brackets, with an optional port (at most 65535), 255 bytes at most.
func validForwardedHost(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	host, port := s, ""
	if s[0] == '[' {
		j := strings.IndexByte(s, ']')
		if j < 0 {
			return false
		}
		a, err := netip.ParseAddr(s[1:j])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return false
		}
		switch rest := s[j+1:]; {
		case rest == "":
			return true
		case rest[0] != ':':
			return false
		default:
			return validPort(rest[1:])
		}
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if !validPort(port) {
			return false
		}
	}
	if host == "" || host[0] == '.' || host[0] == '-' {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// validPort reports whether s is 1 to 5 digits, at most 65535.
func validPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n <= 65535
}
