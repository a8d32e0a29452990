package middleware

// Internal tests of RateLimit: they set the clock of RateLimitOptions, so
// every header value is exact.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
)

// rlClock is a clock that moves only when told to.
type rlClock struct {
	mu sync.Mutex
	t  time.Time
}

func newRLClock() *rlClock { return &rlClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *rlClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *rlClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rlWant is what a response must say.
type rlWant struct {
	status                  int
	limit, remaining, reset string
	retryAfter              string // "" for none
}

func rlCheck(t *testing.T, what string, status int, h http.Header, want rlWant) {
	t.Helper()
	got := rlWant{status, h.Get("RateLimit-Limit"), h.Get("RateLimit-Remaining"), h.Get("RateLimit-Reset"), h.Get("Retry-After")}
	if got != want {
		t.Errorf("%s: got %+v, want %+v", what, got, want)
	}
}

var rlOK = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })

func rlServe(h http.Handler, key string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Client", key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func rlByHeader(r *http.Request) string { return r.Header.Get("X-Client") }

// TestRateLimitBucket: a burst, then 429 until a token comes back, and
// the header fields at every step.
func TestRateLimitBucket(t *testing.T) {
	clock := newRLClock()
	// 3 requests per 3s: one token a second, a bucket of 3.
	h := RateLimit(RateLimitOptions{Requests: 3, Period: 3 * time.Second, now: clock.now})(rlOK)
	steps := []struct {
		advance time.Duration
		want    rlWant
	}{
		{0, rlWant{200, "3", "2", "1", ""}},
		{0, rlWant{200, "3", "1", "2", ""}},
		{0, rlWant{200, "3", "0", "3", ""}},
		{0, rlWant{429, "3", "0", "3", "1"}},
		{500 * time.Millisecond, rlWant{429, "3", "0", "3", "1"}}, // half a token: 2.5s to full
		{500 * time.Millisecond, rlWant{200, "3", "0", "3", ""}},
		{1500 * time.Millisecond, rlWant{200, "3", "0", "3", ""}}, // 1.5 tokens, one taken
		{time.Hour, rlWant{200, "3", "2", "1", ""}},               // full again
	}
	for i, s := range steps {
		clock.advance(s.advance)
		rec := rlServe(h, "")
		rlCheck(t, fmt.Sprintf("step %d", i), rec.Code, rec.Header(), s.want)
		wantBody := "ok"
		if s.want.status == 429 {
			wantBody = "Too Many Requests\n"
		}
		if rec.Body.String() != wantBody {
			t.Errorf("step %d: body %q, want %q", i, rec.Body.String(), wantBody)
		}
	}
}

// TestRateLimitRounding: Retry-After and RateLimit-Reset round up to
// whole seconds, without float noise.
func TestRateLimitRounding(t *testing.T) {
	clock := newRLClock()
	// 3 a second: a token every 333ms.
	h := RateLimit(RateLimitOptions{Requests: 3, Burst: 1, now: clock.now})(rlOK)
	rlServe(h, "")
	rec := rlServe(h, "")
	rlCheck(t, "a third of a second", rec.Code, rec.Header(), rlWant{429, "1", "0", "1", "1"})
	clock = newRLClock()
	// 1 per 90s, bucket of 2.
	h = RateLimit(RateLimitOptions{Requests: 1, Period: 90 * time.Second, Burst: 2, now: clock.now})(rlOK)
	rec = rlServe(h, "")
	rlCheck(t, "first", rec.Code, rec.Header(), rlWant{200, "2", "1", "90", ""})
	rec = rlServe(h, "")
	rlCheck(t, "second", rec.Code, rec.Header(), rlWant{200, "2", "0", "180", ""})
	clock.advance(30*time.Second + time.Millisecond)
	rec = rlServe(h, "")
	rlCheck(t, "third", rec.Code, rec.Header(), rlWant{429, "2", "0", "150", "60"})
}

// TestRateLimitKeys: clients are independent, and the default key is the
// client's address with IPv6 cut to /64.
func TestRateLimitKeys(t *testing.T) {
	clock := newRLClock()
	h := RateLimit(RateLimitOptions{Requests: 1, Period: time.Hour, Key: rlByHeader, now: clock.now})(rlOK)
	for _, step := range []struct {
		key    string
		status int
	}{{"a", 200}, {"a", 429}, {"b", 200}, {"a", 429}, {"b", 429}, {"", 200}, {"", 429}} {
		if got := rlServe(h, step.key).Code; got != step.status {
			t.Errorf("key %q: %d, want %d", step.key, got, step.status)
		}
	}

	tests := []struct {
		remote   string
		clientIP string // set in the request info, as ClientIP does
		want     string
	}{
		{"192.0.2.1:1234", "", "192.0.2.1"},
		{"192.0.2.1:1234", "198.51.100.7", "198.51.100.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.1]:80", "", "192.0.2.1"},
		{"[fe80::1%eth0]:80", "", "fe80::/64"},
		{"192.0.2.9", "", "192.0.2.9"},
		{"@", "", "@"},
		{"", "", ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tt.remote
		if tt.clientIP != "" {
			var info *requestInfo
			r, info = withInfo(r)
			info.clientIP = netip.MustParseAddr(tt.clientIP)
		}
		if got := rateLimitKey(r); got != tt.want {
			t.Errorf("rateLimitKey(%q, ClientIP %q) = %q, want %q", tt.remote, tt.clientIP, got, tt.want)
		}
	}
}

// TestRateLimitMaxKeys: memory stays bounded by MaxKeys, and the client
// seen least recently is the one forgotten.
func TestRateLimitMaxKeys(t *testing.T) {
	clock := newRLClock()
	l := newRateLimiter(RateLimitOptions{Requests: 1, Period: time.Hour, MaxKeys: 3, Key: rlByHeader, now: clock.now})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.serve(w, r) {
			rlOK(w, r)
		}
	})
	for i := range 1000 {
		rlServe(h, strconv.Itoa(i))
		if n := l.keys(); n > 3 {
			t.Fatalf("after %d clients, %d tracked; want at most 3", i+1, n)
		}
	}
	if n := l.keys(); n != 3 {
		t.Fatalf("%d tracked, want 3", n)
	}
	l = newRateLimiter(RateLimitOptions{Requests: 1, Period: time.Hour, MaxKeys: 3, Key: rlByHeader, now: clock.now})
	for _, k := range []string{"a", "b", "c", "a", "d"} { // "a" seen again: "b" is forgotten
		rlServe(h, k)
	}
	if got := rlServe(h, "a").Code; got != 429 {
		t.Errorf("a (tracked, spent): %d, want 429", got)
	}
	if got := rlServe(h, "b").Code; got != 200 {
		t.Errorf("b (forgotten, so new): %d, want 200", got)
	}
	if _, ok := l.buckets["c"]; ok {
		t.Error("c is still tracked after b came back; want it forgotten")
	}
	if n := len(l.buckets); n != 3 || l.lru.Len() != 3 {
		t.Errorf("map %d, list %d; want 3 and 3", n, l.lru.Len())
	}
}

