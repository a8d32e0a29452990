package router_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
	"github.com/molt-http/molt/router"
	"github.com/molt-http/molt/server"
)

func TestMiddlewareSeesEveryAnswerOnEveryProtocol(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		var mu sync.Mutex
		var seen []string
		r := router.New()
		r.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				sw := middleware.Wrap(w)
				next.ServeHTTP(sw, req)
				code := sw.Status()
				if code == 0 {
					code = 200
				}
				mu.Lock()
				seen = append(seen, fmt.Sprintf("%s %s %s %d %q", server.ProtocolOf(req), req.Method, req.URL.Path, code, req.Pattern))
				mu.Unlock()
			})
		})
		r.Get("/items/{id}", reply("id"))
		ts := h2ctest.NewServer(t, r)
		client := ts.Client(t, mode)
		requests := []struct {
			method, path string
			code         int
			allow        string
		}{
			{"GET", "/items/1", 200, ""},
			{"HEAD", "/items/2", 200, ""},
			{"OPTIONS", "/items/3", 204, "GET, HEAD, OPTIONS"},
			{"POST", "/items/4", 405, "GET, HEAD, OPTIONS"},
			{"GET", "/missing", 404, ""},
		}
		var want []string
		for _, rq := range requests {
			req, _ := http.NewRequest(rq.method, ts.URL+rq.path, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			h2ctest.ReadBody(t, resp)
			if resp.StatusCode != rq.code || resp.Header.Get("Allow") != rq.allow || resp.ProtoMajor != h2ctest.WantProto(mode) {
				t.Errorf("%s %s: %s %s Allow %q; want %d Allow %q", rq.method, rq.path, resp.Proto, resp.Status, resp.Header.Get("Allow"), rq.code, rq.allow)
			}
			pattern := ""
			if rq.code == 200 {
				pattern = "GET /items/{id}"
			}
			want = append(want, fmt.Sprintf("%s %s %s %d %q", mode, rq.method, rq.path, rq.code, pattern))
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(seen, want) {
			t.Errorf("middleware saw\n%q\nwant\n%q", seen, want)
		}
	})
}
