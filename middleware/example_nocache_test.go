package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/molt-http/molt/middleware"
)

func ExampleNoCache() {
	h := middleware.NoCache(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "If-None-Match: %q", r.Header.Get("If-None-Match"))
	}))

	req := httptest.NewRequest("GET", "/balance", nil)
	req.Header.Set("If-None-Match", `"v1"`) // removed: the handler answers in full
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	fmt.Println(w.Header().Get("Cache-Control"))
	fmt.Println(w.Header().Get("Pragma"), w.Header().Get("Expires"))
	fmt.Println(w.Body.String())
	// Output:
	// no-cache, no-store, must-revalidate
	// no-cache 0
	// If-None-Match: ""
}
