package middleware

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// TrustedProxies says which peers of a connection are proxies trusted to
// say, in a forwarding header, whom they forward for. The zero value
// trusts none. ClientIP and ProxyHeaders take one, so that one list
// serves every middleware that believes what proxies say.
type TrustedProxies struct {
	// Prefixes are the networks of the trusted proxies, such as
	// netip.MustParsePrefix("10.0.0.0/8"); one proxy is a /32 or a /128.
	// IPv4 prefixes also match IPv4-mapped IPv6 addresses.
	Prefixes []netip.Prefix

	// Unix trusts a peer on a Unix domain socket: a proxy on the same
	// host that reaches the server through a socket file (nginx's
	// proxy_pass http://unix:/run/app.sock, say).
	Unix bool
}

// isZero reports whether t trusts no proxy.
func (t TrustedProxies) isZero() bool { return len(t.Prefixes) == 0 && !t.Unix }

// trustSet is TrustedProxies checked and normalised: prefixes masked, and
// IPv4-mapped prefixes unmapped.
type trustSet struct {
	prefixes []netip.Prefix
	unix     bool
}

// compile checks t and returns it normalised; it panics, naming the
// middleware mw, if a prefix is invalid.
func (t TrustedProxies) compile(mw string) trustSet {
	s := trustSet{unix: t.Unix}
	for _, p := range t.Prefixes {
		if !p.IsValid() {
			panic(fmt.Sprintf("middleware: %s: invalid trusted proxy prefix %v", mw, p))
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		s.prefixes = append(s.prefixes, p.Masked())
	}
	return s
}

// contains reports whether a is in one of the trusted networks.
func (s *trustSet) contains(a netip.Addr) bool {
	a = a.WithZone("")
	for _, p := range s.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peer returns the IP address of the peer of a request, given its
// RemoteAddr (the zero Addr for a Unix socket or anything else that is
// not an IP address), and whether that peer is a trusted proxy.
func (s *trustSet) peer(remoteAddr string) (addr netip.Addr, trusted bool) {
	if isUnixRemoteAddr(remoteAddr) {
		return netip.Addr{}, s.unix
	}
	a := parseRemoteAddr(remoteAddr)
	return a, a.IsValid() && s.contains(a)
}

// isUnixRemoteAddr reports whether a RemoteAddr is that of a Unix socket
// peer: net/http reports an unnamed one as "@", a named one by its path.
func isUnixRemoteAddr(s string) bool {
	return s != "" && (s[0] == '@' || s[0] == '/')
}

// ClientIPOptions configures ClientIP. The zero value trusts no proxy: the
// client is the peer of the connection, and forwarding headers are
// ignored. To read a forwarding header, name it in Header and name the
// proxies that set it in TrustedProxies; one without the other is an
// error.
type ClientIPOptions struct {
	// Header names the forwarding header that the trusted proxies set:
	// "Forwarded" (RFC 7239), "X-Forwarded-For", or another field holding
	// a comma-separated list of addresses, such as "X-Real-Ip" or
	// "CF-Connecting-IP". Only that field is read. Default "": none.
	//
	// Name the field your proxies write, not just one they pass on: a
	// proxy that appends to X-Forwarded-For (nginx, AWS ALB,
	// httputil.ReverseProxy) passes a client's own Forwarded or X-Real-Ip
	// field through unchanged.
	Header string

	// TrustedProxies are the proxies trusted to set Header. Only a peer
	// among them is believed when it says whom it forwards for. Default:
	// none.
	TrustedProxies TrustedProxies
}

// ClientIP finds the address of the client that sent the request, for
// middleware and handlers after it (see ClientIPFrom and ClientAddrFrom), and
// for Logger.
//
// By default the client is the peer of the connection (r.RemoteAddr) and
// no header is read. With Header and TrustedProxies set, a request whose
// peer is a trusted proxy is judged by Header: the field is walked from
// the right, the hop nearest to the server first. Each entry is the
// address that the proxy before it saw, and the walk goes on only while
// that address is itself a trusted proxy. The first untrusted address is
// the client; if every address is trusted, the leftmost one is. An entry
// that is not an address (garbage, an IPv6 zone, and in Forwarded an
// element without exactly one for=, an obfuscated identifier such as
// "_hidden", or "unknown") stops the walk, and the client is the last
// address reached: the peer, or the trusted proxy that wrote the entry.
// A Forwarded field that breaks the syntax is read split at every comma,
// each part an element that counts as "unknown" if it breaks, so that
// the element a proxy appends to a client's malformed field on the same
// line is still read. So nothing that a client writes in a header can
// place it anywhere but where an untrusted hop is. A peer that is not a
// trusted proxy is the client, whatever the request's headers say.
//
// Several fields of the header count as one list, in order (RFC 9110
// section 5.3). Empty list elements are skipped. Addresses are reported
// with IPv4-mapped IPv6 addresses unmapped; the port, if any, is dropped.
//
// ClientIP does not change r.RemoteAddr. It works alike on every protocol.
// ClientIP panics if a trusted prefix is invalid, Header is not a valid
// field name, or one of Header and TrustedProxies is set without the
// other.
func ClientIP(o ClientIPOptions) func(http.Handler) http.Handler {
	c := &clientIPConfig{trust: o.TrustedProxies.compile("ClientIP")}
	switch h := http.CanonicalHeaderKey(o.Header); {
	case !httpguts.ValidHeaderFieldName(h) && h != "":
		panic(fmt.Sprintf("middleware: ClientIP: invalid header name %q", o.Header))
	case h == "" && !o.TrustedProxies.isZero():
		panic("middleware: ClientIP: TrustedProxies without a Header: name the forwarding header the proxies set")
	case h != "" && o.TrustedProxies.isZero():
		panic(fmt.Sprintf("middleware: ClientIP: Header %q without TrustedProxies: name the proxies trusted to set it", o.Header))
	case h == "Forwarded":
		c.forwarded = true
	default:
		c.list = h
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, info := withInfo(r)
			info.clientIP = c.clientIP(r)
			next.ServeHTTP(w, r)
		})
	}
}

