package main

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/molt-http/molt/server"
)

// logRequests returns middleware that logs one line per request, with the
// protocol it came by.
func logRequests(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("proto", string(server.ProtocolOf(r))),
				slog.String("method", r.Method),
				slog.String("uri", r.RequestURI),
				slog.Int("status", rec.status()),
				slog.Int64("bytes", rec.bytes),
				slog.Duration("dur", time.Since(start)),
				slog.String("remote", r.RemoteAddr),
			)
		})
	}
}

// http.ResponseController must reach the connection's writer through
// every ResponseWriter wrapper.
var _ interface{ Unwrap() http.ResponseWriter } = (*statusRecorder)(nil)

// statusRecorder remembers the status and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 && code >= 200 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
