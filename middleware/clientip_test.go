package middleware_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
	"github.com/molt-http/molt/server"
)

func prefixes(ss ...string) []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range ss {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}

// clientIPOf runs ClientIP with opts on a request from remoteAddr with the
// given header fields, and returns what ClientIPFrom reports ("" for not
// ok).
func clientIPOf(t *testing.T, opts middleware.ClientIPOptions, remoteAddr string, header http.Header) string {
	t.Helper()
	var got string
	h := middleware.ClientIP(opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := middleware.ClientIPFrom(r.Context())
		if ok {
			got = a.String()
		}
		if c := middleware.ClientAddrFrom(r); c != a {
			t.Errorf("ClientAddrFrom %v, ClientIPFrom %v", c, a)
		}
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = remoteAddr
	req.Header = header
	h.ServeHTTP(httptest.NewRecorder(), req)
	return got
}

func TestClientIP(t *testing.T) {
	proxies := middleware.TrustedProxies{Prefixes: prefixes("10.0.0.0/8", "2001:db8:ffff::/48")}
	viaXFF := middleware.ClientIPOptions{Header: "X-Forwarded-For", TrustedProxies: proxies}
	viaFwd := middleware.ClientIPOptions{Header: "Forwarded", TrustedProxies: proxies}
	viaUnix := middleware.ClientIPOptions{Header: "X-Forwarded-For", TrustedProxies: middleware.TrustedProxies{Unix: true, Prefixes: prefixes("10.0.0.0/8")}}
	viaXFFFrom := func(ss ...string) middleware.ClientIPOptions {
		return middleware.ClientIPOptions{Header: "X-Forwarded-For", TrustedProxies: middleware.TrustedProxies{Prefixes: prefixes(ss...)}}
	}
	const proxy = "10.0.0.1:5555"
	xff := func(vs ...string) http.Header { return http.Header{"X-Forwarded-For": vs} }
	fwd := func(vs ...string) http.Header { return http.Header{"Forwarded": vs} }
	tests := []struct {
		name   string
		opts   middleware.ClientIPOptions
		remote string
		header http.Header
		want   string
	}{
		// Nobody trusted: the peer, whatever the headers say.
		{"no proxies", middleware.ClientIPOptions{}, "192.0.2.7:1234", nil, "192.0.2.7"},
		{"forged XFF, nobody trusted", middleware.ClientIPOptions{}, "192.0.2.7:1234", xff("203.0.113.5"), "192.0.2.7"},
		{"forged Forwarded, nobody trusted", middleware.ClientIPOptions{}, "192.0.2.7:1234", fwd("for=203.0.113.5"), "192.0.2.7"},
		{"forged XFF, untrusted peer", viaXFF, "192.0.2.7:1234", xff("203.0.113.5, 10.0.0.2"), "192.0.2.7"},
		{"forged X-Real-Ip, untrusted peer", middleware.ClientIPOptions{Header: "X-Real-Ip", TrustedProxies: proxies}, "192.0.2.7:1234", http.Header{"X-Real-Ip": {"203.0.113.5"}}, "192.0.2.7"},
		{"IPv6 peer", middleware.ClientIPOptions{}, "[2001:db8::7]:443", nil, "2001:db8::7"},
		{"IPv4-mapped peer", middleware.ClientIPOptions{}, "[::ffff:192.0.2.7]:443", nil, "192.0.2.7"},
		{"peer without port", middleware.ClientIPOptions{}, "192.0.2.7", nil, "192.0.2.7"},
		{"unix socket peer", viaXFF, "@", xff("203.0.113.5"), ""},
		{"empty peer", viaXFF, "", xff("203.0.113.5"), ""},

		// X-Forwarded-For from a trusted proxy.
		{"trusted proxy, no header", viaXFF, proxy, nil, "10.0.0.1"},
		{"one hop", viaXFF, proxy, xff("203.0.113.5"), "203.0.113.5"},
		{"chain of proxies", viaXFF, proxy, xff("203.0.113.5, 10.0.0.2, 10.0.0.3"), "203.0.113.5"},
		{"client prepends a forgery", viaXFF, proxy, xff("6.6.6.6, 203.0.113.5, 10.0.0.2"), "203.0.113.5"},
		{"all trusted: the leftmost", viaXFF, proxy, xff("10.0.0.9, 10.0.0.2"), "10.0.0.9"},
		{"garbage nearest: the peer", viaXFF, proxy, xff("203.0.113.5, garbage"), "10.0.0.1"},
		{"garbage after a trusted hop", viaXFF, proxy, xff("6.6.6.6, garbage, 10.0.0.2"), "10.0.0.2"},
		{"garbage beyond the client", viaXFF, proxy, xff("garbage, 203.0.113.5"), "203.0.113.5"},
		{"port", viaXFF, proxy, xff("203.0.113.5:4711"), "203.0.113.5"},
		{"IPv6", viaXFF, proxy, xff("2001:db8::1"), "2001:db8::1"},
		{"IPv6 with port", viaXFF, proxy, xff("[2001:db8::1]:4711"), "2001:db8::1"},
		{"IPv6 trusted hop", viaXFF, proxy, xff("203.0.113.5, 2001:db8:ffff::2"), "203.0.113.5"},
		{"IPv4-mapped hop", viaXFF, proxy, xff("::ffff:203.0.113.5"), "203.0.113.5"},
		{"IPv4-mapped trusted hop", viaXFF, proxy, xff("203.0.113.5, ::ffff:10.0.0.2"), "203.0.113.5"},
		{"zone", viaXFF, proxy, xff("fe80::1%eth0"), "10.0.0.1"},
		{"zone hides nothing beyond it", viaXFF, proxy, xff("6.6.6.6, fe80::1%eth0"), "10.0.0.1"},
		{"bad port", viaXFF, proxy, xff("203.0.113.5:99999"), "10.0.0.1"},
		{"unbracketed IPv6 with port", viaXFF, proxy, xff("2001:db8::1:4711:1:1:1:1:1"), "10.0.0.1"},
		{"empty elements", viaXFF, proxy, xff(" 203.0.113.5 ,, 10.0.0.2 ,"), "203.0.113.5"},
		{"empty field", viaXFF, proxy, xff(""), "10.0.0.1"},
		{"several fields", viaXFF, proxy, xff("6.6.6.6, 203.0.113.5", "10.0.0.2"), "203.0.113.5"},
		{"several fields, client in the last", viaXFF, proxy, xff("6.6.6.6", "203.0.113.5, 10.0.0.2"), "203.0.113.5"},
		{"huge list", viaXFF, proxy, xff(strings.Repeat("6.6.6.6, ", 10000) + "203.0.113.5"), "203.0.113.5"},

		// Forwarded (RFC 7239) from a trusted proxy.
		{"Forwarded", viaFwd, proxy, fwd("for=203.0.113.5"), "203.0.113.5"},
		{"Forwarded with other pairs", viaFwd, proxy, fwd("for=192.0.2.60;proto=http;by=203.0.113.43"), "192.0.2.60"},
		{"Forwarded pair order and case", viaFwd, proxy, fwd("Proto=https; FOR=192.0.2.60"), "192.0.2.60"},
		{"Forwarded quoted IPv6 with port", viaFwd, proxy, fwd(`for="[2001:db8:cafe::17]:4711"`), "2001:db8:cafe::17"},
		{"Forwarded quoted IPv6", viaFwd, proxy, fwd(`for="[2001:db8:cafe::17]"`), "2001:db8:cafe::17"},
		{"Forwarded quoted IPv4 with port", viaFwd, proxy, fwd(`for="192.0.2.43:47011"`), "192.0.2.43"},
		{"Forwarded obfuscated port", viaFwd, proxy, fwd(`for="192.0.2.43:_abc-1"`), "192.0.2.43"},
		{"Forwarded chain", viaFwd, proxy, fwd("for=198.51.100.17, for=10.0.0.2"), "198.51.100.17"},
		{"Forwarded chain across fields", viaFwd, proxy, fwd("for=6.6.6.6, for=198.51.100.17", "for=10.0.0.2;proto=https"), "198.51.100.17"},
		{"Forwarded obfuscated identifier", viaFwd, proxy, fwd(`for=_hidden`), "10.0.0.1"},
		{"Forwarded obfuscated behind a proxy", viaFwd, proxy, fwd(`for="_gazonk", for=10.0.0.2`), "10.0.0.2"},
		{"Forwarded unknown", viaFwd, proxy, fwd("for=unknown"), "10.0.0.1"},
		{"Forwarded unknown behind a proxy", viaFwd, proxy, fwd("for=unknown, for=10.0.0.2"), "10.0.0.2"},
		{"Forwarded unknown hides nothing beyond it", viaFwd, proxy, fwd("for=6.6.6.6, for=unknown, for=10.0.0.2"), "10.0.0.2"},
		{"Forwarded obfuscated hides nothing beyond it", viaFwd, proxy, fwd("for=6.6.6.6, for=_x"), "10.0.0.1"},
		{"Forwarded unknown beyond the client", viaFwd, proxy, fwd("for=unknown, for=203.0.113.5"), "203.0.113.5"},
		{"Forwarded two for", viaFwd, proxy, fwd("for=203.0.113.5;for=6.6.6.6"), "10.0.0.1"},
		{"Forwarded no for", viaFwd, proxy, fwd("proto=https;by=10.0.0.1"), "10.0.0.1"},
		{"Forwarded empty elements", viaFwd, proxy, fwd(" , for=203.0.113.5 ,; , "), "203.0.113.5"},
		{"Forwarded comma in quotes", viaFwd, proxy, fwd(`for="203.0.113.5, 10.0.0.2"`), "10.0.0.1"},
		{"Forwarded escape in quotes", viaFwd, proxy, fwd(`for="\203.0.113.5"`), "10.0.0.1"},
		{"Forwarded quoted pair with comma", viaFwd, proxy, fwd(`for=203.0.113.5;ext="a,b\"c;d", for=10.0.0.2`), "203.0.113.5"},
		{"Forwarded unterminated quote", viaFwd, proxy, fwd(`for=203.0.113.5, for="10.0.0.2`), "10.0.0.1"},
		{"Forwarded broken field, good field after", viaFwd, proxy, fwd(`for=6.6.6.6, for="x`, "for=203.0.113.5"), "203.0.113.5"},
		{"Forwarded broken field nearest", viaFwd, proxy, fwd("for=203.0.113.5", `for="x`), "10.0.0.1"},
		// A proxy that appends its element to the client's field on the
		// same line: whatever the client wrote before it, the proxy's
		// element is read, and the client cannot pass for the proxy.
		{"Forwarded client's garbage, proxy's element on the same line", viaFwd, proxy, fwd(`x, for=203.0.113.5`), "203.0.113.5"},
		{"Forwarded client's unterminated quote, proxy's element on the same line", viaFwd, proxy, fwd(`for="6.6.6.6, for=203.0.113.5`), "203.0.113.5"},
		{"Forwarded client's quote closed by the proxy's", viaFwd, proxy, fwd(`for=6.6.6.6;x=", for="[2001:db8::5]:4711"`), "2001:db8::5"},
		{"Forwarded client's escaped comma", viaFwd, proxy, fwd(`for="\, for=203.0.113.5`), "203.0.113.5"},
		{"Forwarded client's trailing escape", viaFwd, proxy, fwd(`a, for="\`), "10.0.0.1"},
		{"Forwarded broken element, good ones around it", viaFwd, proxy, fwd(`for=6.6.6.6, for=7.7.7.7;x"y, for=203.0.113.5, for=10.0.0.2`), "203.0.113.5"},
		{"Forwarded missing =", viaFwd, proxy, fwd("for 203.0.113.5"), "10.0.0.1"},
		{"Forwarded junk after quotes", viaFwd, proxy, fwd(`for="203.0.113.5"x`), "10.0.0.1"},
		{"Forwarded bracketed IPv4", viaFwd, proxy, fwd(`for="[192.0.2.43]"`), "10.0.0.1"},
		{"Forwarded bad port", viaFwd, proxy, fwd(`for="192.0.2.43:port"`), "10.0.0.1"},
		{"Forwarded IPv6 with zone", viaFwd, proxy, fwd(`for="[fe80::1%25eth0]"`), "10.0.0.1"},
		{"Forwarded IPv6 unbracketed", viaFwd, proxy, fwd(`for="2001:db8::1"`), "2001:db8::1"},
		{"Forwarded IPv6 junk after bracket", viaFwd, proxy, fwd(`for="[2001:db8::1]x"`), "10.0.0.1"},
		{"Forwarded empty value", viaFwd, proxy, fwd("for="), "10.0.0.1"},

		// Only the header named is read; nothing without one.
		{"default: no header read", middleware.ClientIPOptions{}, proxy, http.Header{"Forwarded": {"for=6.6.6.6"}, "X-Forwarded-For": {"6.6.6.6"}, "X-Real-Ip": {"6.6.6.6"}}, "10.0.0.1"},
		{"Header X-Forwarded-For ignores Forwarded", viaXFF, proxy, http.Header{"Forwarded": {"for=6.6.6.6"}, "X-Forwarded-For": {"203.0.113.5"}}, "203.0.113.5"},
		{"Header X-Forwarded-For ignores X-Real-Ip", viaXFF, proxy, http.Header{"X-Real-Ip": {"6.6.6.6"}}, "10.0.0.1"},
		{"Header Forwarded ignores X-Forwarded-For", viaFwd, proxy, xff("203.0.113.5"), "10.0.0.1"},
		{"Header in any case", middleware.ClientIPOptions{Header: "x-forwarded-for", TrustedProxies: proxies}, proxy, xff("203.0.113.5"), "203.0.113.5"},
		{"Header X-Real-Ip", middleware.ClientIPOptions{Header: "X-Real-Ip", TrustedProxies: proxies}, proxy, http.Header{"X-Real-Ip": {"203.0.113.5"}, "X-Forwarded-For": {"6.6.6.6"}}, "203.0.113.5"},

		// Prefixes are normalised.
		{"unmasked prefix", viaXFFFrom("10.1.2.3/8"), proxy, xff("203.0.113.5"), "203.0.113.5"},
		{"IPv4-mapped prefix", viaXFFFrom("::ffff:10.0.0.0/104"), proxy, xff("203.0.113.5"), "203.0.113.5"},
		{"IPv4-mapped peer, IPv4 prefix", viaXFF, "[::ffff:10.0.0.1]:5555", xff("203.0.113.5"), "203.0.113.5"},
		{"trusted zoned peer", viaXFFFrom("fe80::/10"), "[fe80::1%eth0]:80", xff("203.0.113.5"), "203.0.113.5"},

		// A proxy on a Unix socket is trusted only when Unix is set; it
		// is never a hop in the header.
		{"unix peer, Unix trusted", viaUnix, "@", xff("203.0.113.5"), "203.0.113.5"},
		{"unix path peer, Unix trusted", viaUnix, "/run/app.sock", xff("203.0.113.5, 10.0.0.2"), "203.0.113.5"},
		{"unix peer, Unix trusted, no header", viaUnix, "@", nil, ""},
		{"unix peer, Unix trusted, garbage", viaUnix, "@", xff("203.0.113.5, garbage"), ""},
		{"unix peer, Unix trusted, Forwarded", middleware.ClientIPOptions{Header: "Forwarded", TrustedProxies: middleware.TrustedProxies{Unix: true}}, "@", fwd("for=203.0.113.5"), "203.0.113.5"},
		{"unix peer, Unix not trusted", viaXFF, "@", xff("203.0.113.5"), ""},
		{"IP peer, only Unix trusted", middleware.ClientIPOptions{Header: "X-Forwarded-For", TrustedProxies: middleware.TrustedProxies{Unix: true}}, "10.0.0.1:5555", xff("203.0.113.5"), "10.0.0.1"},
		{"empty peer, Unix trusted", viaUnix, "", xff("203.0.113.5"), ""},
	}
	for _, tc := range tests {
		if got := clientIPOf(t, tc.opts, tc.remote, tc.header); got != tc.want {
			t.Errorf("%s: RemoteAddr %q, header %q: client %q, want %q", tc.name, tc.remote, tc.header, got, tc.want)
		}
	}
}

func TestClientAddrWithoutClientIP(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.7:1234":         "192.0.2.7",
		"[2001:db8::7]:1234":     "2001:db8::7",
		"[::ffff:192.0.2.7]:443": "192.0.2.7",
		"@":                      "invalid IP",
		"garbage":                "invalid IP",
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = remote
		req.Header.Set("X-Forwarded-For", "203.0.113.5")
		if got := middleware.ClientAddrFrom(req).String(); got != want {
			t.Errorf("RemoteAddr %q: ClientAddrFrom %q, want %q", remote, got, want)
		}
		if a, ok := middleware.ClientIPFrom(req.Context()); ok {
			t.Errorf("ClientIPFrom without ClientIP: %v, true", a)
		}
	}
}

// A header and the proxies trusted to set it come together: either alone
// is a mistake, refused when ClientIP is built rather than left to trust
// nothing (or, before, a header the proxies pass on unchanged).
func TestClientIPBadOptions(t *testing.T) {
	proxies := middleware.TrustedProxies{Prefixes: prefixes("10.0.0.0/8")}
	for _, o := range []middleware.ClientIPOptions{
		{Header: "X-Forwarded-For", TrustedProxies: middleware.TrustedProxies{Prefixes: []netip.Prefix{{}}}},
		{Header: "X Forwarded", TrustedProxies: proxies},
		{Header: "X-Forwarded-For:", TrustedProxies: proxies},
		{TrustedProxies: proxies},
		{TrustedProxies: middleware.TrustedProxies{Unix: true}},
		{Header: "X-Forwarded-For"},
		{Header: "Forwarded", TrustedProxies: middleware.TrustedProxies{Prefixes: []netip.Prefix{}}},
	} {
		func() {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.HasPrefix(msg, "middleware: ClientIP: ") {
					t.Errorf("%+v: panic %q, want one starting with %q", o, msg, "middleware: ClientIP: ")
				}
			}()
			middleware.ClientIP(o)
		}()
	}
}

// Over the wire, in every mode: a forged header from an untrusted peer is
// ignored; from a trusted one it is believed.
func TestClientIPOverTheWire(t *testing.T) { h2ctest.Run(t, testClientIPOverTheWire) }

func testClientIPOverTheWire(t *testing.T, mode h2ctest.Mode) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := middleware.ClientIPFrom(r.Context())
		fmt.Fprintf(w, "%v %v %v", a, ok, middleware.ClientAddrFrom(r))
	})
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		header  [2]string
		want    string
	}{
		{"untrusted peer, forged XFF", prefixes("10.0.0.0/8"), [2]string{"X-Forwarded-For", "203.0.113.5"}, "127.0.0.1 true 127.0.0.1"},
		{"untrusted peer, forged Forwarded", prefixes("10.0.0.0/8"), [2]string{"Forwarded", "for=203.0.113.5"}, "127.0.0.1 true 127.0.0.1"},
		{"trusted peer, XFF", prefixes("127.0.0.0/8"), [2]string{"X-Forwarded-For", "6.6.6.6, 203.0.113.5"}, "203.0.113.5 true 203.0.113.5"},
		{"trusted peer, Forwarded IPv6", prefixes("127.0.0.0/8"), [2]string{"Forwarded", `for="[2001:db8::5]:80"`}, "2001:db8::5 true 2001:db8::5"},
		{"trusted peer, garbage", prefixes("127.0.0.0/8"), [2]string{"X-Forwarded-For", "203.0.113.5, <script>"}, "127.0.0.1 true 127.0.0.1"},
	} {
		opts := middleware.ClientIPOptions{Header: tc.header[0], TrustedProxies: middleware.TrustedProxies{Prefixes: tc.trusted}}
		ts := h2ctest.NewServer(t, middleware.ClientIP(opts)(echo))
		req, _ := http.NewRequest("GET", ts.URL+"/", nil)
		req.Header.Set(tc.header[0], tc.header[1])
		resp, err := ts.Client(t, mode).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := string(h2ctest.ReadBody(t, resp)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// ClientIP allocates nothing beyond the request info it shares with the
// other middleware, even while it walks a forwarding header.
func BenchmarkClientIP(b *testing.B) {
	proxies := middleware.TrustedProxies{Prefixes: prefixes("10.0.0.0/8")}
	for name, hdr := range map[string]http.Header{
		"none":      {},
		"xff":       {"X-Forwarded-For": {"203.0.113.5, 10.0.0.2"}},
		"forwarded": {"Forwarded": {`for="[2001:db8::1]:4711";proto=https, for=10.0.0.2`}},
	} {
		header := "X-Forwarded-For"
		if name == "forwarded" {
			header = "Forwarded"
		}
		h := middleware.ClientIP(middleware.ClientIPOptions{Header: header, TrustedProxies: proxies})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = "10.0.0.1:1234"
			req.Header = hdr
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}

// FuzzClientIP checks ClientIP against a plain walk from the right over
// X-Forwarded-For, and that no Forwarded field makes it panic or invent
// an address: go test -fuzz FuzzClientIP ./middleware
func FuzzClientIP(f *testing.F) {
	f.Add("203.0.113.5, 10.0.0.2", `for="[2001:db8::1]:80";proto=https, for=10.0.0.2`)
	f.Add("6.6.6.6, garbage, 10.0.0.2", `for=unknown, for="_x", for=10.1.1.1`)
	f.Add(",, ::ffff:10.0.0.3 , [2001:db8::2]:1", `for="a\"b", for="10.0.0.2`)
	proxies := middleware.TrustedProxies{Prefixes: prefixes("10.0.0.0/8", "2001:db8::/32")}
	opts := middleware.ClientIPOptions{Header: "X-Forwarded-For", TrustedProxies: proxies}
	fwdOpts := middleware.ClientIPOptions{Header: "Forwarded", TrustedProxies: proxies}
	trusted := func(a netip.Addr) bool {
		for _, p := range proxies.Prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	peer := netip.MustParseAddr("10.0.0.1")
	f.Fuzz(func(t *testing.T, xff, fwd string) {
		// The reference: split, parse each entry, walk from the right.
		var hops []string
		for e := range strings.SplitSeq(xff, ",") {
			if e = strings.Trim(e, " \t"); e != "" {
				hops = append(hops, e)
			}
		}
		want := peer
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(hops[i])
			if err != nil {
				ap, err2 := netip.ParseAddrPort(hops[i])
				if err2 != nil {
					break
				}
				a = ap.Addr()
			}
			if a.Zone() != "" {
				break
			}
			want = a.Unmap()
			if !trusted(want) {
				break
			}
		}
		got := clientIPOf(t, opts, "10.0.0.1:1", http.Header{"X-Forwarded-For": {xff}})
		if got != want.String() {
			t.Errorf("X-Forwarded-For %q: %s, want %s", xff, got, want)
		}

		got = clientIPOf(t, fwdOpts, "10.0.0.1:1", http.Header{"Forwarded": {fwd}, "X-Forwarded-For": {"6.6.6.6"}})
		if got == "6.6.6.6" || got == "" {
			t.Errorf("Forwarded %q: %q", fwd, got)
		}
		if !strings.Contains(strings.ToLower(fwd), "for") && got != peer.String() {
			t.Errorf("Forwarded %q has no for=, yet the client is %s", fwd, got)
		}
	})
}

// TestClientIPSpoofing attacks the documented stack, ClientIP in front of
// a RateLimit of one request an hour, with a client that rotates forged
// Forwarded, X-Forwarded-For and X-Real-Ip fields, IPv4 and IPv6: straight
// to the server, and behind a proxy that appends to X-Forwarded-For and
// passes the other fields on, as nginx, AWS ALB and httputil.ReverseProxy
// do. Whatever the options, the client stays one client: every request
// but the first gets 429.
func TestClientIPSpoofing(t *testing.T) { h2ctest.Run(t, testClientIPSpoofing) }

func testClientIPSpoofing(t *testing.T, mode h2ctest.Mode) {
	const attacker = "127.0.0.2" // the proxy is 127.0.0.1, the only one trusted
	for _, tc := range []struct {
		name    string
		opts    middleware.ClientIPOptions
		proxied bool
		want    string // the client the first request is counted against
	}{
		{"direct, defaults", middleware.ClientIPOptions{}, false, attacker},
		{"proxied, defaults", middleware.ClientIPOptions{}, true, "127.0.0.1"},
		{"proxied, X-Forwarded-For", middleware.ClientIPOptions{
			Header:         "X-Forwarded-For",
			TrustedProxies: middleware.TrustedProxies{Prefixes: prefixes("127.0.0.1/32")},
		}, true, attacker},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := h2ctest.NewServer(t, middleware.ClientIP(tc.opts)(
				middleware.RateLimit(middleware.RateLimitOptions{Requests: 1, Period: time.Hour})(
					http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						fmt.Fprint(w, middleware.ClientAddrFrom(r))
					}))))
			target := backend.URL
			client := &http.Client{Transport: fromAddr(t, h2ctest.NewTransport(mode), attacker), Timeout: time.Minute}
			if tc.proxied {
				proxy := httptest.NewServer(nginxLikeProxy(t, backend.URL, h2ctest.NewTransport(mode)))
				t.Cleanup(proxy.Close)
				target = proxy.URL
				client.Transport = fromAddr(t, &http.Transport{}, attacker)
			}
			const n = 40
			for i := range n {
				forged := fmt.Sprintf("198.51.100.%d", i)
				if i%2 == 1 {
					forged = fmt.Sprintf("2001:db8:%x::1", i)
				}
				req, _ := http.NewRequest("GET", target+"/", nil)
				req.Header.Set("Forwarded", fmt.Sprintf(`for="%s"`, forged))
				req.Header.Set("X-Forwarded-For", forged)
				req.Header.Set("X-Real-Ip", forged)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body := string(h2ctest.ReadBody(t, resp))
				switch {
				case i == 0 && (resp.StatusCode != http.StatusOK || body != tc.want):
					t.Fatalf("request 0: %d %q, want 200 %q", resp.StatusCode, body, tc.want)
				case i > 0 && resp.StatusCode != http.StatusTooManyRequests:
					t.Fatalf("request %d, forged %s: %d %q, want 429: the forged address got a fresh allowance", i, forged, resp.StatusCode, body)
				}
			}
		})
	}
}

