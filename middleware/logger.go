package middleware

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/molt-http/molt/server"
)

// LoggerOptions configures Logger. The zero value is ready to use.
type LoggerOptions struct {
	// Logger receives the lines. Default: slog.Default() at the time of
	// each request.
	Logger *slog.Logger

	// SkipPaths lists URL paths (r.URL.Path, matched exactly) whose
	// requests are not logged, such as "/healthz". Default: none.
	SkipPaths []string

	// Level returns the level of the line for a response status. Default:
	// slog.LevelError for 5xx, slog.LevelWarn for 4xx but 499 (a client
	// that went away), slog.LevelInfo for everything else.
	Level func(status int) slog.Level
}

// Logger logs one line per request once it has been served, with the
// message "request" and these attributes:
//
//	method      the request method
//	path        r.URL.Path
//	status      the response status; 200 if the handler wrote nothing, 101
//	            if it hijacked the connection, 500 if it panicked before
//	            writing a header, and 499 (nginx's "client closed
//	            request", never sent) if it wrote nothing and the
//	            request's context was cancelled: the client went away,
//	            as when Timeout saw it leave before the deadline
//	bytes       the bytes of the response body written by the handler
//	duration    the time the handler took
//	protocol    how the request came: "h1", "h2c-upgrade" or "h2c-prior"
//	            (see server.ProtocolOf), or r.Proto if a molt server did
//	            not serve it
//	remote      the client's address if ClientIP ran, else r.RemoteAddr
//	request_id  the ID given by RequestID, if it ran
//	hijacked    true, only if the handler took over the connection
//	panic       true, only if the handler panicked (Recoverer, if it is
//	            outside Logger, then answers and logs the panic)
//
// Where Logger stands among RequestID and ClientIP does not matter: it
// sees what they found either way. If the logger is not enabled for the
// level of a line, nothing is formatted.
//
// The response writer that Logger passes on must not be used after the
// handler returns (the rule of net/http): Logger reuses it for later
// requests.
func Logger(o LoggerOptions) func(http.Handler) http.Handler {
	logger := o.Logger
	level := o.Level
	if level == nil {
		level = defaultLogLevel
	}
	var skip map[string]struct{}
	if len(o.SkipPaths) > 0 {
		skip = make(map[string]struct{}, len(o.SkipPaths))
		for _, p := range o.SkipPaths {
			skip[p] = struct{}{}
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if skip != nil {
				if _, ok := skip[r.URL.Path]; ok {
					next.ServeHTTP(w, r)
					return
				}
			}
			start := time.Now()
			r, info := withInfo(r)
			rw, pooled := getWatchWriter(w)
			returned := false
			defer func() {
				l := logger
				if l == nil {
					l = slog.Default()
				}
				status := rw.Status()
				if !returned && !rw.WroteHeader() {
					status = http.StatusInternalServerError
				} else if status == 0 {
					status = http.StatusOK
					if r.Context().Err() == context.Canceled {
						status = statusClientClosedRequest
					}
				}
				ctx := r.Context()
				if lvl := level(status); l.Enabled(ctx, lvl) {
					attrs := [...]slog.Attr{
						slog.String("method", r.Method),
						slog.String("path", r.URL.Path),
						slog.Int("status", status),
						slog.Int64("bytes", rw.BytesWritten()),
						slog.Duration("duration", time.Since(start)),
						slog.String("protocol", logProtocol(r)),
						slog.String("remote", logRemote(r, info.clientIP)),
						{},
						{},
						{},
					}
					n := 7
					if info.id != "" {
						attrs[n] = slog.String("request_id", info.id)
						n++
					}
					if rw.Hijacked() {
						attrs[n] = slog.Bool("hijacked", true)
						n++
					}
					if !returned {
						attrs[n] = slog.Bool("panic", true)
						n++
					}
					l.LogAttrs(ctx, lvl, "request", attrs[:n]...)
				}
				if returned && pooled {
					putWatchWriter(rw)
				}
			}()
			next.ServeHTTP(rw, r)
			returned = true
		})
	}
}

// statusClientClosedRequest is the status Logger logs for a request whose
// client went away before any answer was written: nginx's 499 "client
// closed request", never sent.
const statusClientClosedRequest = 499

func defaultLogLevel(status int) slog.Level {
	switch {
	case status == statusClientClosedRequest:
		return slog.LevelInfo // not the server's fault, nor the request's
	case status >= 500:
		return slog.LevelError
	case status >= 400:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// logProtocol returns server.ProtocolOf(r), or r.Proto.
func logProtocol(r *http.Request) string {
	if p := server.ProtocolOf(r); p != "" {
		return string(p)
	}
	return r.Proto
}

// logRemote returns client as a string, or r.RemoteAddr if client is
// not valid. When client is the host of r.RemoteAddr, as it is unless a
// proxy forwarded the request, that part of r.RemoteAddr is returned
// rather than a new string.
func logRemote(r *http.Request, client netip.Addr) string {
	if !client.IsValid() {
		return r.RemoteAddr
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && ap.Addr() == client {
		host := r.RemoteAddr[:strings.LastIndexByte(r.RemoteAddr, ':')]
		if len(host) > 1 && host[0] == '[' {
			host = host[1 : len(host)-1]
		}
		return host
	}
	return client.String()
}

// watchWriterPool holds the ResponseWriters of Logger and Recoverer between
// requests.
var watchWriterPool = sync.Pool{New: func() any { return new(ResponseWriter) }}

// getWatchWriter returns Wrap(w), taking a new wrapper from the pool if w is
// not a *ResponseWriter already; pooled reports whether it did.
func getWatchWriter(w http.ResponseWriter) (rw *ResponseWriter, pooled bool) {
	if rw, ok := w.(*ResponseWriter); ok {
		return rw, false
	}
	rw = watchWriterPool.Get().(*ResponseWriter)
	rw.w = w
	return rw, true
}

// putWatchWriter returns a wrapper from getWatchWriter to the pool, once the handler
// it was given to has returned.
func putWatchWriter(rw *ResponseWriter) {
	*rw = ResponseWriter{}
	watchWriterPool.Put(rw)
}
