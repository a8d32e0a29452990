package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h1head"
	"github.com/molt-http/molt/internal/h2client"
	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/server"
	"golang.org/x/net/http2"
)

// bigBody is a request body larger than a server's initial windows.
var bigBody = bytes.Repeat([]byte("0123456789abcdef"), 20000)

// hello answers "hello" to requests that carry the configured header,
// and whose body, if longer than 64 bytes, is bigBody, whole.
// (The header is checked first: a WebSocket opened on it, whose body is
// a tunnel that never ends, is declined without reading.)
func hello(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Load") != "1" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if b, err := io.ReadAll(r.Body); err != nil || len(b) > 64 && !bytes.Equal(b, bigBody) {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	io.WriteString(w, "hello")
}

// checkNoLeaks fails t if goroutines of this package or of h2client are
// still running once t's other cleanups have run: Run must stop all of
// its own.
func checkNoLeaks(t *testing.T) {
	t.Cleanup(func() {
		var leaked []string
		for range 500 { // closed connections take a moment to be noticed
			leaked = leaked[:0]
			buf := make([]byte, 1<<20)
			for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")[1:] {
				if strings.Contains(g, "/internal/load.") || strings.Contains(g, "/internal/h2client.") {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("%d goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	})
}

// TestRunModes runs every mode against molt's server on both engines and
// checks the counts of the report.
func TestRunModes(t *testing.T) {
	checkNoLeaks(t)
	h2ctest.RunEngines(t, func(t *testing.T, e h2ctest.Engine) {
		ts := h2ctest.NewServer(t, http.HandlerFunc(hello), h2ctest.WithEngine(e))
		tests := []struct {
			name         string
			cfg          Config
			wantConnects uint64 // 0: do not check
		}{
			{"h1", Config{Mode: ModeH1, Conns: 2}, 2},
			{"h2c", Config{Mode: ModeH2C, Conns: 2, Streams: 8}, 2},
			{"h2c-upgrade", Config{Mode: ModeUpgrade, Conns: 2, Streams: 8}, 2},
			{"upgrade-every", Config{Mode: ModeUpgrade, Conns: 2, UpgradeEvery: true}, 120},
			{"h2c body", Config{Mode: ModeH2C, Conns: 1, Streams: 4, Method: "POST", Body: []byte("data")}, 1},
			// A body larger than the server's windows: Send waits for
			// credit. (An upgrade carrying it would be declined: the
			// server bounds the upgrade request's body.)
			{"h2c big body", Config{Mode: ModeH2C, Conns: 1, Streams: 4, Method: "POST", Body: bigBody}, 1},
			{"h2c open loop", Config{Mode: ModeH2C, Conns: 2, Streams: 4, Rate: 2000}, 2},
			{"h1 open loop", Config{Mode: ModeH1, Conns: 2, Rate: 2000}, 2},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cfg := tt.cfg
				cfg.URL = ts.URL + "/"
				cfg.Requests = 120
				cfg.Header = http.Header{"X-Load": {"1"}}
				rep, err := Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				if rep.Requests != 120 || rep.Errors != 0 || rep.Status["200"] != 120 || rep.BodyBytes != 600 {
					t.Errorf("report: %d requests, %d errors %v, status %v, %d body bytes; want 120 answered 200 with 5 bytes each",
						rep.Requests, rep.Errors, rep.ErrorSample, rep.Status, rep.BodyBytes)
				}
				if rep.Latency.Count != 120 || rep.TTFB.Count != 120 || rep.Latency.Min > rep.Latency.Max {
					t.Errorf("latency %+v, ttfb %+v: want 120 samples each", rep.Latency, rep.TTFB)
				}
				if open := cfg.Rate > 0; open != (rep.LatencyFromSend != nil) {
					t.Errorf("open loop %v, latency from send %+v: want it exactly in an open loop", open, rep.LatencyFromSend)
				} else if open && rep.LatencyFromSend.Count != 120 {
					t.Errorf("latency from send: %d samples, want 120", rep.LatencyFromSend.Count)
				}
				if tt.wantConnects != 0 && rep.Connects != tt.wantConnects {
					t.Errorf("%d connections set up, want %d", rep.Connects, tt.wantConnects)
				}
				if cfg.Mode == ModeUpgrade {
					if rep.Upgrade == nil || rep.Upgrade.To101.Count != tt.wantConnects || rep.Upgrade.FirstResponse.Count != tt.wantConnects {
						t.Errorf("upgrade report %+v, want one handshake per connection (%d)", rep.Upgrade, tt.wantConnects)
					}
				} else if rep.Upgrade != nil {
					t.Errorf("upgrade report in mode %s", cfg.Mode)
				}
				if cfg.Mode != ModeH1 && !cfg.UpgradeEvery && rep.HeaderBytes == 0 {
					t.Error("no HTTP/2 header bytes counted")
				}
			})
		}
	})
}

// TestRunErrors checks that failures after set-up are counted by kind:
// requests that outlive the timeout, and streams the server resets.
func TestRunErrors(t *testing.T) {
	checkNoLeaks(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stall":
			select { // until the client gives up, or the test ends
			case <-r.Context().Done():
			case <-release:
			}
		case "/abort":
			panic(http.ErrAbortHandler) // the server resets the stream
		case "/endless": // a header section larger than the client takes
			c, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			buf.WriteString("HTTP/1.1 200 OK\r\n")
			line := "X-Pad: " + strings.Repeat("a", 1000) + "\r\n"
			for range 2000 { // 2 MB, bounded
				if _, err := buf.WriteString(line); err != nil {
					return
				}
			}
			buf.Flush()
		}
	}))
	tests := []struct {
		name, path, mode string
		wantKind         string
	}{
		{"timeout h2c", "/stall", ModeH2C, KindTimeout},
		{"timeout h1", "/stall", ModeH1, KindTimeout},
		{"reset h2c", "/abort", ModeH2C, KindReset},
		{"closed h1", "/abort", ModeH1, KindClosed},
		{"endless headers h1", "/endless", ModeH1, KindProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{URL: ts.URL + tt.path, Mode: tt.mode, Conns: 1, Streams: 2, Requests: 6, Timeout: 300 * time.Millisecond}
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.ErrorKinds[tt.wantKind] == 0 || rep.Errors == 0 {
				t.Errorf("errors by kind %v (%v), want %s", rep.ErrorKinds, rep.ErrorSample, tt.wantKind)
			}
		})
	}
}

