package middleware

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
)

// RecovererOptions configures Recoverer. The zero value is ready to use.
type RecovererOptions struct {
	// Logger receives a line at level Error for every panic. Default:
	// slog.Default() at the time of the panic.
	Logger *slog.Logger
}

// Recoverer turns a panic in the next handler into the best answer still
// possible, and logs it at level Error with the panic value, the stack,
// the request's method, path and protocol, and its ID if RequestID runs
// (before or after Recoverer).
//
//   - If no response header was written yet, the client gets 500
//     Internal Server Error with a plain text body. Header fields that
//     the handler set and that would describe a body or its caching
//     (Content-*, ETag, Last-Modified, Cache-Control, Expires, Trailer,
//     Set-Cookie and the like) are removed first; others, such as the
//     request ID, stay.
//   - If the header already went out, the response is aborted by
//     panicking with http.ErrAbortHandler: over HTTP/1.1 net/http closes
//     the connection, so the client sees a truncated response; over
//     HTTP/2 only the stream is reset and the connection goes on serving
//     other streams.
//   - If the handler hijacked the connection, nothing is written: the
//     connection is the handler's.
//
// A panic with http.ErrAbortHandler itself is the handler's way to abort a
// response; it passes through untouched and is not logged. A *PanicError
// (from Timeout, which runs the handler in a goroutine of its own) is
// logged with its Value and the handler's Stack.
//
// Put Recoverer first, outside the other middleware, so that it catches
// their panics too.
func Recoverer(o RecovererOptions) func(http.Handler) http.Handler {
	logger := o.Logger
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, info := withInfo(r)
			rw, pooled := getWatchWriter(w)
			defer func() {
				v := recover()
				if v == nil {
					if pooled {
						putWatchWriter(rw)
					}
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				value, stack := v, []byte(nil)
				if pe, ok := v.(*PanicError); ok { // raised again by Timeout
					value, stack = pe.Value, pe.Stack
				}
				var outcome string
				switch {
				case rw.Hijacked():
					outcome = "hijacked"
				case rw.WroteHeader():
					outcome = "aborted"
				default:
					outcome = "500"
				}
				l := logger
				if l == nil {
					l = slog.Default()
				}
				ctx := r.Context()
				if l.Enabled(ctx, slog.LevelError) {
					if stack == nil {
						stack = debug.Stack()
					}
					attrs := [...]slog.Attr{
						slog.Any("panic", value),
						slog.String("method", r.Method),
						slog.String("path", r.URL.Path),
						slog.String("protocol", logProtocol(r)),
						slog.String("response", outcome),
						slog.String("stack", string(stack)),
						{},
					}
					n := 6
					if info.id != "" {
						attrs[n] = slog.String("request_id", info.id)
						n++
					}
					l.LogAttrs(ctx, slog.LevelError, "handler panicked", attrs[:n]...)
				}
				switch outcome {
				case "hijacked":
					return
				case "aborted":
					panic(http.ErrAbortHandler)
				}
				h := rw.Header()
				for k := range h {
					if dropOnPanic(k) {
						delete(h, k)
					}
				}
				h.Set("Content-Type", "text/plain; charset=utf-8")
				h.Set("X-Content-Type-Options", "nosniff")
				rw.WriteHeader(http.StatusInternalServerError)
				rw.WriteString("Internal Server Error\n")
				if pooled {
					putWatchWriter(rw)
				}
			}()
			next.ServeHTTP(rw, r)
		})
	}
}

// dropOnPanic reports whether Recoverer removes the header field k before it writes a 500: the fields that describe the
// body the handler meant to send, or say how to cache it.
func dropOnPanic(k string) bool {
	if strings.HasPrefix(k, http.TrailerPrefix) {
		return true
	}
	k = http.CanonicalHeaderKey(k)
	if strings.HasPrefix(k, "Content-") {
		return true
	}
	switch k {
	case "Etag", "Last-Modified", "Cache-Control", "Expires", "Age", "Trailer",
		"Transfer-Encoding", "Accept-Ranges", "Set-Cookie", "Location", "Refresh":
		return true
	}
	return false
}
