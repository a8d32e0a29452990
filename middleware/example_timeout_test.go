package middleware_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/molt-http/molt/middleware"
)

func ExampleTimeout() {
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // a slow query, say, that honours its context
		io.WriteString(w, "too late")
	})
	h := middleware.Timeout(middleware.TimeoutOptions{Duration: 10 * time.Millisecond})(slow)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/report", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output: 503 Service Unavailable
}
