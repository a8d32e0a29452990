package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

// TestThrottleBoundsRequestsInFlight attacks a live server on every
// protocol with more requests than Limit+Backlog at once: exactly the
// surplus is refused with 503 and Retry-After while the rest are held,
// no more than Limit handlers ever run together, and once released every
// admitted request is served.
func TestThrottleBoundsRequestsInFlight(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		const limit, backlog, total = 3, 4, 20
		var running, peak, served atomic.Int32
		release := make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-release
			running.Add(-1)
			served.Add(1)
			w.Write([]byte("ok"))
		})
		ts := h2ctest.NewServer(t, middleware.Throttle(middleware.ThrottleOptions{
			Limit: limit, Backlog: backlog, BacklogTimeout: time.Hour,
		})(h))
		client := ts.Client(t, mode)

		type result struct {
			status     int
			retryAfter string
		}
		results := make(chan result, total)
		var wg sync.WaitGroup
		for range total {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := client.Get(ts.URL + "/")
				if err != nil {
					t.Error(err)
					results <- result{}
					return
				}
				h2ctest.ReadBody(t, resp)
				results <- result{resp.StatusCode, resp.Header.Get("Retry-After")}
			}()
		}
		// The surplus is refused while the others are held.
		for range total - limit - backlog {
			r := <-results
			if r.status != http.StatusServiceUnavailable || r.retryAfter != "1" {
				t.Fatalf("refusal: %d Retry-After %q, want 503 with Retry-After 1", r.status, r.retryAfter)
			}
		}
		close(release)
		wg.Wait()
		close(results)
		ok := 0
		for r := range results {
			if r.status != http.StatusOK {
				t.Errorf("admitted request answered %d", r.status)
			}
			ok++
		}
		if ok != limit+backlog || served.Load() != limit+backlog {
			t.Errorf("served %d (handler ran %d), want %d", ok, served.Load(), limit+backlog)
		}
		if p := peak.Load(); p > limit {
			t.Errorf("%d handlers ran at once, Limit is %d", p, limit)
		}
	})
}

// TestThrottleBacklogTimeout: a request that waits longer than
// BacklogTimeout is refused and never reaches the handler.
func TestThrottleBacklogTimeout(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		var calls atomic.Int32
		release, started := make(chan struct{}), make(chan struct{}, 1)
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			started <- struct{}{}
			<-release
		})
		ts := h2ctest.NewServer(t, middleware.Throttle(middleware.ThrottleOptions{
			Limit: 1, Backlog: 1, BacklogTimeout: 10 * time.Millisecond, RetryAfter: 1500 * time.Millisecond,
		})(h))
		client := ts.Client(t, mode)
		first := make(chan int, 1)
		go func() {
			resp, err := client.Get(ts.URL + "/")
			if err != nil {
				t.Error(err)
				first <- 0
				return
			}
			h2ctest.ReadBody(t, resp)
			first <- resp.StatusCode
		}()
		<-started
		resp, err := client.Get(ts.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		h2ctest.ReadBody(t, resp)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" {
			t.Errorf("waited request: %d Retry-After %q, want 503 with Retry-After 2", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		close(release)
		if s := <-first; s != http.StatusOK {
			t.Errorf("first request answered %d", s)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("handler ran %d times, want 1", n)
		}
	})
}

// TestThrottleClientGone: a request whose context ends while it waits is
// refused without running the handler, and the place it held is free.
func TestThrottleClientGone(t *testing.T) {
	var calls atomic.Int32
	release, started := make(chan struct{}), make(chan struct{})
	h := middleware.Throttle(middleware.ThrottleOptions{Limit: 1, Backlog: 1})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			close(started)
			<-release
		}
	}))
	go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	if rec.Code != http.StatusServiceUnavailable || calls.Load() != 1 {
		t.Errorf("gone client: %d, handler ran %d times; want 503 and 1", rec.Code, calls.Load())
	}
	close(release)
	for range 2 { // both places are free again
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != http.StatusOK {
			t.Errorf("after release: %d", rec.Code)
		}
	}
}

// TestThrottlePanicFreesPlace: a panicking handler gives its place back.
func TestThrottlePanicFreesPlace(t *testing.T) {
	h := middleware.Throttle(middleware.ThrottleOptions{Limit: 1})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic(http.ErrAbortHandler)
		}
	}))
	func() {
		defer func() { recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/panic", nil))
	}()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("after a panic: %d, want 200", rec.Code)
	}
}

// TestThrottleUpgradesPassThrough: a WebSocket handshake takes no place.
func TestThrottleUpgradesPassThrough(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	h := middleware.Throttle(middleware.ThrottleOptions{Limit: 1})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			close(started)
			<-release
		}
	}))
	go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/block", nil))
	<-started
	req := httptest.NewRequest("GET", "/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("WebSocket handshake with the place taken: %d, want 200", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("plain request with the place taken: %d, want 503", rec.Code)
	}
}

func TestThrottleBadOptions(t *testing.T) {
	for _, o := range []middleware.ThrottleOptions{{}, {Limit: -1}, {Limit: 1, Backlog: -1}, {Limit: 1, BacklogTimeout: -1}, {Limit: 1, RetryAfter: -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Throttle(%+v) did not panic", o)
				}
			}()
			middleware.Throttle(o)
		}()
	}
}
