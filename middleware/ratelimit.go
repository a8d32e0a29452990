package middleware

import (
	"container/heap"
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
	// used. A client is forgotten only once its bucket is full again,
	// when forgetting it loses nothing: a new bucket starts full too. A
	// new client that comes while MaxKeys are tracked takes the place of
	// one whose bucket is full, if there is one; if not, it shares one
	// overflow bucket (of Burst, refilled at the same rate) with every
	// other client not tracked, until a place frees up. So a client
	// cannot win a fresh allowance by pushing itself out of the table
	// with other keys, and the whole server never allows more than
	// MaxKeys+1 clients would get. Default DefaultRateLimitMaxKeys.
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
// Clients are tracked in memory, at most MaxKeys of them, so one RateLimit
// limits one server process. A client is forgotten only when its bucket
// is full again; while every tracked client is still spending, new ones
// share one overflow bucket (see MaxKeys), so rotating keys (IPv6
// prefixes, say) is no way around the limit.
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
// in a heap by the time each is full again.
type rateLimiter struct {
	o     RateLimitOptions
	every rate.Limit // tokens per second

	mu       sync.Mutex
	buckets  map[string]*rateBucket
	full     bucketHeap  // the same buckets, the one full again first on top
	overflow *rateBucket // shared by the clients not tracked; never in the heap
}

// rateBucket is one client's token bucket, or the overflow bucket.
type rateBucket struct {
	key    string
	lim    *rate.Limiter
	fullAt time.Time // when lim is full again
	index  int       // in rateLimiter.full; -1 for the overflow bucket
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
	l := &rateLimiter{
		o:       o,
		every:   rate.Limit(float64(o.Requests) / o.Period.Seconds()),
		buckets: make(map[string]*rateBucket),
	}
	l.overflow = &rateBucket{lim: rate.NewLimiter(l.every, o.Burst), index: -1}
	return l
}

// bucketLocked returns the bucket of key. A new client gets a bucket of
// its own if fewer than MaxKeys are tracked, or the place of a client
// whose bucket is full again; otherwise the overflow bucket.
func (l *rateLimiter) bucketLocked(key string, now time.Time) *rateBucket {
	if b, ok := l.buckets[key]; ok {
		return b
	}
	if len(l.full) < l.o.MaxKeys {
		b := &rateBucket{key: key, lim: rate.NewLimiter(l.every, l.o.Burst), fullAt: now}
		heap.Push(&l.full, b)
		l.buckets[key] = b
		return b
	}
	b := l.full[0]
	if b.lim.TokensAt(now) < float64(l.o.Burst) {
		return l.overflow // every tracked client is still spending
	}
	// b is full, as a new bucket would be: hand it over as it is.
	delete(l.buckets, b.key)
	b.key = key
	l.buckets[key] = b
	return b
}

// take takes a token from key's bucket at now, if it has one, and
// returns whether it did and the tokens left.
func (l *rateLimiter) take(key string, now time.Time) (ok bool, tokens float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(key, now)
	ok = b.lim.AllowN(now, 1)
	tokens = min(max(b.lim.TokensAt(now), 0), float64(l.o.Burst))
	if b.index >= 0 {
		b.fullAt = now.Add(l.duration(float64(l.o.Burst) - tokens))
		heap.Fix(&l.full, b.index)
	}
	return ok, tokens
}

// keys returns the number of clients tracked.
func (l *rateLimiter) keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// serve takes a token for r, sets the header fields, and reports whether
// r may go on; if not, it has answered it.
func (l *rateLimiter) serve(w http.ResponseWriter, r *http.Request) bool {
	ok, tokens := l.take(l.o.Key(r), l.o.now())
	burst := float64(l.o.Burst)

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

// duration returns the time the bucket takes to gain n tokens, at most
// 1<<62 nanoseconds (146 years).
func (l *rateLimiter) duration(n float64) time.Duration {
	return time.Duration(min(n/float64(l.every)*float64(time.Second), 1<<62))
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

// bucketHeap is a heap of buckets (container/heap), the one full again
// first on top.
type bucketHeap []*rateBucket

func (h bucketHeap) Len() int           { return len(h) }
func (h bucketHeap) Less(i, j int) bool { return h[i].fullAt.Before(h[j].fullAt) }

func (h bucketHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *bucketHeap) Push(x any) {
	b := x.(*rateBucket)
	b.index = len(*h)
	*h = append(*h, b)
}

func (h *bucketHeap) Pop() any {
	old := *h
	b := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return b
}
