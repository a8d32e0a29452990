package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

// proxied is what a handler behind ProxyHeaders sees.
type proxied struct{ client, scheme, host string }

// proxyHeadersOf runs ProxyHeaders with opts on a request for host from
// remoteAddr with the given header fields.
func proxyHeadersOf(t *testing.T, opts middleware.ProxyHeadersOptions, remoteAddr string, header http.Header) proxied {
	t.Helper()
	var got proxied
	req := httptest.NewRequest("GET", "http://origin.internal/", nil)
	h := middleware.ProxyHeaders(opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := middleware.ClientIPFrom(r.Context())
		got = proxied{a.String(), middleware.SchemeFrom(r), r.Host}
		if r.RemoteAddr != remoteAddr {
			t.Errorf("RemoteAddr %q, want %q", r.RemoteAddr, remoteAddr)
		}
	}))
	req.RemoteAddr = remoteAddr
	req.Header = header
	h.ServeHTTP(httptest.NewRecorder(), req)
	if req.Host != "origin.internal" {
		t.Errorf("the caller's request changed: Host %q", req.Host)
	}
	return got
}

func TestProxyHeaders(t *testing.T) {
	proxies := middleware.TrustedProxies{Prefixes: prefixes("10.0.0.0/8")}
	viaXFF := middleware.ProxyHeadersOptions{Header: "X-Forwarded-For", TrustedProxies: proxies}
	viaFwd := middleware.ProxyHeadersOptions{Header: "Forwarded", TrustedProxies: proxies}
	viaUnix := middleware.ProxyHeadersOptions{Header: "X-Forwarded-For", TrustedProxies: middleware.TrustedProxies{Unix: true}}
	const proxy = "10.0.0.1:5555"
	xf := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	const (
		xff  = "X-Forwarded-For"
		xfp  = "X-Forwarded-Proto"
		xfh  = "X-Forwarded-Host"
		fwd  = "Forwarded"
		orig = "origin.internal"
	)
	tests := []struct {
		name   string
		opts   middleware.ProxyHeadersOptions
		remote string
		header http.Header
		want   proxied
	}{
		// An untrusted peer is believed in nothing.
		{"untrusted, X-Forwarded-*", viaXFF, "192.0.2.7:1234", xf(xff, "203.0.113.5", xfp, "https", xfh, "evil.example"), proxied{"192.0.2.7", "http", orig}},
		{"untrusted, Forwarded", viaFwd, "192.0.2.7:1234", xf(fwd, "for=203.0.113.5;proto=https;host=evil.example"), proxied{"192.0.2.7", "http", orig}},
		{"untrusted unix peer", viaXFF, "@", xf(xff, "203.0.113.5", xfp, "https"), proxied{"invalid IP", "http", orig}},

		// X-Forwarded-* from a trusted proxy.
		{"nothing forwarded", viaXFF, proxy, nil, proxied{"10.0.0.1", "http", orig}},
		{"all three", viaXFF, proxy, xf(xff, "203.0.113.5", xfp, "https", xfh, "www.example"), proxied{"203.0.113.5", "https", "www.example"}},
		{"chain", viaXFF, proxy, xf(xff, "6.6.6.6, 203.0.113.5, 10.0.0.2", xfp, "https", xfh, "www.example:8443"), proxied{"203.0.113.5", "https", "www.example:8443"}},
		{"proto in any case", viaXFF, proxy, xf(xfp, "HTTPS"), proxied{"10.0.0.1", "https", orig}},
		{"proto http", viaXFF, proxy, xf(xfp, "http"), proxied{"10.0.0.1", "http", orig}},
		{"proto other", viaXFF, proxy, xf(xfp, "ftp"), proxied{"10.0.0.1", "http", orig}},
		{"proto list: the last", viaXFF, proxy, xf(xfp, "http, https"), proxied{"10.0.0.1", "https", orig}},
		{"proto list: client's forgery first", viaXFF, proxy, xf(xfp, "https, http"), proxied{"10.0.0.1", "http", orig}},
		{"proto fields: the last", viaXFF, proxy, xf(xfp, "https", xfp, "http ,"), proxied{"10.0.0.1", "http", orig}},
		{"host list: the last", viaXFF, proxy, xf(xfh, "evil.example, www.example"), proxied{"10.0.0.1", "http", "www.example"}},
		{"host IPv4", viaXFF, proxy, xf(xfh, "192.0.2.1:8080"), proxied{"10.0.0.1", "http", "192.0.2.1:8080"}},
		{"host IPv6", viaXFF, proxy, xf(xfh, "[2001:db8::1]:8443"), proxied{"10.0.0.1", "http", "[2001:db8::1]:8443"}},
		{"host IPv6 without port", viaXFF, proxy, xf(xfh, "[2001:db8::1]"), proxied{"10.0.0.1", "http", "[2001:db8::1]"}},
		{"Header X-Forwarded-For ignores Forwarded", viaXFF, proxy, xf(fwd, "for=6.6.6.6;proto=https;host=evil.example"), proxied{"10.0.0.1", "http", orig}},
		{"unix peer, Unix trusted", viaUnix, "@", xf(xff, "203.0.113.5", xfp, "https", xfh, "www.example"), proxied{"203.0.113.5", "https", "www.example"}},

		// Host injection: anything but a host[:port] is ignored.
		{"host with path", viaXFF, proxy, xf(xfh, "evil.example/x"), proxied{"10.0.0.1", "http", orig}},
		{"host with user info", viaXFF, proxy, xf(xfh, "user@evil.example"), proxied{"10.0.0.1", "http", orig}},
		{"host with space", viaXFF, proxy, xf(xfh, "a b"), proxied{"10.0.0.1", "http", orig}},
		{"host with backslash", viaXFF, proxy, xf(xfh, `evil.example\x`), proxied{"10.0.0.1", "http", orig}},
		{"host with quote", viaXFF, proxy, xf(xfh, `evil"example`), proxied{"10.0.0.1", "http", orig}},
		{"host with angle brackets", viaXFF, proxy, xf(xfh, "<script>"), proxied{"10.0.0.1", "http", orig}},
		{"host non-ASCII", viaXFF, proxy, xf(xfh, "évil.example"), proxied{"10.0.0.1", "http", orig}},
		{"host leading dot", viaXFF, proxy, xf(xfh, ".example"), proxied{"10.0.0.1", "http", orig}},
		{"host port too big", viaXFF, proxy, xf(xfh, "www.example:65536"), proxied{"10.0.0.1", "http", orig}},
		{"host port not digits", viaXFF, proxy, xf(xfh, "www.example:http"), proxied{"10.0.0.1", "http", orig}},
		{"host empty port", viaXFF, proxy, xf(xfh, "www.example:"), proxied{"10.0.0.1", "http", orig}},
		{"host two colons", viaXFF, proxy, xf(xfh, "www.example:80:80"), proxied{"10.0.0.1", "http", orig}},
		{"host IPv6 unbracketed", viaXFF, proxy, xf(xfh, "2001:db8::1"), proxied{"10.0.0.1", "http", orig}},
		{"host IPv6 zone", viaXFF, proxy, xf(xfh, "[fe80::1%eth0]"), proxied{"10.0.0.1", "http", orig}},
		{"host IPv4 in brackets", viaXFF, proxy, xf(xfh, "[192.0.2.1]"), proxied{"10.0.0.1", "http", orig}},
		{"host unclosed bracket", viaXFF, proxy, xf(xfh, "[2001:db8::1"), proxied{"10.0.0.1", "http", orig}},
		{"host junk after bracket", viaXFF, proxy, xf(xfh, "[2001:db8::1]x"), proxied{"10.0.0.1", "http", orig}},
		{"host too long", viaXFF, proxy, xf(xfh, strings.Repeat("a", 256)), proxied{"10.0.0.1", "http", orig}},

		// Forwarded from a trusted proxy: the element that names the
		// client gives scheme and host.
		{"Forwarded", viaFwd, proxy, xf(fwd, "for=203.0.113.5;proto=https;host=www.example"), proxied{"203.0.113.5", "https", "www.example"}},
		{"Forwarded quoted", viaFwd, proxy, xf(fwd, `for="[2001:db8::5]:4711";proto="https";host="www.example:8443"`), proxied{"2001:db8::5", "https", "www.example:8443"}},
		{"Forwarded chain: the client's element", viaFwd, proxy, xf(fwd, "for=203.0.113.5;proto=https;host=www.example, for=10.0.0.2;proto=http;host=lb.internal"), proxied{"203.0.113.5", "https", "www.example"}},
		{"Forwarded chain across fields", viaFwd, proxy, xf(fwd, "for=203.0.113.5;proto=https;host=www.example", fwd, "for=10.0.0.2;proto=http;host=lb.internal"), proxied{"203.0.113.5", "https", "www.example"}},
		{"Forwarded forgery before the client", viaFwd, proxy, xf(fwd, "for=6.6.6.6;proto=https;host=evil.example, for=203.0.113.5;proto=http;host=www.example"), proxied{"203.0.113.5", "http", "www.example"}},
		{"Forwarded all trusted: the leftmost", viaFwd, proxy, xf(fwd, "for=10.0.0.9;proto=https;host=www.example, for=10.0.0.2;proto=http;host=lb.internal"), proxied{"10.0.0.9", "https", "www.example"}},
		{"Forwarded unknown client", viaFwd, proxy, xf(fwd, "for=unknown;proto=https;host=www.example"), proxied{"10.0.0.1", "https", "www.example"}},
		{"Forwarded obfuscated client behind a proxy", viaFwd, proxy, xf(fwd, `for=_hidden;proto=https;host=www.example, for=10.0.0.2;proto=http;host=lb.internal`), proxied{"10.0.0.2", "https", "www.example"}},
		{"Forwarded no for", viaFwd, proxy, xf(fwd, "proto=https;host=www.example"), proxied{"10.0.0.1", "https", "www.example"}},
		{"Forwarded two protos", viaFwd, proxy, xf(fwd, "for=203.0.113.5;proto=http;proto=https"), proxied{"203.0.113.5", "http", orig}},
		{"Forwarded two hosts", viaFwd, proxy, xf(fwd, "for=203.0.113.5;host=a.example;host=b.example"), proxied{"203.0.113.5", "http", orig}},
		{"Forwarded escaped host", viaFwd, proxy, xf(fwd, `for=203.0.113.5;host="www\.example"`), proxied{"203.0.113.5", "http", orig}},
		{"Forwarded bad host", viaFwd, proxy, xf(fwd, `for=203.0.113.5;proto=https;host="evil.example/x"`), proxied{"203.0.113.5", "https", orig}},
		{"Forwarded broken syntax", viaFwd, proxy, xf(fwd, `for=203.0.113.5;proto=https;host="www.example`), proxied{"10.0.0.1", "http", orig}},
		{"Forwarded broken nearest", viaFwd, proxy, xf(fwd, "for=203.0.113.5;proto=https;host=www.example", fwd, "for=10.0.0.2;proto"), proxied{"10.0.0.1", "http", orig}},
		{"Forwarded client's garbage, proxy's element on the same line", viaFwd, proxy, xf(fwd, `for=6.6.6.6;proto=https;host=evil.example;x, for=203.0.113.5;proto=http;host=www.example`), proxied{"203.0.113.5", "http", "www.example"}},
		{"Forwarded client's quote closed by the proxy's", viaFwd, proxy, xf(fwd, `for=10.0.0.7;proto=http;host=evil.example;x=", for="[2001:db8::5]:4711";proto=https;host=www.example`), proxied{"2001:db8::5", "https", "www.example"}},
		{"Forwarded pair names in any case", viaFwd, proxy, xf(fwd, "For=203.0.113.5;PROTO=HTTPS;Host=www.example"), proxied{"203.0.113.5", "https", "www.example"}},
		{"Header Forwarded ignores X-Forwarded-*", viaFwd, proxy, xf(xff, "6.6.6.6", xfp, "https", xfh, "evil.example"), proxied{"10.0.0.1", "http", orig}},
		{"Forwarded same host", viaFwd, proxy, xf(fwd, "for=203.0.113.5;host=origin.internal"), proxied{"203.0.113.5", "http", orig}},
	}
	for _, tc := range tests {
		if got := proxyHeadersOf(t, tc.opts, tc.remote, tc.header); got != tc.want {
			t.Errorf("%s: RemoteAddr %q, header %q: %+v, want %+v", tc.name, tc.remote, tc.header, got, tc.want)
		}
	}
}