// TestErrorKind checks the classification of the errors the client meets.
func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&connectError{syscall.ECONNREFUSED}, KindConnect},
		{&DeclinedError{Status: "200 OK", Proto: "HTTP/1.1"}, KindDeclined},
		{errTimeout, KindTimeout},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), KindTimeout},
		{fmt.Errorf("%w: stream 5 is above GOAWAY last-stream-id 3 (NO_ERROR)", h2client.ErrStreamRefused), KindGoAway},
		{fmt.Errorf("%w: %w", h2client.ErrStreamRefused, http2.StreamError{StreamID: 1, Code: http2.ErrCodeRefusedStream}), KindRefused},
		{http2.StreamError{StreamID: 1, Code: http2.ErrCodeInternal}, KindReset},
		{&setupError{"preface", io.EOF}, KindProtocol},
		{errors.New("h2client: connection error PROTOCOL_ERROR: x"), KindProtocol},
		{io.ErrUnexpectedEOF, KindClosed},
		{fmt.Errorf("%w: %w", h1head.ErrMalformed, errors.New(`bad status "x"`)), KindProtocol},
		{fmt.Errorf("%w: %w", h1head.ErrTruncated, io.ErrUnexpectedEOF), KindClosed},
		{errH1HeaderTooLarge, KindProtocol},
		{fmt.Errorf("h2client: connection lost: %w", syscall.ECONNRESET), KindClosed},
		{errors.New("something else"), KindOther},
	}
	for _, tt := range tests {
		if got := ErrorKind(tt.err); got != tt.want {
			t.Errorf("ErrorKind(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

// TestScheduleKeepsDueTimes checks the open loop's timetable: a request
// that could not go at its due time (the connection was busy) still
// starts its clock then, so the wait counts in its latency.
func TestScheduleKeepsDueTimes(t *testing.T) {
	r := &runner{stopCh: make(chan struct{})}
	start := time.Now().Add(-time.Second) // a second behind: every due time is past
	sc := &schedule{interval: 10 * time.Millisecond, next: start}
	for i := range 5 {
		due, ok := sc.wait(r)
		if want := start.Add(time.Duration(i) * 10 * time.Millisecond); !ok || !due.Equal(want) {
			t.Errorf("request %d due %v (ok %v), want %v", i, due.Sub(start), ok, want.Sub(start))
		}
	}
	closed := &schedule{}
	if due, ok := closed.wait(r); !ok || due.Before(start.Add(time.Second)) {
		t.Errorf("closed loop: %v %v, want now", due, ok)
	}
	// A request due ahead is started when its timer wakes, never before
	// it is due, and not at the due time itself: the timer's lateness is
	// the client's, not the server's.
	sc.next = time.Now().Add(2 * time.Millisecond)
	ahead := sc.next
	if st, ok := sc.wait(r); !ok || !st.After(ahead) {
		t.Errorf("request due ahead started at %v of its due time (ok %v), want after it (the timer's wake)", st.Sub(ahead), ok)
	}
	if want := ahead.Add(10 * time.Millisecond); !sc.next.Equal(want) {
		t.Errorf("next due %v after the last, want the interval (the timetable kept)", sc.next.Sub(ahead))
	}
	sc.next = time.Now().Add(time.Hour)
	r.stop()
	if _, ok := sc.wait(r); ok {
		t.Error("wait for a due time an hour ahead returned ok after stop")
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "http://x/", Requests: 1}, "no mode"},
		{Config{URL: "http://x/", Mode: "h3", Requests: 1}, `mode "h3"`},
		{Config{URL: "https://x/", Mode: ModeH2C, Requests: 1}, "cleartext"},
		{Config{URL: "http://x/", Mode: ModeH2C}, "duration or a number"},
		{Config{URL: "http://x/", Mode: ModeH2C, Requests: 1, UpgradeEvery: true}, "upgrade-every"},
		{Config{URL: "http://x/", Mode: ModeH2C, Requests: 1, Conns: -1}, "connections"},
		{Config{URL: "http://x/", Mode: ModeH2C, Requests: 1, Rate: -1}, "rate"},
		{Config{URL: "http://x/", Mode: ModeH2C, Requests: 1, Rate: 1e12}, "rate"},
		{Config{URL: "http://x/", Mode: ModeH2C, Requests: 1, Conns: 10000, Streams: 1000}, "in flight"},
	}
	for _, tt := range tests {
		_, err := Run(context.Background(), tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Run(%+v) = %v, want an error containing %q", tt.cfg, err, tt.want)
		}
	}
}

// TestRunWarmup checks that requests made during the warmup reach the
// server but not the report.
func TestRunWarmup(t *testing.T) {
	var served atomic.Int64
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		time.Sleep(time.Millisecond) // so that the warmup has requests in it
	}))
	for _, mode := range []string{ModeH1, ModeH2C, ModeUpgrade} { // ws: TestRunWS*
		t.Run(mode, func(t *testing.T) {
			served.Store(0)
			rep, err := Run(context.Background(), Config{URL: ts.URL, Mode: mode, Conns: 2, Streams: 2, Requests: 50, Warmup: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Requests != 50 || rep.Latency.Count != 50 {
				t.Errorf("report has %d requests (%d latencies), want the 50 after the warmup", rep.Requests, rep.Latency.Count)
			}
			if n := served.Load(); n <= 50 {
				t.Errorf("server served %d requests, want the warmup's on top of 50", n)
			}
		})
	}
}

// TestRunServerShutdown shuts the server down in the middle of a run: the
// connections get GOAWAY, reconnecting fails, and the run still ends on
// time with the failures counted, in every mode.
func TestRunServerShutdown(t *testing.T) {
	checkNoLeaks(t)
	for _, mode := range []string{ModeH1, ModeH2C, ModeUpgrade} { // ws: TestRunWS*
		t.Run(mode, func(t *testing.T) {
			var served atomic.Int64
			ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
				io.WriteString(w, "hello")
			}))
			type result struct {
				rep *Report
				err error
			}
			done := make(chan result, 1)
			go func() {
				rep, err := Run(context.Background(), Config{URL: ts.URL, Mode: mode, Conns: 2, Streams: 4, Duration: time.Second, Timeout: time.Second})
				done <- result{rep, err}
			}()
			for deadline := time.Now().Add(10 * time.Second); served.Load() < 100 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := ts.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			var res result
			select {
			case res = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return after the server shut down")
			}
			if res.err != nil {
				t.Fatal(res.err)
			}
			t.Logf("%d requests, %d connects, errors %v", res.rep.Requests, res.rep.Connects, res.rep.ErrorKinds)
			if res.rep.Requests == 0 || res.rep.ErrorKinds[KindConnect] == 0 {
				t.Errorf("%d requests, errors %v: want answers before the shutdown and failed reconnections after", res.rep.Requests, res.rep.ErrorKinds)
			}
		})
	}
}

