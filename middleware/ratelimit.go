package middleware

import (
	"container/list"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultRateLimitMaxKeys is the number of clients RateLimit keeps track
// of when RateLimitOptions.MaxKeys is zero.
const DefaultRateLimitMaxKeys = 10000

// RateLimitOptions configures RateLimit. Requests is required.
type RateLimitOptions struct {
	// Requests is how many requests a client may make per Period, on
	// average over time. It must be positive.
	Requests int

	// Period is the span over which Requests are allowed. Default one
	// second.
	Period time.Duration

	// Burst is how many requests a client may make at once: the size of
	// its token bucket, full for a new client. Default Requests.
	Burst int

	// Key names the client a request counts against. Requests for which
	// it returns the same string share one allowance ("" included).
	// Default: the client's address (the one ClientIP found, if it runs
	// before RateLimit, else the host of r.RemoteAddr), with IPv6
	// addresses grouped by /64, since one client commonly holds a whole
	// /64.
	Key func(r *http.Request) string

	// MaxKeys bounds the number of clients tracked, and so the memory
	// used: when a new client comes and MaxKeys are tracked, the one
	// seen least recently is forgotten (and starts afresh, with a full
	// bucket, if it comes back). Default DefaultRateLimitMaxKeys.
	MaxKeys int

	// Handler, if set, writes the answer to a request over the limit,
	// instead of the default 429 with a short text. The Retry-After and
	// RateLimit-* header fields are already set when it runs.
	Handler http.Handler

	now func() time.Time // the clock; time.Now if nil (tests set it)
}

// RateLimit limits how often each client may make requests, with a token
// bucket per client (golang.org/x/time/rate): a client may make Burst
// requests at once, and gets a new one every Period/Requests. A request
// over the limit is answered 429 Too Many Requests, with Retry-After in
// whole seconds, rounded up, until the client may try again.
//
// Every response, allowed or refused, carries the fields of the IETF
// draft "RateLimit Fields for HTTP", in the form of
// draft-ietf-httpapi-ratelimit-headers-06 (the last with one field per
// value, which most clients read; later drafts merged them into one
// structured RateLimit field):
//
//	RateLimit-Limit:     the client's Burst, the most it can have
//	RateLimit-Remaining: requests it may make right now (after this one)
//	RateLimit-Reset:     seconds, rounded up, until its bucket is full again
//
// Clients are tracked in memory, at most MaxKeys of them (least recently
// seen are forgotten first), so one RateLimit limits one server process.
// It works alike on every protocol: each HTTP/2 stream is a request.
// RateLimit panics if Requests is not positive, or Period, Burst or
// MaxKeys is negative.
func RateLimit(o RateLimitOptions) func(http.Handler) http.Handler {
	l := newRateLimiter(o)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if l.serve(w, r) {
				next.ServeHTTP(w, r)
			}
		})
	}
}

// rateLimiter is RateLimit's state: the options and the clients' buckets,
// in order of use.
type rateLimiter struct {
	o     RateLimitOptions
	every rate.Limit // tokens per second

	mu      sync.Mutex
	buckets map[string]*list.Element // of *rateBucket
	lru     list.List                // most recently used at the front
}

type rateBucket struct {
	key string
	lim *rate.Limiter
}

func newRateLimiter(o RateLimitOptions) *rateLimiter {
	switch {
	case o.Requests <= 0:
		panic(fmt.Sprintf("middleware: RateLimit: Requests must be positive, got %d", o.Requests))
	case o.Period < 0:
		panic(fmt.Sprintf("middleware: RateLimit: Period must not be negative, got %v", o.Period))
	case o.Burst < 0:
		panic(fmt.Sprintf("middleware: RateLimit: Burst must not be negative, got %d", o.Burst))
	case o.MaxKeys < 0:
		panic(fmt.Sprintf("middleware: RateLimit: MaxKeys must not be negative, got %d", o.MaxKeys))
	}
	if o.Period == 0 {
		o.Period = time.Second
	}
	if o.Burst == 0 {
		o.Burst = o.Requests
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = DefaultRateLimitMaxKeys
	}
	if o.Key == nil {
		o.Key = rateLimitKey
	}
	if o.now == nil {
		o.now = time.Now
	}
	return &rateLimiter{
		o:       o,
		every:   rate.Limit(float64(o.Requests) / o.Period.Seconds()),
		buckets: make(map[string]*list.Element),
	}
}

// bucket returns the limiter of key, making it if need be and forgetting
// the least recently used one if there are too many.
func (l *rateLimiter) bucket(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.buckets[key]; ok {
		l.lru.MoveToFront(e)
		return e.Value.(*rateBucket).lim
	}
	if l.lru.Len() >= l.o.MaxKeys {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.buckets, old.Value.(*rateBucket).key)
	}
	b := &rateBucket{key: key, lim: rate.NewLimiter(l.every, l.o.Burst)}
	l.buckets[key] = l.lru.PushFront(b)
	return b.lim
}

// keys returns the number of clients tracked.
func (l *rateLimiter) keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// serve takes a token for r, sets the header fields, and reports whether
// r may go on; if not, it has answered it.
func (l *rateLimiter) serve(w http.ResponseWriter, r *http.Request) bool {
	now := l.o.now()
	lim := l.bucket(l.o.Key(r))
	ok := lim.AllowN(now, 1)
	tokens := lim.TokensAt(now)
	burst := float64(l.o.Burst)
	tokens = min(max(tokens, 0), burst)

	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(l.o.Burst))
	h.Set("RateLimit-Remaining", strconv.Itoa(int(math.Floor(tokens))))
	h.Set("RateLimit-Reset", strconv.FormatInt(l.seconds(burst-tokens), 10))
	if ok {
		return true
	}
	h.Set("Retry-After", strconv.FormatInt(max(l.seconds(1-tokens), 1), 10))
	if l.o.Handler != nil {
		l.o.Handler.ServeHTTP(w, r)
	} else {
		http.Error(w, http.StatusText(http.StatusTooManyRequests), http.StatusTooManyRequests)
	}
	return false
}

// seconds returns the whole seconds, rounded up, that the bucket takes to
// gain n tokens.
func (l *rateLimiter) seconds(n float64) int64 {
	if n <= 0 {
		return 0
	}
	// Forgive float noise: 1/3 of a token at 3 a second is 1s, not 2s.
	return int64(math.Ceil(n/float64(l.every) - 1e-9))
}

// rateLimitKey is RateLimit's default Key: the client's address, with IPv6
// addresses cut to their /64.
func rateLimitKey(r *http.Request) string {
	var a netip.Addr
	if info := infoFrom(r.Context()); info != nil && info.clientIP.IsValid() {
		a = info.clientIP
	} else if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(r.RemoteAddr); err != nil {
		return r.RemoteAddr // not an IP address: a Unix socket, say
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
