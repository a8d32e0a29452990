package middleware_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/molt-http/molt/middleware"
)

func ExampleCompress() {
	page := strings.Repeat("<p>Hello, molt.</p>\n", 100) // 2000 bytes
	h := middleware.Compress(middleware.CompressOptions{
		Encodings: []string{"br", "gzip"}, // no zstd, brotli preferred
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	}))

	// A client that takes gzip, and brotli only at a lower weight.
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept-Encoding", "gzip, br;q=0.5")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	zr, _ := gzip.NewReader(w.Body)
	body, _ := io.ReadAll(zr)
	fmt.Println(w.Header().Get("Content-Encoding"), w.Header().Get("Vary"), len(body) == len(page))

	// A client that takes no coding gets the page as it is, with the same Vary.
	req = httptest.NewRequest("GET", "/", nil)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	fmt.Printf("%q %s %d\n", w.Header().Get("Content-Encoding"), w.Header().Get("Vary"), w.Body.Len())
	// Output:
	// gzip Accept-Encoding true
	// "" Accept-Encoding 2000
}
