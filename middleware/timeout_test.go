package middleware_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

// tmoShort is a deadline that handlers in these tests overrun on purpose:
// they wait for their context to expire, never for a span of time.
const tmoShort = 20 * time.Millisecond

// tmoLong is a deadline that no handler here comes near.
const tmoLong = time.Minute

// tmoGet sends a GET for path with the given header fields and returns
// the response with its body read.
func tmoGet(t *testing.T, c *http.Client, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, string(h2ctest.ReadBody(t, resp))
}

// TestTimeoutOverrun: a handler that has not started its response by the
// deadline gets the timeout answer sent for it, and everything it tries
// afterwards fails with http.ErrHandlerTimeout.
func TestTimeoutOverrun(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		tests := []struct {
			name     string
			opts     middleware.TimeoutOptions
			status   int
			body     string
			ctype    string
			extraHdr string // a header field the answer must carry
		}{
			{"default", middleware.TimeoutOptions{Duration: tmoShort}, 503, "Service Unavailable\n", "text/plain; charset=utf-8", ""},
			{"status and body", middleware.TimeoutOptions{Duration: tmoShort, Status: 504, Body: "too slow"}, 504, "too slow", "text/plain; charset=utf-8", ""},
			{"handler", middleware.TimeoutOptions{Duration: tmoShort, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `{"error":"timeout"}`)
			})}, 503, `{"error":"timeout"}`, "application/json", "Retry-After"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				proceed := make(chan struct{})
				results := make(chan []error, 1)
				h := middleware.Timeout(tt.opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-Late", "never sent")
					<-r.Context().Done()
					<-proceed // the client has the timeout answer
					rc := http.NewResponseController(w)
					var errs []error
					errs = append(errs, r.Context().Err())
					_, err := w.Write([]byte("late"))
					errs = append(errs, err)
					errs = append(errs, rc.Flush())
					_, _, err = rc.Hijack()
					errs = append(errs, err)
					errs = append(errs, rc.SetWriteDeadline(time.Now().Add(time.Hour)))
					errs = append(errs, rc.SetReadDeadline(time.Now().Add(time.Hour)))
					errs = append(errs, rc.EnableFullDuplex())
					w.WriteHeader(http.StatusTeapot) // must do nothing
					results <- errs
				}))
				ts := h2ctest.NewServer(t, h)
				c := ts.Client(t, mode)
				resp, body := tmoGet(t, c, ts.URL+"/")
				close(proceed)
				if resp.StatusCode != tt.status || body != tt.body {
					t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
				}
				if got := resp.Header.Get("Content-Type"); got != tt.ctype {
					t.Errorf("Content-Type %q, want %q", got, tt.ctype)
				}
				if tt.extraHdr != "" && resp.Header.Get(tt.extraHdr) == "" {
					t.Errorf("answer lacks %s", tt.extraHdr)
				}
				if got := resp.Header.Get("X-Late"); got != "" {
					t.Errorf("the handler's header field reached the answer: X-Late %q", got)
				}
				if resp.ProtoMajor != h2ctest.WantProto(mode) {
					t.Errorf("response over %s in mode %s", resp.Proto, mode)
				}
				errs := <-results
				if !errors.Is(errs[0], context.DeadlineExceeded) {
					t.Errorf("ctx.Err() = %v, want DeadlineExceeded", errs[0])
				}
				for i, what := range []string{"Write", "Flush", "Hijack", "SetWriteDeadline", "SetReadDeadline", "EnableFullDuplex"} {
					if err := errs[i+1]; !errors.Is(err, http.ErrHandlerTimeout) {
						t.Errorf("%s after the deadline: %v, want http.ErrHandlerTimeout", what, err)
					}
				}
			})
		}
	})
}

