package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/molt-http/molt/middleware"
)

func ExampleCrossOrigin() {
	h := middleware.CrossOrigin(middleware.CrossOriginOptions{
		TrustedOrigins:         []string{"https://admin.example.com"},
		InsecureBypassPatterns: []string{"POST /hooks/"}, // other sites post here
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "done")
	}))

	for _, tc := range []struct{ path, site, origin string }{
		{"/transfer", "same-origin", "https://example.com"},
		{"/transfer", "cross-site", "https://evil.example"},
		{"/transfer", "same-site", "https://admin.example.com"},
		{"/hooks/payment", "cross-site", "https://psp.example"},
	} {
		req := httptest.NewRequest("POST", "https://example.com"+tc.path, nil)
		req.Header.Set("Sec-Fetch-Site", tc.site)
		req.Header.Set("Origin", tc.origin)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		fmt.Println(tc.path, tc.origin, w.Code)
	}
	// Output:
	// /transfer https://example.com 200
	// /transfer https://evil.example 403
	// /transfer https://admin.example.com 200
	// /hooks/payment https://psp.example 200
}
