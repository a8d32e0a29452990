package middleware_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/molt-http/molt/middleware"
)

func ExampleBodyLimit() {
	upload := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			// Over the limit: BodyLimit answers 413 whatever is written here.
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "stored %d bytes", len(b))
	})
	h := middleware.BodyLimit(middleware.BodyLimitOptions{Limit: 8})(upload)

	for _, body := range []io.Reader{
		strings.NewReader("short"),
		strings.NewReader("far too long"),                 // Content-Length: 12
		io.MultiReader(strings.NewReader("far too long")), // length unknown
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/upload", body))
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 200 stored 5 bytes
	// 413 Request Entity Too Large
	// 413 Request Entity Too Large
}