// TestTimeoutHandlerStartedFirst: once the handler has begun its response,
// the deadline only cancels its context; the response is the handler's to
// the end, and writes after the deadline go through.
func TestTimeoutHandlerStartedFirst(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		late := make(chan []error, 1)
		h := middleware.Timeout(middleware.TimeoutOptions{Duration: tmoShort})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Handler", "yes")
			w.Header().Set("Trailer", "X-Trailer")
			w.WriteHeader(http.StatusAccepted)
			rc := http.NewResponseController(w)
			var errs []error
			errs = append(errs, rc.Flush())
			_, err := io.WriteString(w, "before,")
			errs = append(errs, err)
			<-r.Context().Done()
			errs = append(errs, r.Context().Err())
			_, err = io.WriteString(w, "after")
			errs = append(errs, err)
			errs = append(errs, rc.Flush())
			w.Header().Set("X-Trailer", "end")
			late <- errs
		}))
		ts := h2ctest.NewServer(t, h)
		resp, body := tmoGet(t, ts.Client(t, mode), ts.URL+"/")
		if resp.StatusCode != http.StatusAccepted || body != "before,after" {
			t.Errorf("got %d %q, want 202 %q", resp.StatusCode, body, "before,after")
		}
		if got := resp.Header.Get("X-Handler"); got != "yes" {
			t.Errorf("X-Handler %q, want yes", got)
		}
		if got := resp.Trailer.Get("X-Trailer"); got != "end" {
			t.Errorf("trailer X-Trailer %q, want end", got)
		}
		errs := <-late
		for i, want := range []error{nil, nil, context.DeadlineExceeded, nil, nil} {
			if !errors.Is(errs[i], want) {
				t.Errorf("step %d: %v, want %v", i, errs[i], want)
			}
		}
	})
}

// TestTimeoutInTime: a handler that finishes in time is served as if
// Timeout were not there, header fields set without a write included, and
// its context carries the deadline.
func TestTimeoutInTime(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		mux := http.NewServeMux()
		mux.HandleFunc("/implicit", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Implicit", "kept")
		})
		mux.HandleFunc("/deadline", func(w http.ResponseWriter, r *http.Request) {
			d, ok := r.Context().Deadline()
			if !ok || time.Until(d) > tmoLong {
				http.Error(w, fmt.Sprintf("deadline %v, %v", d, ok), http.StatusInternalServerError)
				return
			}
			io.WriteString(w, "has deadline")
		})
		mux.HandleFunc("/early-hints", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			io.WriteString(w, "final")
		})
		ts := h2ctest.NewServer(t, middleware.Timeout(middleware.TimeoutOptions{Duration: tmoLong})(mux))
		c := ts.Client(t, mode)
		resp, body := tmoGet(t, c, ts.URL+"/implicit")
		if resp.StatusCode != 200 || body != "" || resp.Header.Get("X-Implicit") != "kept" {
			t.Errorf("/implicit: %d %q, X-Implicit %q", resp.StatusCode, body, resp.Header.Get("X-Implicit"))
		}
		resp, body = tmoGet(t, c, ts.URL+"/deadline")
		if resp.StatusCode != 200 || body != "has deadline" {
			t.Errorf("/deadline: %d %q", resp.StatusCode, body)
		}
		resp, body = tmoGet(t, c, ts.URL+"/early-hints")
		if resp.StatusCode != 200 || body != "final" || resp.Header.Get("Link") != "" {
			t.Errorf("/early-hints: %d %q, Link %q", resp.StatusCode, body, resp.Header.Get("Link"))
		}
	})
}

// TestTimeoutLateAnswer: a handler that begins its response only after
// the deadline, or returns after it without writing, gets the timeout
// answer every time, even when it gets to the lock before the timer.
func TestTimeoutLateAnswer(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		tests := []struct {
			name    string
			handler http.HandlerFunc
		}{
			{"answers its context", func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
				http.Error(w, r.Context().Err().Error(), http.StatusInternalServerError)
			}},
			{"returns silently", func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
				w.Header().Set("X-Late", "dropped")
			}},
			{"flushes", func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
				http.NewResponseController(w).Flush()
			}},
			{"informational", func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
				w.WriteHeader(http.StatusEarlyHints)
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ts := h2ctest.NewServer(t, middleware.Timeout(middleware.TimeoutOptions{Duration: tmoShort})(tt.handler))
				c := ts.Client(t, mode)
				for range 5 {
					resp, body := tmoGet(t, c, ts.URL+"/")
					if resp.StatusCode != 503 || body != "Service Unavailable\n" || resp.Header.Get("X-Late") != "" {
						t.Fatalf("got %d %q (X-Late %q), want the timeout answer", resp.StatusCode, body, resp.Header.Get("X-Late"))
					}
				}
			})
		}
	})
}

