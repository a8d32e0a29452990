package middleware

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// DefaultThrottleBacklogTimeout is how long a request waits in Throttle's
// backlog when ThrottleOptions.BacklogTimeout is zero.
const DefaultThrottleBacklogTimeout = 60 * time.Second

// ThrottleOptions configures Throttle. Limit is required.
type ThrottleOptions struct {
	// Limit is how many requests the handler serves at once. It must be
	// positive.
	Limit int

	// Backlog is how many more requests may wait for one of those places.
	// A request that finds Limit running and Backlog waiting is refused
	// at once. Default 0: none wait.
	Backlog int

	// BacklogTimeout is the longest a request waits in the backlog before
	// it is refused. Default DefaultThrottleBacklogTimeout.
	BacklogTimeout time.Duration

	// RetryAfter is sent in the Retry-After field of a refusal, in whole
	// seconds, rounded up. Default one second.
	RetryAfter time.Duration

	// Handler, if set, writes the refusal instead of the default 503
	// Service Unavailable with a short text. The Retry-After field is
	// already set when it runs.
	Handler http.Handler
}

// Throttle bounds the requests in flight through the handler it wraps, as
// chi's Throttle and ThrottleBacklog do: at most Limit run at once, at
// most Backlog more wait (each for up to BacklogTimeout) for a place, and
// every other request is answered 503 Service Unavailable with
// Retry-After. A request whose client goes away while it waits is
// answered 503 too (nobody reads it) and never reaches the handler. A
// handler that panics gives its place back.
//
// Long-lived requests (those IsUpgrade reports: WebSocket handshakes and
// HTTP/2 CONNECT streams) pass through without taking a place: each would
// hold its place for the life of its connection, so Limit of them would
// refuse every other request. Bound them where they are served, in the
// WebSocket or tunnel handler.
//
// Throttle panics if Limit is not positive or another option is
// negative.
func Throttle(opts ThrottleOptions) func(http.Handler) http.Handler {
	if opts.Limit <= 0 {
		panic(fmt.Sprintf("middleware: Throttle: Limit must be positive, got %d", opts.Limit))
	}
	if opts.Backlog < 0 || opts.BacklogTimeout < 0 || opts.RetryAfter < 0 {
		panic("middleware: Throttle: Backlog, BacklogTimeout and RetryAfter must not be negative")
	}
	if opts.BacklogTimeout == 0 {
		opts.BacklogTimeout = DefaultThrottleBacklogTimeout
	}
	if opts.RetryAfter == 0 {
		opts.RetryAfter = time.Second
	}
	refuse := opts.Handler
	if refuse == nil {
		refuse = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "server busy, retry later", http.StatusServiceUnavailable)
		})
	}
	retryAfter := strconv.FormatInt(int64((opts.RetryAfter+time.Second-1)/time.Second), 10)
	// admitted holds a token for every request running or waiting;
	// running one for every request running.
	admitted := make(chan struct{}, opts.Limit+opts.Backlog)
	running := make(chan struct{}, opts.Limit)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if IsUpgrade(r) {
				next.ServeHTTP(w, r)
				return
			}
			deny := func() {
				w.Header().Set("Retry-After", retryAfter)
				refuse.ServeHTTP(w, r)
			}
			select {
			case admitted <- struct{}{}:
			default:
				deny()
				return
			}
			defer func() { <-admitted }()
			select {
			case running <- struct{}{}:
			default:
				wait := time.NewTimer(opts.BacklogTimeout)
				defer wait.Stop()
				select {
				case running <- struct{}{}:
				case <-wait.C:
					deny()
					return
				case <-r.Context().Done():
					deny()
					return
				}
			}
			defer func() { <-running }()
			next.ServeHTTP(w, r)
		})
	}
}
