package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/molt-http/molt/middleware"
	"github.com/molt-http/molt/router"
)

func ExampleCORS() {
	r := router.New()
	r.Use(middleware.CORS(middleware.CORSOptions{
		AllowedOrigins:   []string{"https://app.example.com", "https://*.example.org"},
		AllowedMethods:   []string{"GET", "PUT"},
		AllowedHeaders:   []string{"Content-Type", "Authorization"},
		AllowCredentials: true,
		MaxAge:           time.Hour,
	}))
	r.Get("/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "item", r.PathValue("id"))
	})

	// A preflight for a PUT: answered by CORS, though the route has only GET.
	req := httptest.NewRequest("OPTIONS", "/items/7", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "PUT")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	fmt.Println(w.Header().Get("Access-Control-Allow-Methods"), "|", w.Header().Get("Access-Control-Allow-Headers"), "|", w.Header().Get("Access-Control-Max-Age"))

	// The request itself.
	req = httptest.NewRequest("GET", "/items/7", nil)
	req.Header.Set("Origin", "https://shop.example.org")
	w = httptest.NewRecorder()
	r.ServeHTTP(w, req)
	fmt.Print(w.Code, " ", w.Header().Get("Access-Control-Allow-Origin"), " ", w.Header().Get("Access-Control-Allow-Credentials"), " ", w.Body)

	// Output:
	// 204 https://app.example.com
	// GET, PUT | Content-Type, Authorization | 3600
	// 200 https://shop.example.org true item 7
}
