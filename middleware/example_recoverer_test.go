package middleware_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/molt-http/molt/middleware"
)

func ExampleRecoverer() {
	h := middleware.Recoverer(middleware.RecovererOptions{
		Logger: slog.New(slog.DiscardHandler), // the panic and its stack would be logged here
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]int
		m["boom"]++ // panics: assignment to entry in nil map
	}))

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	fmt.Print(w.Code, " ", w.Body.String())
	// Output:
	// 500 Internal Server Error
}
