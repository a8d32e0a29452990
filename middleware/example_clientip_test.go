package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/molt-http/molt/middleware"
)

func ExampleClientIP() {
	// By default ClientIP reads no header: the client is the peer of the
	// connection. Behind proxies, name the header they set and the
	// proxies trusted to set it. Here the load balancers live in
	// 10.0.0.0/8 and append to X-Forwarded-For.
	h := middleware.ClientIP(middleware.ClientIPOptions{
		Header: "X-Forwarded-For",
		TrustedProxies: middleware.TrustedProxies{
			Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		},
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(middleware.ClientAddrFrom(r))
	}))

	for _, tc := range []struct{ peer, xff, fwd string }{
		{"10.0.0.1:5555", "6.6.6.6, 203.0.113.5, 10.0.0.2", ""}, // through two proxies; 6.6.6.6 is forged
		{"10.0.0.1:5555", "203.0.113.5", "for=6.6.6.6"},         // a Forwarded the proxies passed on is not read
		{"192.0.2.7:1234", "203.0.113.5", ""},                   // not from a proxy: the header is ignored
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = tc.peer
		req.Header.Set("X-Forwarded-For", tc.xff)
		if tc.fwd != "" {
			req.Header.Set("Forwarded", tc.fwd)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	// Output:
	// 203.0.113.5
	// 203.0.113.5
	// 192.0.2.7
}
