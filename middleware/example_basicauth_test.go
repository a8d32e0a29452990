package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/molt-http/molt/middleware"
)

func ExampleBasicAuth() {
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _ := middleware.BasicAuthUserFrom(r.Context())
		fmt.Fprintf(w, "welcome, %s", user)
	})
	h := middleware.BasicAuth(middleware.BasicAuthOptions{
		Realm: "Admin",
		Users: map[string]string{"alice": "s3cret"},
	})(admin)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin", nil))
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))

	req := httptest.NewRequest(http.MethodGet, "/admin", nil)
	req.SetBasicAuth("alice", "s3cret")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Body.String())
	// Output:
	// 401 Basic realm="Admin", charset="UTF-8"
	// 200 welcome, alice
}