// SchemeFrom goes by the connection and by ProxyHeaders, never by what a
// client writes.
func TestSchemeFrom(t *testing.T) {
	abs := httptest.NewRequest("GET", "https://www.example/", nil) // absolute-form URL from the client
	abs.TLS = nil
	abs.Header.Set("X-Forwarded-Proto", "https")
	abs.Header.Set("Forwarded", "proto=https")
	if got := middleware.SchemeFrom(abs); got != "http" {
		t.Errorf("cleartext request for an https URL: %q, want http", got)
	}
	tlsReq := httptest.NewRequest("GET", "https://www.example/", nil)
	if tlsReq.TLS == nil {
		t.Fatal("httptest request for https has no TLS state")
	}
	if got := middleware.SchemeFrom(tlsReq); got != "https" {
		t.Errorf("TLS request: %q, want https", got)
	}
}

// Over the wire, on every protocol: from an untrusted peer nothing is
// believed, and Secure sends no HSTS; from a trusted one, client, scheme
// and host are taken, Secure sends HSTS, and CrossOrigin checks Origin
// against the forwarded host.
func TestProxyHeadersOverTheWire(t *testing.T) { h2ctest.Run(t, testProxyHeadersOverTheWire) }

func testProxyHeadersOverTheWire(t *testing.T, mode h2ctest.Mode) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%v %s %s", middleware.ClientAddrFrom(r), middleware.SchemeFrom(r), r.Host)
	})
	stack := func(trusted string, header string) http.Handler {
		return middleware.ProxyHeaders(middleware.ProxyHeadersOptions{
			Header:         header,
			TrustedProxies: middleware.TrustedProxies{Prefixes: prefixes(trusted)},
		})(middleware.Secure(middleware.SecureOptions{})(middleware.CrossOrigin(middleware.CrossOriginOptions{})(handler)))
	}
	untrusted := h2ctest.NewServer(t, stack("10.0.0.0/8", "X-Forwarded-For"))
	untrustedFwd := h2ctest.NewServer(t, stack("10.0.0.0/8", "Forwarded"))
	trustedXFF := h2ctest.NewServer(t, stack("127.0.0.0/8", "X-Forwarded-For"))
	trustedFwd := h2ctest.NewServer(t, stack("127.0.0.0/8", "Forwarded"))
	xff := [][2]string{{"X-Forwarded-For", "6.6.6.6, 203.0.113.5"}, {"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "www.example"}}
	fwd := [][2]string{{"Forwarded", `for=6.6.6.6;proto=http;host=evil.example, for="[2001:db8::5]:80";proto=https;host=www.example`}}
	for _, tc := range []struct {
		name   string
		ts     *h2ctest.Server
		method string
		fields [][2]string
		status int
		body   string // with %s for the server's own host
		hsts   bool
	}{
		{"untrusted peer", untrusted, "GET", xff, 200, "127.0.0.1 http %s", false},
		{"untrusted peer, Forwarded", untrustedFwd, "GET", fwd, 200, "127.0.0.1 http %s", false},
		{"trusted, X-Forwarded-*", trustedXFF, "GET", xff, 200, "203.0.113.5 https www.example", true},
		{"trusted, Forwarded", trustedFwd, "GET", fwd, 200, "2001:db8::5 https www.example", true},
		{"trusted, bad host", trustedXFF, "GET", [][2]string{{"X-Forwarded-Host", "evil.example/x?"}}, 200, "127.0.0.1 http %s", false},
		{"trusted, proto ftp", trustedXFF, "GET", [][2]string{{"X-Forwarded-Proto", "ftp"}}, 200, "127.0.0.1 http %s", false},
		// An old browser's form post: Origin against the forwarded host.
		{"POST, Origin of the forwarded host", trustedXFF, "POST", append(xff, [2]string{"Origin", "https://www.example"}), 200, "203.0.113.5 https www.example", true},
		{"POST, Origin of another host", trustedXFF, "POST", append(xff, [2]string{"Origin", "https://evil.example"}), 403, "", true},
		{"POST, untrusted peer names the Origin's host", untrusted, "POST", append(xff, [2]string{"Origin", "https://www.example"}), 403, "", false},
	} {
		req, _ := http.NewRequest(tc.method, tc.ts.URL+"/", nil)
		for _, f := range tc.fields {
			req.Header.Add(f[0], f[1])
		}
		resp, err := tc.ts.Client(t, mode).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body := string(h2ctest.ReadBody(t, resp))
		want := tc.body
		if strings.Contains(want, "%s") {
			want = fmt.Sprintf(want, tc.ts.Addr)
		}
		if resp.StatusCode != tc.status || (tc.status == 200 && body != want) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, body, tc.status, want)
		}
		if got := resp.Header.Get("Strict-Transport-Security") != ""; got != tc.hsts {
			t.Errorf("%s: HSTS %v, want %v", tc.name, got, tc.hsts)
		}
	}
}

