package middleware_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

func TestHealth(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		var failing atomic.Bool
		var sawCtx atomic.Bool
		next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Next", "1")
			w.Write([]byte("next " + r.Method + " " + r.URL.Path))
		})
		plain := h2ctest.NewServer(t, middleware.Health(middleware.HealthOptions{})(next))
		checked := h2ctest.NewServer(t, healthMarkContext(middleware.Health(middleware.HealthOptions{
			Path: "/ready",
			Check: func(ctx context.Context) error {
				if ctx.Value(healthCtxKey{}) == "marked" {
					sawCtx.Store(true)
				}
				if failing.Load() {
					return errors.New("database: connection refused")
				}
				return nil
			},
		})(next)))
		for _, tc := range []struct {
			name       string
			ts         *h2ctest.Server
			fail       bool
			method     string
			path       string
			code       int
			body       string
			healthResp bool
		}{
			{"get", plain, false, "GET", "/healthz", 200, "ok\n", true},
			{"head", plain, false, "HEAD", "/healthz", 200, "", true},
			{"post goes on", plain, false, "POST", "/healthz", 200, "next POST /healthz", false},
			{"trailing slash goes on", plain, false, "GET", "/healthz/", 200, "next GET /healthz/", false},
			{"query ignored", plain, false, "GET", "/healthz?full=1", 200, "ok\n", true},
			{"other path", plain, false, "GET", "/", 200, "next GET /", false},
			{"default path not answered", checked, false, "GET", "/healthz", 200, "next GET /healthz", false},
			{"check ok", checked, false, "GET", "/ready", 200, "ok\n", true},
			{"check fails", checked, true, "GET", "/ready", 503, "database: connection refused\n", true},
			{"check fails head", checked, true, "HEAD", "/ready", 503, "", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				failing.Store(tc.fail)
				req, _ := http.NewRequest(tc.method, tc.ts.URL+tc.path, nil)
				resp, err := tc.ts.Client(t, mode).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body := string(h2ctest.ReadBody(t, resp))
				if resp.StatusCode != tc.code || body != tc.body {
					t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tc.code, tc.body)
				}
				if tc.healthResp {
					for k, want := range map[string]string{"Cache-Control": "no-store", "Content-Type": "text/plain; charset=utf-8", "X-Next": ""} {
						if got := resp.Header.Get(k); got != want {
							t.Errorf("%s = %q, want %q", k, got, want)
						}
					}
				} else if resp.Header.Get("X-Next") != "1" {
					t.Errorf("request did not reach the next handler")
				}
			})
		}
		if !sawCtx.Load() {
			t.Errorf("Check did not get the request's context")
		}
	})
}

type healthCtxKey struct{}

// healthMarkContext puts a value in the request's context, for a test to find.
func healthMarkContext(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), healthCtxKey{}, "marked")))
	})
}

func TestHealthInvalidPath(t *testing.T) {
	defer func() {
		msg, _ := recover().(string)
		if !strings.HasPrefix(msg, "middleware: Health: ") {
			t.Errorf("panic %q, want a middleware: Health: one", msg)
		}
	}()
	middleware.Health(middleware.HealthOptions{Path: "healthz"})
}

func TestHealthAllocs(t *testing.T) {
	h := middleware.Health(middleware.HealthOptions{})(http.NotFoundHandler())
	req, _ := http.NewRequest("GET", "/healthz", nil)
	w := &healthDiscardWriter{h: http.Header{}}
	allocs := testing.AllocsPerRun(100, func() {
		clear(w.h)
		h.ServeHTTP(w, req)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per health check, want 0", allocs)
	}
}

// healthDiscardWriter is a ResponseWriter that keeps nothing but its header.
type healthDiscardWriter struct{ h http.Header }

func (w *healthDiscardWriter) Header() http.Header         { return w.h }
func (w *healthDiscardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *healthDiscardWriter) WriteHeader(int)             {}
