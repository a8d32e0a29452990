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

// TestRateLimitMaxKeys: memory stays bounded by MaxKeys; a client is
// forgotten only once its bucket is full again, the one full first; until
// then new clients share the overflow bucket, and a spent client stays
// spent however many others come.
func TestRateLimitMaxKeys(t *testing.T) {
	clock := newRLClock()
	newLimiter := func(maxKeys int) (*rateLimiter, http.Handler) {
		l := newRateLimiter(RateLimitOptions{Requests: 1, Period: time.Hour, MaxKeys: maxKeys, Key: rlByHeader, now: clock.now})
		return l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if l.serve(w, r) {
				rlOK(w, r)
			}
		})
	}
	l, h := newLimiter(3)
	for i := range 1000 {
		rlServe(h, strconv.Itoa(i))
		if n := l.keys(); n > 3 {
			t.Fatalf("after %d clients, %d tracked; want at most 3", i+1, n)
		}
	}
	if n := l.keys(); n != 3 || len(l.full) != 3 {
		t.Fatalf("%d tracked, %d in the heap; want 3 and 3", n, len(l.full))
	}

	l, h = newLimiter(3)
	steps := []struct {
		advance time.Duration
		key     string
		want    rlWant
	}{
		{0, "a", rlWant{200, "1", "0", "3600", ""}},                    // full again at 60m
		{0, "b", rlWant{200, "1", "0", "3600", ""}},                    // at 60m
		{20 * time.Minute, "c", rlWant{200, "1", "0", "3600", ""}},     // at 80m
		{0, "d", rlWant{200, "1", "0", "3600", ""}},                    // all three spent: d takes the overflow
		{0, "e", rlWant{429, "1", "0", "3600", "3600"}},                // which e shares
		{0, "a", rlWant{429, "1", "0", "2400", "2400"}},                // a is not forgotten: still spent
		{30 * time.Minute, "f", rlWant{429, "1", "0", "1800", "1800"}}, // 50m: nobody full yet, the overflow half back
		{10 * time.Minute, "f", rlWant{200, "1", "0", "3600", ""}},     // 60m: a and b are full again; f takes a's place
		{0, "g", rlWant{200, "1", "0", "3600", ""}},                    // and g b's
		{0, "h", rlWant{429, "1", "0", "1200", "1200"}},                // c is not full yet: the overflow
		{0, "c", rlWant{429, "1", "0", "1200", "1200"}},                // c is tracked, still spending
		{0, "a", rlWant{429, "1", "0", "1200", "1200"}},                // a, forgotten when full, comes back: the overflow
		{20 * time.Minute, "h", rlWant{200, "1", "0", "3600", ""}},     // 80m: c is full; h takes its place
		{0, "c", rlWant{200, "1", "0", "3600", ""}},                    // c, forgotten, gets the overflow, full again
	}
	for i, s := range steps {
		clock.advance(s.advance)
		rec := rlServe(h, s.key)
		rlCheck(t, fmt.Sprintf("step %d (%s)", i, s.key), rec.Code, rec.Header(), s.want)
	}
	for _, k := range []string{"f", "g", "h"} {
		if _, ok := l.buckets[k]; !ok {
			t.Errorf("%s not tracked", k)
		}
	}
	if n := l.keys(); n != 3 || len(l.full) != 3 {
		t.Errorf("%d tracked, %d in the heap; want 3 and 3", n, len(l.full))
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

// TestRateLimitKeyChurn attacks a live server, in every mode, with more
// clients than MaxKeys (IPv6 /64s named by a trusted proxy's
// X-Forwarded-For, with a new host in the /64 every round) that come back
// round after round, so that every new one pushes another out of the
// table. Forgetting a client must not hand it a full bucket again: the
// server allows at most what MaxKeys+1 clients' bursts hold (the tracked
// clients and the overflow bucket), the clients that got a place get
// their whole burst, and at most MaxKeys are tracked at any time.
func TestRateLimitKeyChurn(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		for _, tc := range []struct{ maxKeys, clients, rounds, burst int }{
			{100, 101, 5, 1}, // issue 10: 101 /64s and MaxKeys 100 were all allowed
			{10, 40, 6, 3},
		} {
			clock := newRLClock() // stopped: no token comes back during the test
			l := newRateLimiter(RateLimitOptions{Requests: tc.burst, Period: time.Hour, MaxKeys: tc.maxKeys, now: clock.now})
			ts := h2ctest.NewServer(t, ClientIP(churnClientIPOptions)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if l.serve(w, r) {
					rlOK(w, r)
				}
			})))
			c := ts.Client(t, mode)
			allowed := 0
			for round := range tc.rounds {
				for i := range tc.clients {
					req, _ := http.NewRequest(http.MethodGet, ts.URL+"/", nil)
					req.Header.Set("X-Forwarded-For", fmt.Sprintf("2001:db8:%x::%x", i, round+1))
					resp, err := c.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					h2ctest.ReadBody(t, resp)
					switch resp.StatusCode {
					case http.StatusOK:
						allowed++
					case http.StatusTooManyRequests:
					default:
						t.Fatalf("status %d", resp.StatusCode)
					}
					if n := l.keys(); n > tc.maxKeys {
						t.Fatalf("%d clients tracked, MaxKeys %d", n, tc.maxKeys)
					}
				}
			}
			budget := (min(tc.clients, tc.maxKeys) + 1) * tc.burst
			if allowed > budget || allowed < tc.maxKeys*tc.burst {
				t.Errorf("%+v: %d of %d requests allowed; want %d to %d (MaxKeys+1 bursts at most)",
					tc, allowed, tc.clients*tc.rounds, tc.maxKeys*tc.burst, budget)
			}
		}
	})
}

var churnClientIPOptions = ClientIPOptions{
	Header:         "X-Forwarded-For",
	TrustedProxies: TrustedProxies{Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
}

// TestRateLimitKeyChurnConcurrent: the same bound when the rotating
// clients come at once, from many goroutines (run with -race).
func TestRateLimitKeyChurnConcurrent(t *testing.T) {
	clock := newRLClock()
	const maxKeys, clients, burst, workers, perWorker = 10, 40, 2, 8, 100
	l := newRateLimiter(RateLimitOptions{Requests: burst, Period: time.Hour, MaxKeys: maxKeys, Key: rlByHeader, now: clock.now})
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.Header.Set("X-Client", strconv.Itoa((w*perWorker+i)%clients))
				if l.serve(rec, req) {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if budget := (maxKeys + 1) * burst; allowed > budget {
		t.Errorf("%d of %d requests allowed; want at most %d", allowed, workers*perWorker, budget)
	}
	if n := l.keys(); n > maxKeys {
		t.Errorf("%d clients tracked, MaxKeys %d", n, maxKeys)
	}
}