// ProxyHeaders and ClientIP find the same client from the same header and
// proxies: go test -fuzz FuzzProxyHeadersClient ./middleware
func FuzzProxyHeadersClient(f *testing.F) {
	f.Add("203.0.113.5, 10.0.0.2", `for="[2001:db8::1]:80";proto=https, for=10.0.0.2`)
	f.Add("6.6.6.6, garbage, 10.0.0.2", `for=unknown;host=a, for="_x", for=10.1.1.1`)
	f.Add(",, ::ffff:10.0.0.3 , [2001:db8::2]:1", `for="a\"b";proto=https, for="10.0.0.2`)
	f.Add("10.0.0.9", `proto=https;host="x:1", , for=10.0.0.2;host=y;host=z`)
	proxies := middleware.TrustedProxies{Prefixes: prefixes("10.0.0.0/8", "2001:db8::/32")}
	f.Fuzz(func(t *testing.T, xff, fwd string) {
		header := http.Header{"X-Forwarded-For": {xff}, "Forwarded": {fwd}, "X-Forwarded-Host": {fwd}}
		for _, name := range []string{"X-Forwarded-For", "Forwarded"} {
			want := clientIPOf(t, middleware.ClientIPOptions{Header: name, TrustedProxies: proxies}, "10.0.0.1:1", header)
			got := proxyHeadersOf(t, middleware.ProxyHeadersOptions{Header: name, TrustedProxies: proxies}, "10.0.0.1:1", header)
			if got.client != want {
				t.Errorf("%s: X-Forwarded-For %q, Forwarded %q: ProxyHeaders' client %s, ClientIP's %s", name, xff, fwd, got.client, want)
			}
			if got.host != "origin.internal" && (strings.ContainsAny(got.host, "/?#@ \\\"<>") || got.host == "") {
				t.Errorf("%s: host %q taken from %q", name, got.host, fwd)
			}
		}
	})
}

