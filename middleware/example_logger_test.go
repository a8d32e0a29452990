package middleware_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/molt-http/molt/middleware"
)

func ExampleLogger() {
	// A text logger without the varying time and duration, for the
	// example's output.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{}
			}
			return a
		},
	}))
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})
	h := middleware.Logger(middleware.LoggerOptions{Logger: logger, SkipPaths: []string{"/healthz"}})(
		middleware.RequestID(middleware.RequestIDOptions{})(hello))

	for _, path := range []string{"/hello", "/healthz"} {
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = "192.0.2.1:1234"
		req.Header.Set("X-Request-Id", "req-1")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	// Output:
	// level=INFO msg=request method=GET path=/hello status=200 bytes=5 protocol=HTTP/1.1 remote=192.0.2.1:1234 request_id=req-1
}