// TestRateLimitWire: the same answers in every mode, the 429 body and the
// custom Handler included.
func TestRateLimitWire(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		clock := newRLClock()
		mux := http.NewServeMux()
		mux.Handle("/default", RateLimit(RateLimitOptions{Requests: 1, Period: time.Minute, Burst: 2, now: clock.now})(rlOK))
		mux.Handle("/custom", RateLimit(RateLimitOptions{Requests: 1, Period: time.Minute, Key: rlByHeader, now: clock.now,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				io.WriteString(w, `{"error":"slow down"}`)
			})})(rlOK))
		ts := h2ctest.NewServer(t, mux)
		c := ts.Client(t, mode)
		get := func(path, key string) (*http.Response, string) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
			req.Header.Set("X-Client", key)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			return resp, string(h2ctest.ReadBody(t, resp))
		}
		steps := []struct {
			path, key string
			want      rlWant
			body      string
		}{
			{"/default", "", rlWant{200, "2", "1", "60", ""}, "ok"},
			{"/default", "", rlWant{200, "2", "0", "120", ""}, "ok"},
			{"/default", "", rlWant{429, "2", "0", "120", "60"}, "Too Many Requests\n"},
			{"/custom", "x", rlWant{200, "1", "0", "60", ""}, "ok"},
			{"/custom", "x", rlWant{429, "1", "0", "60", "60"}, `{"error":"slow down"}`},
			{"/custom", "y", rlWant{200, "1", "0", "60", ""}, "ok"},
		}
		for i, s := range steps {
			resp, body := get(s.path, s.key)
			rlCheck(t, fmt.Sprintf("step %d", i), resp.StatusCode, resp.Header, s.want)
			if body != s.body {
				t.Errorf("step %d: body %q, want %q", i, body, s.body)
			}
			if resp.ProtoMajor != h2ctest.WantProto(mode) {
				t.Errorf("step %d: response over %s in mode %s", i, resp.Proto, mode)
			}
		}
	})
}

func TestRateLimitInvalidOptions(t *testing.T) {
	tests := []struct {
		opts RateLimitOptions
		want string
	}{
		{RateLimitOptions{}, "middleware: RateLimit: Requests must be positive, got 0"},
		{RateLimitOptions{Requests: -1}, "middleware: RateLimit: Requests must be positive, got -1"},
		{RateLimitOptions{Requests: 1, Period: -time.Second}, "middleware: RateLimit: Period must not be negative, got -1s"},
		{RateLimitOptions{Requests: 1, Burst: -1}, "middleware: RateLimit: Burst must not be negative, got -1"},
		{RateLimitOptions{Requests: 1, MaxKeys: -1}, "middleware: RateLimit: MaxKeys must not be negative, got -1"},
	}
	for _, tt := range tests {
		func() {
			defer func() {
				if p := recover(); p != tt.want {
					t.Errorf("%+v: panic %v, want %q", tt.opts, p, tt.want)
				}
			}()
			RateLimit(tt.opts)
		}()
	}
}
