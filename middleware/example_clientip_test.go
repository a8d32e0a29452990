package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/molt-http/molt/middleware"
)

func ExampleClientIP() {
	h := middleware.ClientIP(middleware.ClientIPOptions{
		// The load balancers live in 10.0.0.0/8 and append to X-Forwarded-For.
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Header:         "X-Forwarded-For",
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(middleware.ClientAddr(r))
	}))

	for _, tc := range []struct{ peer, xff string }{
		{"10.0.0.1:5555", "6.6.6.6, 203.0.113.5, 10.0.0.2"}, // through two proxies; 6.6.6.6 is forged
		{"192.0.2.7:1234", "203.0.113.5"},                   // not from a proxy: the header is ignored
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = tc.peer
		req.Header.Set("X-Forwarded-For", tc.xff)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	// Output:
	// 203.0.113.5
	// 192.0.2.7
}
