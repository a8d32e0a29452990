package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/molt-http/molt/middleware"
)

func ExampleSecure() {
	h := middleware.Secure(middleware.SecureOptions{
		ContentSecurityPolicy: "default-src 'self'",
		FrameOptions:          "SAMEORIGIN",
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	}))

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "http://example.com/", nil))
	for _, k := range []string{
		"Strict-Transport-Security", // not on cleartext
		"X-Content-Type-Options",
		"X-Frame-Options",
		"Referrer-Policy",
		"Content-Security-Policy",
		"Cross-Origin-Opener-Policy",
	} {
		fmt.Printf("%s: %q\n", k, w.Header().Get(k))
	}
	// Output:
	// Strict-Transport-Security: ""
	// X-Content-Type-Options: "nosniff"
	// X-Frame-Options: "SAMEORIGIN"
	// Referrer-Policy: "strict-origin-when-cross-origin"
	// Content-Security-Policy: "default-src 'self'"
	// Cross-Origin-Opener-Policy: "same-origin"
}