// TestTimeoutRace races handler writes against the deadline on many
// requests at once: every response must be wholly the timeout answer or
// wholly the handler's, and -race must stay quiet.
func TestTimeoutRace(t *testing.T) {
	const n = 20
	want := strings.Repeat("x", 100)
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		finished := make(chan struct{}, n+1)
		h := middleware.Timeout(middleware.TimeoutOptions{Duration: time.Millisecond})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() { finished <- struct{}{} }()
			// Start writing around the deadline, before or after it.
			time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
			w.Header().Set("X-Handler", "yes")
			for range 100 {
				if _, err := io.WriteString(w, "x"); err != nil {
					return
				}
			}
		}))
		ts := h2ctest.NewServer(t, h)
		c := ts.Client(t, mode)
		tmoGet(t, c, ts.URL+"/") // in h2c-upgrade mode, the upgrade
		var clients sync.WaitGroup
		for range n {
			clients.Add(1)
			go func() {
				defer clients.Done()
				resp, err := c.Get(ts.URL + "/")
				if err != nil {
					t.Errorf("GET: %v", err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Errorf("reading body: %v", err)
					return
				}
				switch {
				case resp.StatusCode == 503 && string(b) == "Service Unavailable\n" && resp.Header.Get("X-Handler") == "":
				case resp.StatusCode == 200 && string(b) == want && resp.Header.Get("X-Handler") == "yes":
				default:
					t.Errorf("mixed response: %d, X-Handler %q, body %q", resp.StatusCode, resp.Header.Get("X-Handler"), b)
				}
			}()
		}
		clients.Wait()
		for range n + 1 { // late handlers are done before the test ends
			<-finished
		}
	})
}

// TestTimeoutPanic: a panic of the handler reaches the middleware around
// Timeout, in the serving goroutine.
func TestTimeoutPanic(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		recovered := make(chan any, 1)
		recoverer := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer func() {
					if p := recover(); p != nil {
						recovered <- p
						http.Error(w, "recovered", http.StatusInternalServerError)
					}
				}()
				next.ServeHTTP(w, r)
			})
		}
		h := recoverer(middleware.Timeout(middleware.TimeoutOptions{Duration: tmoLong})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			panic("boom")
		})))
		ts := h2ctest.NewServer(t, h)
		resp, body := tmoGet(t, ts.Client(t, mode), ts.URL+"/")
		if resp.StatusCode != 500 || body != "recovered\n" {
			t.Errorf("got %d %q, want 500 %q", resp.StatusCode, body, "recovered\n")
		}
		if p, ok := (<-recovered).(*middleware.PanicError); !ok || p.Value != "boom" {
			t.Errorf("recovered %v, want a *middleware.PanicError of boom", p)
		}
	})
}

// TestTimeoutUpgradePassesThrough: a CONNECT over HTTP/2 (as a WebSocket
// by RFC 8441 is) gets neither a deadline nor the guarded writer. The
// h2ctest client sends a CONNECT by prior knowledge only.
func TestTimeoutUpgradePassesThrough(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		h := middleware.Timeout(middleware.TimeoutOptions{Duration: tmoShort})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := r.Context().Deadline(); ok {
				http.Error(w, "deadline set", http.StatusInternalServerError)
				return
			}
			// The guarded writer would hide the server's writer.
			if strings.HasPrefix(fmt.Sprintf("%T", w), "*middleware.") {
				http.Error(w, "wrapped", http.StatusInternalServerError)
				return
			}
			w.Header().Set("X-Method", r.Method)
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "untouched")
		}))
		ts := h2ctest.NewServer(t, h)
		req, _ := http.NewRequest(http.MethodConnect, ts.URL, nil)
		resp, err := ts.Client(t, mode).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := h2ctest.ReadBody(t, resp)
		if resp.StatusCode != 200 || string(body) != "untouched" || resp.Header.Get("X-Method") != req.Method {
			t.Errorf("got %d %q (X-Method %q), want 200 untouched", resp.StatusCode, body, resp.Header.Get("X-Method"))
		}
	}, h2ctest.H2CPrior)
}