func TestProxyHeadersBadOptions(t *testing.T) {
	proxies := middleware.TrustedProxies{Prefixes: prefixes("10.0.0.0/8")}
	for _, o := range []middleware.ProxyHeadersOptions{
		{},
		{Header: "X-Forwarded-For"},
		{Header: "Forwarded", TrustedProxies: middleware.TrustedProxies{Prefixes: []netip.Prefix{}}},
		{TrustedProxies: proxies},
		{Header: "X-Real-Ip", TrustedProxies: proxies},
		{Header: "X-Forwarded-Proto", TrustedProxies: proxies},
		{Header: "Forwarded", TrustedProxies: middleware.TrustedProxies{Prefixes: []netip.Prefix{{}}}},
	} {
		func() {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.HasPrefix(msg, "middleware: ProxyHeaders: ") {
					t.Errorf("%+v: panic %q, want one starting with %q", o, msg, "middleware: ProxyHeaders: ")
				}
			}()
			middleware.ProxyHeaders(o)
		}()
	}
}

// ProxyHeaders allocates the shared request info, and a request copy only
// when the host changes; Secure one slice for its values.
func BenchmarkProxyHeadersSecure(b *testing.B) {
	proxies := middleware.TrustedProxies{Prefixes: prefixes("10.0.0.0/8")}
	noop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for name, tc := range map[string]struct {
		h      http.Handler
		header http.Header
	}{
		"secure": {middleware.Secure(middleware.SecureOptions{})(noop), http.Header{}},
		"xff":    {middleware.ProxyHeaders(middleware.ProxyHeadersOptions{Header: "X-Forwarded-For", TrustedProxies: proxies})(noop), http.Header{"X-Forwarded-For": {"203.0.113.5, 10.0.0.2"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"www.example"}}},
		"forwarded": {middleware.ProxyHeaders(middleware.ProxyHeadersOptions{Header: "Forwarded", TrustedProxies: proxies})(noop),
			http.Header{"Forwarded": {`for="[2001:db8::1]:4711";proto=https;host=www.example, for=10.0.0.2`}}},
	} {
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = "10.0.0.1:1234"
			req.Header = tc.header
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				tc.h.ServeHTTP(w, req)
			}
		})
	}
}

// Whether or not another middleware put the request info in the context
// first, ProxyHeaders changes the host on a copy, never on the request it
// was given.
func TestProxyHeadersCopiesRequest(t *testing.T) {
	ph := middleware.ProxyHeaders(middleware.ProxyHeadersOptions{Header: "X-Forwarded-For", TrustedProxies: middleware.TrustedProxies{Prefixes: prefixes("10.0.0.0/8")}})
	for name, before := range map[string]func(http.Handler) http.Handler{
		"alone":           func(h http.Handler) http.Handler { return h },
		"after RequestID": middleware.RequestID(middleware.RequestIDOptions{}),
	} {
		var inner, outer string
		h := before(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ph(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner = r.Host })).ServeHTTP(w, r)
			outer = r.Host
		}))
		req := httptest.NewRequest("GET", "http://origin.internal/", nil)
		req.RemoteAddr = "10.0.0.1:1"
		req.Header.Set("X-Forwarded-Host", "www.example")
		h.ServeHTTP(httptest.NewRecorder(), req)
		if inner != "www.example" || outer != "origin.internal" || req.Host != "origin.internal" {
			t.Errorf("%s: host %q inside, %q outside, %q in the caller's request", name, inner, outer, req.Host)
		}
	}
}