// TestRunStreamLimit checks that -m is capped by the server's
// SETTINGS_MAX_CONCURRENT_STREAMS, with no stream refused, and that the
// report says how many streams were used.
func TestRunStreamLimit(t *testing.T) {
	ts := h2ctest.NewServer(t, http.HandlerFunc(hello), func(c *server.Config) { c.HTTP2.MaxConcurrentStreams = 3 })
	for _, mode := range []string{ModeH2C, ModeUpgrade} {
		rep, err := Run(context.Background(), Config{URL: ts.URL, Mode: mode, Conns: 2, Streams: 50, Requests: 200, Header: http.Header{"X-Load": {"1"}}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Streams != 3 || rep.Requests != 200 || rep.Errors != 0 {
			t.Errorf("%s: %d streams, %d requests, errors %v; want 3 streams and 200 requests answered", mode, rep.Streams, rep.Requests, rep.ErrorKinds)
		}
	}
}

// TestRunOpenLoopFromSend checks the two clocks of an open loop: requests
// due every millisecond on one stream that the server holds 5 ms each
// queue in the client, which Latency (from the due time) charges and
// LatencyFromSend (from the write) does not. Request k (from 0) is due
// at k ms and cannot be written before k x 5 ms, so it waits at least 4k
// ms: over 20 requests the means differ by at least 38 ms, and no
// request takes less than 5 ms from its write. (Both bounds only grow on
// a slower machine.)
func TestRunOpenLoopFromSend(t *testing.T) {
	h2ctest.RunEngines(t, func(t *testing.T, e h2ctest.Engine) {
		slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(5 * time.Millisecond)
			io.WriteString(w, "hello")
		})
		ts := h2ctest.NewServer(t, slow, h2ctest.WithEngine(e))
		for _, mode := range []string{ModeH2C, ModeH1} {
			rep, err := Run(context.Background(), Config{URL: ts.URL, Mode: mode, Conns: 1, Streams: 1, Rate: 1000, Requests: 20})
			if err != nil {
				t.Fatal(err)
			}
			fs := rep.LatencyFromSend
			if rep.Requests != 20 || fs == nil || fs.Count != 20 {
				t.Fatalf("%s: %d requests, latency from send %+v; want 20 of each", mode, rep.Requests, fs)
			}
			if fs.Min < 5000 {
				t.Errorf("%s: latency from send min %.0fus, want at least the server's 5 ms", mode, fs.Min)
			}
			if d := rep.Latency.Mean - fs.Mean; d < 38000*0.99 {
				t.Errorf("%s: mean latency %.0fus from due, %.0fus from send: differ by %.0fus, want at least 38 ms of queueing in the client",
					mode, rep.Latency.Mean, fs.Mean, d)
			}
		}
	})
}