// fromAddr makes rt dial from the local address ip, so that a test client
// on loopback can be told apart from a proxy on 127.0.0.1.
func fromAddr(t *testing.T, rt http.RoundTripper, ip string) http.RoundTripper {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	switch rt := rt.(type) {
	case *http.Transport:
		rt.DialContext = d.DialContext
		t.Cleanup(rt.CloseIdleConnections)
	case *h2ctest.UpgradeTransport:
		rt.DialContext = d.DialContext
		t.Cleanup(rt.CloseIdleConnections)
	default:
		t.Fatalf("fromAddr: %T", rt)
	}
	return rt
}

// nginxLikeProxy returns a reverse proxy to backend that does what nginx
// does with proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for:
// it appends the peer to X-Forwarded-For and passes Forwarded and
// X-Real-Ip on as the client sent them.
func nginxLikeProxy(t *testing.T, backend string, rt http.RoundTripper) http.Handler {
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		t.Cleanup(c.CloseIdleConnections)
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Header["Forwarded"] = pr.In.Header["Forwarded"]
			pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			pr.SetXForwarded()
		},
		Transport: rt,
	}
}

// A proxy on the same host may reach the server through a Unix socket;
// TrustedProxies.Unix trusts it, in every mode. Without it, a Unix peer
// is untrusted, and the client unknown.
func TestClientIPUnixProxy(t *testing.T) { h2ctest.Run(t, testClientIPUnixProxy) }

