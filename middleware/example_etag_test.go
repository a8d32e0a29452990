package middleware_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/molt-http/molt/middleware"
)

func ExampleETag() {
	h := middleware.ETag(middleware.ETagOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "hello, molt\n")
	}))

	// The first request gets the body and its tag.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	tag := w.Header().Get("ETag")
	fmt.Println(w.Code, tag, w.Header().Get("Content-Length"), w.Body.String())

	// Revalidating with the tag: 304, no body.
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("If-None-Match", tag)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Header().Get("ETag"), w.Body.Len())
	// Output:
	// 200 "c7d8ec06a36af69dc83020792f68e675" 12 hello, molt
	//
	// 304 "c7d8ec06a36af69dc83020792f68e675" 0
}