// TestTimeoutUpgradeHandshake: an HTTP/1.1 upgrade has the deadline for
// its handshake only. A handler that hijacks in time owns the connection
// with a context that has no deadline and is not cancelled when the
// deadline passes; one that does not hijack gets the timeout answer, and
// one that answers with an ordinary response (declining the upgrade) has
// its context cancelled at the deadline, so Upgrade fields on a bodyless
// GET do not buy a request without a deadline. Only HTTP/1.1 has
// upgrades.
func TestTimeoutUpgradeHandshake(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		h := middleware.Timeout(middleware.TimeoutOptions{Duration: tmoShort})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/slow":
				<-r.Context().Done()
				return
			case "/stream":
				// Declines the upgrade: a response that begins at once,
				// then waits for the deadline (bounded, in case it never
				// comes).
				w.WriteHeader(http.StatusOK)
				http.NewResponseController(w).Flush()
				select {
				case <-r.Context().Done():
					io.WriteString(w, "cancelled\n")
				case <-time.After(time.Minute / 6):
					io.WriteString(w, "no deadline\n")
				}
				return
			}
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			defer c.Close()
			state := "alive"
			if _, ok := r.Context().Deadline(); ok {
				state = "deadline"
			}
			// Ten deadlines pass while the handler owns the connection.
			select {
			case <-r.Context().Done():
				state = "cancelled"
			case <-time.After(10 * tmoShort):
			}
			fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n%s\n", state)
			brw.Flush()
		}))
		ts := h2ctest.NewServer(t, h)
		for _, tt := range []struct {
			path string
			code int
			body string
		}{
			{"/session", http.StatusSwitchingProtocols, "alive\n"},
			{"/slow", http.StatusServiceUnavailable, "Service Unavailable\n"},
			{"/stream", http.StatusOK, "cancelled\n"},
		} {
			c := ts.Dial(t)
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n", tt.path)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s: %v", tt.path, err)
			}
			var body string
			if resp.StatusCode == http.StatusSwitchingProtocols {
				body, err = br.ReadString('\n')
			} else {
				var b []byte
				b, err = io.ReadAll(resp.Body)
				body = string(b)
			}
			if resp.StatusCode != tt.code || body != tt.body || err != nil {
				t.Errorf("%s: %d %q (%v), want %d %q", tt.path, resp.StatusCode, body, err, tt.code, tt.body)
			}
		}
	}, h2ctest.H1)
}

func TestTimeoutInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opts middleware.TimeoutOptions
		want string
	}{
		{"zero", middleware.TimeoutOptions{}, "middleware: Timeout: Duration must be positive, got 0s"},
		{"negative", middleware.TimeoutOptions{Duration: -time.Second}, "middleware: Timeout: Duration must be positive, got -1s"},
		{"status 200", middleware.TimeoutOptions{Duration: time.Second, Status: 200}, "middleware: Timeout: Status must be within 400..599, got 200"},
		{"status 600", middleware.TimeoutOptions{Duration: time.Second, Status: 600}, "middleware: Timeout: Status must be within 400..599, got 600"},
		{"handler and body", middleware.TimeoutOptions{Duration: time.Second, Body: "x", Handler: http.NotFoundHandler()}, "middleware: Timeout: Handler is set together with Status or Body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if p := recover(); p != tt.want {
					t.Errorf("panic %v, want %q", p, tt.want)
				}
			}()
			middleware.Timeout(tt.opts)
		})
	}
}