// ClientIPFrom returns the client's address that ClientIP (or
// ProxyHeaders) found for the request whose context is ctx; ok is false
// if neither ran or found no IP address: r.RemoteAddr held none (a Unix
// socket, say) and no trusted forwarding header named one.
func ClientIPFrom(ctx context.Context) (addr netip.Addr, ok bool) {
	if info := infoFrom(ctx); info != nil && info.clientIP.IsValid() {
		return info.clientIP, true
	}
	return netip.Addr{}, false
}

// ClientAddrFrom returns the client's address of r: the one ClientIP (or
// ProxyHeaders) found, or else the host of r.RemoteAddr, or the zero Addr
// if that is not an IP address either.
//
// The accessors of this package are all named XxxFrom: those that take a
// context report what a middleware recorded (RequestIDFrom, ClientIPFrom,
// BasicAuthUserFrom); those that take the request fall back to what the
// request itself says (ClientAddrFrom, SchemeFrom).
func ClientAddrFrom(r *http.Request) netip.Addr {
	if a, ok := ClientIPFrom(r.Context()); ok {
		return a
	}
	return parseRemoteAddr(r.RemoteAddr)
}

// ClientAddr returns ClientAddrFrom(r).
//
// Deprecated: use ClientAddrFrom, named like the other accessors.
func ClientAddr(r *http.Request) netip.Addr { return ClientAddrFrom(r) }

// clientIPConfig is ClientIPOptions resolved.
type clientIPConfig struct {
	trust     trustSet
	forwarded bool   // read Forwarded
	list      string // else read this list field (canonical name), if not ""
}

// clientIP returns the client's address of r, or the zero Addr if there
// is none: r.RemoteAddr is not an IP address (a Unix socket, say) and no
// trusted header named one.
func (c *clientIPConfig) clientIP(r *http.Request) netip.Addr {
	peer, trusted := c.trust.peer(r.RemoteAddr)
	if !trusted {
		return peer
	}
	walk := hopWalk{trust: &c.trust}
	if c.forwarded {
		walk.forwarded(r.Header["Forwarded"])
	} else {
		walk.list(r.Header[c.list])
	}
	return walk.result(peer)
}

