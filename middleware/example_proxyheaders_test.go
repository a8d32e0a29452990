package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/molt-http/molt/middleware"
)

func ExampleProxyHeaders() {
	// A TLS-terminating load balancer in 10.0.0.0/8 sets X-Forwarded-For,
	// X-Forwarded-Proto and X-Forwarded-Host. Secure after ProxyHeaders
	// sends HSTS only when the balancer says the client used HTTPS.
	h := middleware.ProxyHeaders(middleware.ProxyHeadersOptions{
		Header: "X-Forwarded-For",
		TrustedProxies: middleware.TrustedProxies{
			Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		},
	})(middleware.Secure(middleware.SecureOptions{})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Print(middleware.ClientAddrFrom(r), " ", middleware.SchemeFrom(r), " ", r.Host)
		})))

	for _, peer := range []string{"10.0.0.1:5555", "192.0.2.7:1234"} {
		req := httptest.NewRequest("GET", "http://app.internal/", nil)
		req.RemoteAddr = peer
		req.Header.Set("X-Forwarded-For", "203.0.113.5")
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-Host", "www.example.com")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		fmt.Printf(" HSTS %q\n", w.Header().Get("Strict-Transport-Security"))
	}
	// Output:
	// 203.0.113.5 https www.example.com HSTS "max-age=31536000"
	// 192.0.2.7 http app.internal HSTS ""
}