// TestTimeoutUnwrap: the guarded writer hands out nothing, so
// ResponseController finds only what the writer implements itself.
func TestTimeoutUnwrap(t *testing.T) {
	done := make(chan struct{})
	h := middleware.Timeout(middleware.TimeoutOptions{Duration: tmoLong})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			t.Error("the handler's writer has no Unwrap")
			return
		}
		if inner := u.Unwrap(); inner != nil {
			t.Errorf("Unwrap returned %T, want nil", inner)
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush before the deadline: %v", err)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	<-done
	if !rec.Flushed {
		t.Error("Flush did not reach the recorder")
	}
}

// TestTimeoutHijackInTime: a handler that hijacks the connection before
// the deadline owns it; the timer writes nothing. Only HTTP/1.1 can be
// hijacked.
func TestTimeoutHijackInTime(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		h := middleware.Timeout(middleware.TimeoutOptions{Duration: tmoShort})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			defer c.Close()
			<-r.Context().Done() // the deadline passes while we own the connection
			brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
			brw.Flush()
		}))
		ts := h2ctest.NewServer(t, h)
		resp, body := tmoGet(t, ts.Client(t, mode), ts.URL+"/")
		if resp.StatusCode != 200 || body != "hijacked" {
			t.Errorf("got %d %q, want 200 hijacked", resp.StatusCode, body)
		}
	}, h2ctest.H1)
}

// TestTimeoutAfterEarlyHints: a handler that sent 103 Early Hints and
// then overran its deadline gets the timeout answer with the fields the
// middleware outside Timeout set (a request ID, CORS), and without the
// 103's Link; the 103 carried the Link and the outer fields both.
func TestTimeoutAfterEarlyHints(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		h := middleware.RequestID(middleware.RequestIDOptions{Generate: func() string { return "rid-7" }})(
			middleware.CORS(middleware.CORSOptions{AllowedOrigins: []string{"https://app.example"}})(
				middleware.Timeout(middleware.TimeoutOptions{Duration: tmoShort})(
					middleware.EarlyHints(middleware.EarlyHintsOptions{Links: []string{"</app.css>; rel=preload; as=style"}})(
						http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
							<-r.Context().Done()
						})))))
		ts := h2ctest.NewServer(t, h)
		var mu sync.Mutex
		var hints []textproto.MIMEHeader
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			Got1xxResponse: func(code int, hdr textproto.MIMEHeader) error {
				mu.Lock()
				defer mu.Unlock()
				if code == http.StatusEarlyHints {
					hints = append(hints, hdr)
				}
				return nil
			},
		})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/", nil)
		req.Header.Set("Origin", "https://app.example")
		resp, err := ts.Client(t, mode).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := h2ctest.ReadBody(t, resp)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("got %d %q, want 503", resp.StatusCode, body)
		}
		for k, want := range map[string]string{
			"X-Request-Id":                "rid-7",
			"Access-Control-Allow-Origin": "https://app.example",
			"Link":                        "",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("the 503's %s is %q, want %q", k, got, want)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(hints) != 1 || hints[0].Get("Link") != "</app.css>; rel=preload; as=style" {
			t.Errorf("103s: %v, want one with the Link", hints)
		}
	})
}

func tmoPanics() { panic("deep boom") }

