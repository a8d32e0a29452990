package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/molt-http/molt/middleware"
)

func ExampleRequestID() {
	h := middleware.RequestID(middleware.RequestIDOptions{
		Generate: func() string { return "generated" }, // the default makes unique IDs
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("handler sees", middleware.RequestIDFrom(r.Context()))
	}))

	for _, incoming := range []string{"", "upstream-42", "not acceptable: spaces"} {
		req := httptest.NewRequest("GET", "/", nil)
		if incoming != "" {
			req.Header.Set("X-Request-Id", incoming)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		fmt.Println("response has", w.Header().Get("X-Request-Id"))
	}
	// Output:
	// handler sees generated
	// response has generated
	// handler sees upstream-42
	// response has upstream-42
	// handler sees generated
	// response has generated
}