// parseRemoteAddr returns the IP address of a RemoteAddr ("ip:port", or a
// bare ip), unmapped, or the zero Addr.
func parseRemoteAddr(s string) netip.Addr {
	if s == "" || isUnixRemoteAddr(s) {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// hopWalk finds the client in a list of hops read from left to right,
// with the answer of the walk from the right (see ClientIP) and without
// storing the list. The answer depends only on the rightmost hop that
// stops the walk, invalid or untrusted, and the hops after it.
//
// For ProxyHeaders, a walk over Forwarded also keeps the proto and host
// of the element that ends it: the rightmost stopping one, or the leftmost
// if none stops it. That element was written by a trusted proxy, the one
// that received the request from the client (or from a hop it could not
// name), so its proto and host are what the client asked for.
type hopWalk struct {
	trust *trustSet
	n     int        // hops seen
	first netip.Addr // the leftmost hop
	stop  int        // the rightmost stopping hop so far: hopStopNone, hopStopInvalid or hopStopUntrusted
	addr  netip.Addr // for hopStopUntrusted that hop; for hopStopInvalid the hop after it, if any

	proto, host           string // of the rightmost stopping element
	firstProto, firstHost string // of the leftmost element
}

const (
	hopStopNone = iota
	hopStopInvalid
	hopStopUntrusted
)

// hop records the next hop; an invalid Addr is a hop that is not an
// address.
func (w *hopWalk) hop(a netip.Addr) { w.element(a, "", "") }

// element records the next hop with the proto and host of its Forwarded
// element ("" for none).
func (w *hopWalk) element(a netip.Addr, proto, host string) {
	switch {
	case !a.IsValid():
		w.stop, w.addr = hopStopInvalid, netip.Addr{}
		w.proto, w.host = proto, host
	case !w.trust.contains(a):
		w.stop, w.addr = hopStopUntrusted, a
		w.proto, w.host = proto, host
	case w.stop == hopStopInvalid && !w.addr.IsValid():
		w.addr = a
	}
	if w.n == 0 {
		w.first = a
		w.firstProto, w.firstHost = proto, host
	}
	w.n++
}

// meta returns the proto and host of the element that ends the walk (see
// hopWalk), "" where it had none.
func (w *hopWalk) meta() (proto, host string) {
	switch {
	case w.stop != hopStopNone:
		return w.proto, w.host
	case w.n > 0:
		return w.firstProto, w.firstHost
	}
	return "", ""
}

// result returns the client, given the peer that sent the list.
func (w *hopWalk) result(peer netip.Addr) netip.Addr {
	switch {
	case w.stop != hopStopNone && w.addr.IsValid():
		return w.addr
	case w.stop != hopStopNone || w.n == 0:
		return peer // the hop next to the server is not an address
	}
	return w.first
}

// list walks fields such as X-Forwarded-For: comma-separated addresses,
// each optionally with a port ("192.0.2.1", "192.0.2.1:4711", "2001:db8::1",
// "[2001:db8::1]:4711").
func (w *hopWalk) list(fields []string) {
	for _, v := range fields {
		for len(v) > 0 {
			var e string
			if i := strings.IndexByte(v, ','); i >= 0 {
				e, v = v[:i], v[i+1:]
			} else {
				e, v = v, ""
			}
			if e = strings.Trim(e, " \t"); e != "" {
				w.hop(parseHopAddr(e))
			}
		}
	}
}

// parseHopAddr parses an address with an optional port, or returns the
// zero Addr. Zones are refused: they mean nothing beyond one host.
func parseHopAddr(s string) netip.Addr {
	var a netip.Addr
	if s[0] == '[' || strings.Count(s, ":") == 1 {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	} else {
		var err error
		if a, err = netip.ParseAddr(s); err != nil {
			return netip.Addr{}
		}
	}
	if a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}

// forwarded walks Forwarded fields (RFC 7239 section 4): elements
// separated by commas, each of pairs separated by semicolons, each pair
// token=token or token=quoted-string. The node of each element's for=
// is the hop.
//
// A field that breaks the syntax is read again from its start, split at
// every comma, quotes or not: then each part is an element on its own,
// and a part that breaks counts as one invalid hop. A proxy that appends
// its element to the client's field on the same line writes no comma
// inside quotes, so its element is read, whatever the client wrote before
// it: a client's stray quote cannot swallow it, nor pair with its quotes.
// Each field is parsed at most twice.
func (w *hopWalk) forwarded(fields []string) {
	for _, v := range fields {
		saved := *w
		if !w.forwardedField(v, false) {
			*w = saved
			w.forwardedField(v, true)
		}
	}
}

// forwardedField walks one Forwarded field. With split false it stops at
// the first syntax error and returns false, having recorded the elements
// before it; with split true every comma ends an element, a part that
// breaks is one invalid hop, and it returns true.
func (w *hopWalk) forwardedField(v string, split bool) bool {
	i := 0
	for {
		var (
			node        string
			nFor        int
			pairs       int
			usable      = true // node needs no unescaping
			proto, host string // "" unless given once, without escapes
			nProto      int
			nHost       int
			broken      bool
		)
		for {
			i = fwdSkipOWS(v, i)
			if i < len(v) && v[i] == ';' {
				i++
				continue
			}
			if i == len(v) || v[i] == ',' {
				break
			}
			start := i
			for i < len(v) && fwdTokenChar(v[i]) {
				i++
			}
			name := v[start:i]
			if name == "" || i == len(v) || v[i] != '=' {
				broken = true
				break
			}
			i++
			var val string
			escaped := false
			if i < len(v) && v[i] == '"' {
				i++
				start = i
				for i < len(v) && v[i] != '"' && !(split && v[i] == ',') {
					if v[i] == '\\' {
						escaped = true
						if i++; split && i < len(v) && v[i] == ',' {
							break
						}
					}
					i++
				}
				if i >= len(v) || v[i] != '"' {
					broken = true // unterminated quoted-string
					break
				}
				val = v[start:i]
				i++
			} else {
				start = i
				for i < len(v) && !strings.ContainsRune(",; \t\"", rune(v[i])) {
					i++
				}
				val = v[start:i]
			}
			pairs++
			switch {
			case strings.EqualFold(name, "for"):
				nFor++
				node, usable = val, !escaped
			case strings.EqualFold(name, "proto"):
				if nProto++; !escaped {
					proto = val
				}
			case strings.EqualFold(name, "host"):
				if nHost++; !escaped {
					host = val
				}
			}
			i = fwdSkipOWS(v, i)
			if i < len(v) && v[i] != ';' && v[i] != ',' {
				broken = true
				break
			}
		}
		switch {
		case broken && !split:
			return false
		case broken:
			w.hop(netip.Addr{})
			// The part ends at the next comma: a split read never
			// passes one, so i is not beyond it.
			j := strings.IndexByte(v[min(i, len(v)):], ',')
			if j < 0 {
				return true
			}
			i += j
		case pairs > 0: // an empty element is skipped
			if nProto != 1 {
				proto = ""
			}
			if nHost != 1 {
				host = ""
			}
			a := netip.Addr{}
			if nFor == 1 && usable {
				a = parseForwardedNode(node)
			}
			w.element(a, proto, host)
		}
		if i >= len(v) {
			return true
		}
		i++ // the comma
	}
}

// parseForwardedNode parses a Forwarded node (RFC 7239 section 6): an IPv4
// address or a bracketed IPv6 address, with an optional port, which may be
// obfuscated. "unknown", obfuscated identifiers ("_hidden") and anything
// else give the zero Addr. An unbracketed IPv6 address without a port is
// accepted as well.
func parseForwardedNode(s string) netip.Addr {
	if s == "" || s[0] == '_' || strings.EqualFold(s, "unknown") {
		return netip.Addr{}
	}
	var host, port string
	hasPort := false
	if s[0] == '[' {
		j := strings.IndexByte(s, ']')
		if j < 0 {
			return netip.Addr{}
		}
		host = s[1:j]
		switch rest := s[j+1:]; {
		case rest == "":
		case rest[0] == ':':
			port, hasPort = rest[1:], true
		default:
			return netip.Addr{}
		}
		if strings.IndexByte(host, ':') < 0 { // brackets hold IPv6 only
			return netip.Addr{}
		}
	} else {
		switch strings.Count(s, ":") {
		case 0:
			host = s
		case 1:
			i := strings.IndexByte(s, ':')
			host, port, hasPort = s[:i], s[i+1:], true
			if strings.IndexByte(host, '.') < 0 {
				return netip.Addr{}
			}
		default:
			host = s
		}
	}
	if hasPort && !validForwardedPort(port) {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}

// validForwardedPort reports whether s is 1 to 5 digits or an obfuscated
// port ("_" and letters, digits, ".", "_", "-").
func validForwardedPort(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '_' {
		for i := 1; i < len(s); i++ {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return len(s) > 1
	}
	if len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func fwdSkipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

func fwdTokenChar(c byte) bool {
	return c < 0x80 && httpguts.IsTokenRune(rune(c))
}
