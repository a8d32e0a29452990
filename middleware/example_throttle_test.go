package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/molt-http/molt/middleware"
)

func ExampleThrottle() {
	release := make(chan struct{})
	busy := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(busy)
		<-release
	})
	// One request at a time, none waiting: the second is refused.
	h := middleware.Throttle(middleware.ThrottleOptions{Limit: 1})(slow)

	done := make(chan struct{})
	go func() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/report", nil))
		close(done)
	}()
	<-busy
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/report", nil))
	fmt.Println(rec.Code, "Retry-After:", rec.Header().Get("Retry-After"))
	close(release)
	<-done
	// Output:
	// 503 Retry-After: 1
}