func testClientIPUnixProxy(t *testing.T, mode h2ctest.Mode) {
	for _, tc := range []struct {
		name    string
		proxies middleware.TrustedProxies
		want    string
	}{
		{"Unix trusted", middleware.TrustedProxies{Unix: true}, "203.0.113.5 true 203.0.113.5"},
		{"Unix not trusted", middleware.TrustedProxies{Prefixes: prefixes("0.0.0.0/0", "::/0")}, "invalid IP false invalid IP"},
	} {
		h := middleware.ClientIP(middleware.ClientIPOptions{Header: "X-Forwarded-For", TrustedProxies: tc.proxies})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				a, ok := middleware.ClientIPFrom(r.Context())
				fmt.Fprintf(w, "%v %v %v", a, ok, middleware.ClientAddrFrom(r))
			}))
		srv, err := server.New(server.Config{Handler: h})
		if err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(t.TempDir(), "app.sock")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })

		rt := h2ctest.NewTransport(mode)
		dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
		switch rt := rt.(type) {
		case *http.Transport:
			rt.DialContext = dial
			defer rt.CloseIdleConnections()
		case *h2ctest.UpgradeTransport:
			rt.DialContext = dial
			defer rt.CloseIdleConnections()
		}
		req, _ := http.NewRequest("GET", "http://app.sock/", nil)
		req.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.5")
		resp, err := (&http.Client{Transport: rt, Timeout: time.Minute}).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := string(h2ctest.ReadBody(t, resp)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// The deprecated accessor names answer what the new ones do.
func TestDeprecatedAccessors(t *testing.T) {
	var got []string
	h := middleware.BasicAuth(middleware.BasicAuthOptions{Users: map[string]string{"ann": "pw"}})(
		middleware.ClientIP(middleware.ClientIPOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, ok := middleware.BasicAuthUser(r.Context())
			u2, ok2 := middleware.BasicAuthUserFrom(r.Context())
			got = append(got, fmt.Sprint(middleware.ClientAddr(r), " ", middleware.ClientAddrFrom(r), " ", u, ok, " ", u2, ok2))
		})))
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "192.0.2.7:1234"
	req.SetBasicAuth("ann", "pw")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if want := []string{"192.0.2.7 192.0.2.7 anntrue anntrue"}; !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
}

