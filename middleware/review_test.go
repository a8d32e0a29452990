package middleware_test

import (
	"net/http"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

// "If-Match: *" is true whenever there is a current representation (RFC
// 9110 section 13.1.1), whether its tag is strong or weak.
func TestReviewETagIfMatchStarWeak(t *testing.T) { h2ctest.Run(t, testReviewETagIfMatchStarWeak) }

func testReviewETagIfMatchStarWeak(t *testing.T, mode h2ctest.Mode) {
	own := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/own-weak" {
			w.Header().Set("ETag", `W/"v7"`)
		}
		w.Write([]byte("body"))
	})
	for _, tt := range []struct {
		name string
		opts middleware.ETagOptions
		path string
	}{
		{"Weak option", middleware.ETagOptions{Weak: true}, "/"},
		{"handler's weak tag", middleware.ETagOptions{}, "/own-weak"},
	} {
		ts := h2ctest.NewServer(t, middleware.ETag(tt.opts)(own))
		req, _ := http.NewRequest("GET", ts.URL+tt.path, nil)
		req.Header.Set("If-Match", "*")
		resp, err := ts.Client(t, mode).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := h2ctest.ReadBody(t, resp)
		if resp.StatusCode != 200 || string(body) != "body" {
			t.Errorf("%s: If-Match: * gave %d %q, want 200 %q", tt.name, resp.StatusCode, body, "body")
		}
	}
}
