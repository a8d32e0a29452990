package middleware

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// HealthOptions configures Health. The zero value answers GET and HEAD
// requests for "/healthz" with 200 "ok", and checks nothing.
type HealthOptions struct {
	// Path is the path Health answers, matched exactly (no trailing slash,
	// no prefix). Default "/healthz".
	Path string

	// Check, if set, is called with the request's context on every health
	// request; an error makes the answer 503 Service Unavailable with the
	// error's text as the body, which anyone who can reach Path can read.
	Check func(ctx context.Context) error
}

var (
	healthOK          = []byte("ok\n")
	healthContentType = []string{"text/plain; charset=utf-8"}
	healthNoStore     = []string{"no-store"}
	healthNosniff     = []string{"nosniff"}
)

// Health returns middleware that answers health checks (a load balancer's
// or an orchestrator's liveness or readiness probe) itself, before the
// handlers it wraps, so put it first: GET and HEAD requests for Path get
// 200 with the body "ok", or 503 with the error when Check fails, and
// "Cache-Control: no-store" either way. Every other request, other
// methods for Path included, goes to the next handler. On the happy path
// it allocates nothing.
//
// It is what chi calls Heartbeat: Health(HealthOptions{Path: "/ping"})
// is chi's Heartbeat("/ping").
func Health(opts HealthOptions) func(http.Handler) http.Handler {
	path := opts.Path
	if path == "" {
		path = "/healthz"
	}
	if !strings.HasPrefix(path, "/") {
		panic(fmt.Sprintf("middleware: Health: Path %q does not start with a slash", path))
	}
	check := opts.Check
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path || r.Method != http.MethodGet && r.Method != http.MethodHead {
				next.ServeHTTP(w, r)
				return
			}
			h := w.Header()
			h["Content-Type"] = healthContentType
			h["Cache-Control"] = healthNoStore
			h["X-Content-Type-Options"] = healthNosniff
			if check != nil {
				if err := check(r.Context()); err != nil {
					w.WriteHeader(http.StatusServiceUnavailable)
					if r.Method != http.MethodHead {
						w.Write([]byte(err.Error() + "\n"))
					}
					return
				}
			}
			w.WriteHeader(http.StatusOK)
			if r.Method != http.MethodHead {
				w.Write(healthOK)
			}
		})
	}
}
