package middleware_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/molt-http/molt/middleware"
)

func ExampleRateLimit() {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	// Two requests a minute per client address, both at once if it likes.
	h := middleware.RateLimit(middleware.RateLimitOptions{Requests: 2, Period: time.Minute})(api)

	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api", nil))
		fmt.Printf("%d RateLimit-Remaining=%s Retry-After=%q\n", rec.Code,
			rec.Header().Get("RateLimit-Remaining"), rec.Header().Get("Retry-After"))
	}
	// Output:
	// 200 RateLimit-Remaining=1 Retry-After=""
	// 200 RateLimit-Remaining=0 Retry-After=""
	// 429 RateLimit-Remaining=0 Retry-After="30"
}