// TestTimeoutPanicStack: Recoverer outside Timeout logs the panic value
// and the stack of the handler's goroutine, where it panicked, not that
// of the serving goroutine; http.ErrAbortHandler still aborts quietly.
func TestTimeoutPanicStack(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		rec := newLogRecorder(slog.LevelDebug)
		h := middleware.Recoverer(middleware.RecovererOptions{Logger: rec.logger()})(
			middleware.Timeout(middleware.TimeoutOptions{Duration: tmoLong})(
				middleware.Timeout(middleware.TimeoutOptions{Duration: tmoLong})(
					http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						if r.URL.Path == "/abort" {
							panic(http.ErrAbortHandler)
						}
						tmoPanics()
					}))))
		ts := h2ctest.NewServer(t, h)
		c := ts.Client(t, mode)
		resp, body := tmoGet(t, c, ts.URL+"/")
		if resp.StatusCode != 500 || body != "Internal Server Error\n" {
			t.Errorf("got %d %q, want 500", resp.StatusCode, body)
		}
		m := rec.next(t)
		if m["panic"] != "deep boom" {
			t.Errorf("logged panic %q, want %q", m["panic"], "deep boom")
		}
		if !strings.Contains(m["stack"], "tmoPanics") {
			t.Errorf("the logged stack does not show the panicking function:\n%s", m["stack"])
		}
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/abort", nil)
		if resp, err := c.Do(req); err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				t.Errorf("ErrAbortHandler: got %d %q, want an aborted response", resp.StatusCode, b)
			}
		}
		select {
		case m := <-rec.records:
			t.Errorf("ErrAbortHandler was logged: %v", m)
		default:
		}
	})
}

// TestPanicError: the value Timeout raises again names the handler's
// panic, and unwraps to it when it is an error.
func TestPanicError(t *testing.T) {
	h := middleware.Timeout(middleware.TimeoutOptions{Duration: tmoLong})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(io.ErrUnexpectedEOF)
	}))
	defer func() {
		p := recover()
		pe, ok := p.(*middleware.PanicError)
		if !ok {
			t.Fatalf("recovered %T %v, want *middleware.PanicError", p, p)
		}
		if !errors.Is(pe, io.ErrUnexpectedEOF) || !strings.HasPrefix(pe.Error(), io.ErrUnexpectedEOF.Error()) {
			t.Errorf("PanicError %q does not carry io.ErrUnexpectedEOF", pe.Error())
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}

// TestTimeoutClientGone: a client that goes away before the deadline is
// not a timeout. The handler sees its context cancelled (not expired),
// Timeout sends no 503 when it returns without an answer, and Logger
// outside logs status 499 at level Info, not a 503 at Error.
func TestTimeoutClientGone(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		rec := newLogRecorder(slog.LevelDebug)
		started := make(chan struct{}, 1)
		ctxErr := make(chan error, 1)
		h := middleware.Logger(middleware.LoggerOptions{Logger: rec.logger()})(
			middleware.Timeout(middleware.TimeoutOptions{Duration: tmoLong})(
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/warm" {
						return
					}
					started <- struct{}{}
					<-r.Context().Done()
					ctxErr <- r.Context().Err()
				})))
		ts := h2ctest.NewServer(t, h)
		c := ts.Client(t, mode)
		// A first request, so that on h2c-upgrade the one cancelled is an
		// ordinary stream, not stream 1 of the upgrade.
		tmoGet(t, c, ts.URL+"/warm")
		if m := rec.next(t); m["status"] != "200" {
			t.Fatalf("warm-up logged %v", m)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			<-started
			cancel()
		}()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/gone", nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("the cancelled request got %d", resp.StatusCode)
		}
		m := rec.next(t)
		if m["status"] != "499" || m["level"] != "INFO" {
			t.Errorf("logged status %s at %s, want 499 at INFO", m["status"], m["level"])
		}
		if err := <-ctxErr; !errors.Is(err, context.Canceled) {
			t.Errorf("the handler's context ended with %v, want context.Canceled", err)
		}
	})
}

// TestTimeoutHalfClose: an HTTP/1.1 client that closes its side of the
// connection after its request (net/http then cancels the request's
// context) still reads the response. The handler's answer, written after
// its context was cancelled and before the deadline, reaches it, as it
// does without Timeout: not an empty 200 in its place.
func TestTimeoutHalfClose(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		h := middleware.Timeout(middleware.TimeoutOptions{Duration: tmoLong})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
			io.WriteString(w, "answer after "+r.Context().Err().Error())
		}))
		ts := h2ctest.NewServer(t, h)
		c := ts.Dial(t)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if want := "answer after context canceled"; resp.StatusCode != 200 || string(body) != want || err != nil {
			t.Errorf("got %d %q (%v), want 200 %q", resp.StatusCode, body, err, want)
		}
	}, h2ctest.H1)
}
