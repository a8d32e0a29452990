package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/molt-http/molt/middleware"
	"github.com/molt-http/molt/router"
)

func ExampleHealth() {
	ready := false
	r := router.New()
	r.Use(
		middleware.Health(middleware.HealthOptions{}), // GET /healthz: "ok"
		middleware.Health(middleware.HealthOptions{
			Path: "/readyz",
			Check: func(ctx context.Context) error {
				if !ready {
					return errors.New("warming up")
				}
				return nil
			},
		}),
	)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "home") })

	for _, path := range []string{"/healthz", "/readyz", "/"} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		fmt.Printf("%s %d %q %s\n", path, w.Code, w.Body, w.Header().Get("Cache-Control"))
	}
	// Output:
	// /healthz 200 "ok\n" no-store
	// /readyz 503 "warming up\n" no-store
	// / 200 "home\n"
}