// Whatever a client sends in Forwarded, an element that a trusted proxy
// appends to the same line names the client, and its proto and host are
// the ones ProxyHeaders takes: go test -fuzz FuzzForwardedAppended ./middleware
func FuzzForwardedAppended(f *testing.F) {
	for _, s := range []string{"", "x", `for="`, `for=6.6.6.6;x="`, `a="\`, `for="\`, `a=",b="`, `for=10.0.0.7;host="a,b`, `;;=,"",\"`} {
		f.Add(s)
	}
	proxies := middleware.TrustedProxies{Prefixes: prefixes("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, client string) {
		for _, tc := range []struct{ elem, want string }{
			{"for=203.0.113.5;proto=https;host=www.example", "203.0.113.5"},
			{`for="[2001:db8::5]:4711";proto=https;host="www.example"`, "2001:db8::5"},
		} {
			header := http.Header{"Forwarded": {client + ", " + tc.elem}}
			got := clientIPOf(t, middleware.ClientIPOptions{Header: "Forwarded", TrustedProxies: proxies}, "10.0.0.1:1", header)
			ph := proxyHeadersOf(t, middleware.ProxyHeadersOptions{Header: "Forwarded", TrustedProxies: proxies}, "10.0.0.1:1", header)
			if want := (proxied{tc.want, "https", "www.example"}); got != tc.want || ph != want {
				t.Errorf("Forwarded %q: ClientIP %s, ProxyHeaders %+v, want %s and %+v", header["Forwarded"][0], got, ph, tc.want, want)
			}
		}
	})
}
