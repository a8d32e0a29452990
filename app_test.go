package molt_test

// Tests of the App facade: the router, its middleware and the core server
// together, in every client mode (h1, h2c-upgrade, h2c-prior).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/molt-http/molt"
	"github.com/molt-http/molt/internal/demo"
	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
	"github.com/molt-http/molt/server"
)

// waitFor bounds every wait of these tests, so that a hang fails the test
// instead of stalling it. It is a bound, not a timing assertion.
const waitFor = 30 * time.Second

// logRecord is one line logged through a recordingHandler.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// recordingHandler is a slog.Handler that keeps every record at info
// level or above and signals the records it was told to watch for.
type recordingHandler struct {
	mu      sync.Mutex
	records []logRecord
	watch   map[string]chan logRecord // by message
}

func newRecordingHandler(watch ...string) *recordingHandler {
	h := &recordingHandler{watch: make(map[string]chan logRecord)}
	for _, msg := range watch {
		h.watch[msg] = make(chan logRecord, 1)
	}
	return h
}

func (h *recordingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: make(map[string]string)}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, rec)
	if c, ok := h.watch[r.Message]; ok {
		select {
		case c <- rec:
		default:
		}
	}
	return nil
}

func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

// wait returns the first record logged with message msg, which must be
// watched.
func (h *recordingHandler) wait(t *testing.T, msg string) logRecord {
	t.Helper()
	select {
	case rec := <-h.watch[msg]:
		h.watch[msg] <- rec // for the next wait
		return rec
	case <-time.After(waitFor):
		t.Fatalf("no %q log line after %v", msg, waitFor)
		return logRecord{}
	}
}

// messages returns the messages logged so far.
func (h *recordingHandler) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var m []string
	for _, r := range h.records {
		m = append(m, r.msg)
	}
	return m
}

// quiet is a logger for tests that do not look at the log.
var quiet = slog.New(slog.DiscardHandler)

// running is an App served by RunContext or Serve in the background.
type running struct {
	url    string
	cancel context.CancelFunc
	done   chan error // receives what RunContext or Serve returned
}

// stop cancels the App's context and returns what RunContext or Serve
// returned, failing the test if it does not return.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.result(t)
}

// result waits for RunContext or Serve to return.
func (r *running) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for a second look, and for the cleanup
		return err
	case <-time.After(waitFor):
		t.Fatalf("the App still runs %v after its context ended", waitFor)
		return nil
	}
}

// serveApp serves app on a loopback listener with app.Serve until the test
// ends (or stop is called).
func serveApp(t *testing.T, app *molt.App) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- app.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); r.result(t) })
	return r
}

// runApp runs app with app.RunContext on 127.0.0.1:0 until the test ends
// (or stop is called). It learns the port from the "listening" line that
// logs, a recordingHandler watching "listening", receives.
func runApp(t *testing.T, app *molt.App, logs *recordingHandler) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- app.RunContext(ctx, "127.0.0.1:0") }()
	t.Cleanup(func() { cancel(); r.result(t) })
	select {
	case rec := <-logs.watch["listening"]:
		logs.watch["listening"] <- rec
		r.url = "http://" + rec.attrs["addr"]
	case err := <-r.done:
		r.done <- err
		t.Fatalf("RunContext returned before listening: %v", err)
	case <-time.After(waitFor):
		t.Fatalf("no listening line after %v", waitFor)
	}
	return r
}

// client returns a client for mode whose idle connections are closed when
// the test ends.
func client(t *testing.T, mode h2ctest.Mode) *http.Client {
	t.Helper()
	rt := h2ctest.NewTransport(mode)
	t.Cleanup(func() {
		if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	})
	return &http.Client{Transport: rt, Timeout: time.Minute}
}

// get sends a request and returns the response with its body read.
func get(t *testing.T, c *http.Client, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, string(h2ctest.ReadBody(t, resp))
}

// seen is what the middleware of TestAppMiddleware saw of one request.
type seen struct {
	proto        server.Protocol
	method, path string
	status       int
}

func TestAppMiddleware(t *testing.T) { h2ctest.Run(t, testAppMiddleware) }

// testAppMiddleware checks that middleware added with app.Use sees every
// request, however it arrived, those the router answers 404 and 405
// included.
func testAppMiddleware(t *testing.T, mode h2ctest.Mode) {
	app := molt.New(molt.WithLogger(quiet))
	saw := make(chan seen, 10)
	app.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Seen-By", string(server.ProtocolOf(r)))
			sw := middleware.Wrap(w)
			next.ServeHTTP(sw, r)
			saw <- seen{server.ProtocolOf(r), r.Method, r.URL.Path, sw.Status()}
		})
	})
	app.Get("/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user %s", r.PathValue("id"))
	})
	ts := h2ctest.NewServer(t, app.Handler())
	c := ts.Client(t, mode)

	tests := []struct {
		method, path string
		status       int
		body         string // "" for any
	}{
		{"GET", "/users/42", 200, "user 42"},
		{"GET", "/nowhere", 404, ""},
		{"DELETE", "/users/42", 405, ""},
		{"GET", "/users/7", 200, "user 7"},
	}
	for _, tt := range tests {
		resp, body := get(t, c, tt.method, ts.URL+tt.path)
		if resp.StatusCode != tt.status || (tt.body != "" && body != tt.body) {
			t.Errorf("%s %s: %s %q; want %d %q", tt.method, tt.path, resp.Status, body, tt.status, tt.body)
		}
		if resp.ProtoMajor != h2ctest.WantProto(mode) {
			t.Errorf("%s %s: response came by %s in mode %s", tt.method, tt.path, resp.Proto, mode)
		}
		if got := resp.Header.Get("X-Seen-By"); got != string(mode) {
			t.Errorf("%s %s: the middleware saw protocol %q; want %q", tt.method, tt.path, got, mode)
		}
		if tt.status == 405 && resp.Header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without an Allow header", tt.method, tt.path)
		}
		select {
		case s := <-saw:
			if want := (seen{mode, tt.method, tt.path, tt.status}); s != want {
				t.Errorf("the middleware saw %+v; want %+v", s, want)
			}
		case <-time.After(waitFor):
			t.Fatalf("%s %s: the middleware saw no request", tt.method, tt.path)
		}
	}
}

func TestAppServe(t *testing.T) { h2ctest.Run(t, testAppServe) }

// testAppServe serves an App on a listener of the test's own and checks
// that Server is the core that serves it: its Stats count the requests.
func testAppServe(t *testing.T, mode h2ctest.Mode) {
	app := molt.New(molt.WithLogger(quiet))
	app.Get("/hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello, %s over %s", r.PathValue("name"), server.ProtocolOf(r))
	})
	if app.Server() == nil {
		t.Fatal("Server() is nil")
	}
	run := serveApp(t, app)
	c := client(t, mode)
	const n = 3
	for i := range n {
		resp, body := get(t, c, "GET", fmt.Sprintf("%s/hello/%d", run.url, i))
		if want := fmt.Sprintf("hello, %d over %s", i, mode); resp.StatusCode != 200 || body != want {
			t.Fatalf("GET /hello/%d: %s %q; want 200 %q", i, resp.Status, body, want)
		}
	}
	st := app.Server().Stats()
	if got := st.Requests + st.Streams; got != n {
		t.Errorf("Stats count %d requests and %d streams; want %d in all", st.Requests, st.Streams, n)
	}
	if mode == h2ctest.H1 && st.Requests != n || mode != h2ctest.H1 && st.Streams != n {
		t.Errorf("Stats count %d requests and %d streams; want %d by %s", st.Requests, st.Streams, n, mode)
	}
	if st.Connections[mode] == 0 {
		t.Errorf("Stats count no %s connection: %v", mode, st.Connections)
	}
	if err := run.stop(t); err != nil {
		t.Errorf("Serve returned %v after its context ended; want nil", err)
	}
	if st := app.Server().Stats(); len(st.Open) > 0 {
		t.Errorf("connections still open after Serve returned: %v", st.Open)
	}
}

func TestAppRunContextDrains(t *testing.T) { h2ctest.Run(t, testAppRunContextDrains) }

// testAppRunContextDrains cancels RunContext's context while a request is
// in flight: the request must complete, and RunContext return nil once the
// server is drained.
func testAppRunContextDrains(t *testing.T, mode h2ctest.Mode) {
	logs := newRecordingHandler("listening", "shutting down")
	app := molt.New(molt.WithLogger(slog.New(logs)))
	started, release := make(chan struct{}), make(chan struct{})
	app.Get("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	shutdownBegan := make(chan struct{})
	app.Server().RegisterOnShutdown(func() { close(shutdownBegan) })

	run := runApp(t, app, logs)
	if rec := logs.wait(t, "listening"); rec.attrs["protocols"] != "h1,h2c-upgrade,h2c-prior" {
		t.Errorf("listening line %v; want protocols h1,h2c-upgrade,h2c-prior", rec.attrs)
	}
	type result struct {
		resp *http.Response
		body []byte
		err  error
	}
	got := make(chan result, 1)
	c := client(t, mode)
	go func() {
		resp, err := c.Get(run.url + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{resp, body, err}
	}()
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the request did not reach its handler")
	}
	run.cancel()
	select {
	case <-shutdownBegan:
	case <-time.After(waitFor):
		t.Fatal("the shutdown did not begin after the context ended")
	}
	select {
	case err := <-run.done:
		t.Fatalf("RunContext returned %v with a request in flight", err)
	default:
	}
	close(release)
	r := <-got
	if r.err != nil || r.resp.StatusCode != 200 || string(r.body) != "done" {
		t.Errorf("the in-flight request ended with %v, body %q; want 200 \"done\"", r.err, r.body)
	} else if r.resp.ProtoMajor != h2ctest.WantProto(mode) {
		t.Errorf("the in-flight request came by %s in mode %s", r.resp.Proto, mode)
	}
	if err := run.result(t); err != nil {
		t.Errorf("RunContext returned %v after a graceful shutdown; want nil", err)
	}
	if rec := logs.wait(t, "shutting down"); rec.attrs["timeout"] != molt.DefaultShutdownTimeout.String() {
		t.Errorf("shutting-down line %v; want timeout %v", rec.attrs, molt.DefaultShutdownTimeout)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(run.url, "http://"), time.Second); err == nil {
		t.Errorf("the App still accepts connections after RunContext returned")
	}
}

func TestAppShutdownTimeout(t *testing.T) { h2ctest.Run(t, testAppShutdownTimeout) }

// testAppShutdownTimeout checks WithShutdownTimeout: with a handler that
// never finishes, RunContext gives up after the timeout and reports it.
func testAppShutdownTimeout(t *testing.T, mode h2ctest.Mode) {
	logs := newRecordingHandler("listening")
	app := molt.New(molt.WithLogger(slog.New(logs)), molt.WithShutdownTimeout(50*time.Millisecond))
	started, hang := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(hang) }) // runs last: lets the handler's goroutine end
	app.Get("/hang", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-hang
	})
	run := runApp(t, app, logs)
	reqDone := make(chan struct{})
	c := client(t, mode)
	go func() {
		defer close(reqDone)
		if resp, err := c.Get(run.url + "/hang"); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the request did not reach its handler")
	}
	err := run.stop(t)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RunContext returned %v; want an error wrapping context.DeadlineExceeded", err)
	}
	select {
	case <-reqDone: // the connection was closed under it
	case <-time.After(waitFor):
		t.Errorf("the hanging request's connection is still open %v after the shutdown timeout", waitFor)
	}
}

func TestAppOptions(t *testing.T) { h2ctest.Run(t, testAppOptions) }

// testAppOptions checks that WithConfig reaches the core (all but its
// Handler) and that WithLogger gets the App's lines while a logger in the
// Config keeps the server's.
func testAppOptions(t *testing.T, mode h2ctest.Mode) {
	appLogs := newRecordingHandler("listening", "shutting down")
	serverLogs := newRecordingHandler()
	decoy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the Config's Handler was used", http.StatusTeapot)
	})
	app := molt.New(
		molt.WithConfig(server.Config{
			Handler:        decoy,
			MaxHeaderBytes: 16 << 10,
			IdleTimeout:    7 * time.Second,
			Logger:         slog.New(serverLogs),
		}),
		molt.WithLogger(slog.New(appLogs)),
	)
	app.Get("/{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "router") })

	cfg := app.Server().Config()
	if cfg.MaxHeaderBytes != 16<<10 || cfg.IdleTimeout != 7*time.Second {
		t.Errorf("Server().Config() has MaxHeaderBytes %d, IdleTimeout %v; want WithConfig's %d, %v",
			cfg.MaxHeaderBytes, cfg.IdleTimeout, 16<<10, 7*time.Second)
	}
	if cfg.ReadHeaderTimeout != server.DefaultReadHeaderTimeout {
		t.Errorf("Server().Config().ReadHeaderTimeout = %v; want the default %v", cfg.ReadHeaderTimeout, server.DefaultReadHeaderTimeout)
	}
	run := runApp(t, app, appLogs)
	resp, body := get(t, client(t, mode), "GET", run.url+"/")
	if resp.StatusCode != 200 || body != "router" {
		t.Errorf("GET /: %s %q; want 200 \"router\" from the App's router", resp.Status, body)
	}
	if err := run.stop(t); err != nil {
		t.Errorf("RunContext: %v", err)
	}
	if got := strings.Join(appLogs.messages(), ","); got != "listening,shutting down" {
		t.Errorf("WithLogger's logger got %q; want \"listening,shutting down\"", got)
	}
	if got := serverLogs.messages(); slices.Contains(got, "listening") || slices.Contains(got, "shutting down") {
		t.Errorf("the Config's logger got the App's lines: %q", got)
	}
}

// TestAppInvalidConfig checks that New reports a configuration no server
// could honour at once, with a panic that names the setting (the error
// server.Config.Validate returns), instead of an App whose Server is nil.
func TestAppInvalidConfig(t *testing.T) {
	cfg := server.Config{HTTP2: server.HTTP2Config{MaxReadFrameSize: 1000}}
	verr := cfg.Validate()
	if verr == nil || !strings.Contains(verr.Error(), "MaxReadFrameSize") {
		t.Fatalf("Validate() = %v; want an error naming MaxReadFrameSize", verr)
	}
	if err := (server.Config{}).Validate(); err != nil {
		t.Errorf("Validate() of the zero Config = %v; want nil", err)
	}
	defer func() {
		msg, _ := recover().(string)
		if !strings.HasPrefix(msg, "molt: ") || !strings.Contains(msg, verr.Error()) {
			t.Errorf("New panicked with %q; want a \"molt: \" message holding %q", msg, verr)
		}
	}()
	app := molt.New(molt.WithLogger(quiet), molt.WithConfig(cfg))
	t.Errorf("New returned an App (Server() = %v) for an invalid configuration; want a panic", app.Server())
}

// TestAppShutdownHookRegisteredBeforeRun checks that Server is ready as
// soon as New returns: a hook registered before the App serves runs when
// it shuts down.
func TestAppShutdownHookRegisteredBeforeRun(t *testing.T) {
	app := molt.New(molt.WithLogger(quiet))
	ran := make(chan struct{})
	app.Server().RegisterOnShutdown(func() { close(ran) })
	run := serveApp(t, app)
	if err := run.stop(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	select {
	case <-ran:
	case <-time.After(waitFor):
		t.Fatalf("the hook registered before Serve did not run within %v of the shutdown", waitFor)
	}
}

// TestAppServedOnce checks that an App that has shut down does not serve
// again.
func TestAppServedOnce(t *testing.T) {
	app := molt.New(molt.WithLogger(quiet))
	run := serveApp(t, app)
	if err := run.stop(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := app.RunContext(t.Context(), "127.0.0.1:0"); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("RunContext after a shutdown: %v; want http.ErrServerClosed", err)
	}
}

// TestAppRunSignal checks that Run shuts down gracefully on SIGINT and
// returns nil. The signal goes to the test's own process, which Run
// catches.
func TestAppRunSignal(t *testing.T) {
	logs := newRecordingHandler("listening", "shutting down")
	app := molt.New(molt.WithLogger(slog.New(logs)))
	done := make(chan error, 1)
	go func() { done <- app.Run("127.0.0.1:0") }()
	logs.wait(t, "listening") // logged once Run has caught the signals
	self, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := self.Signal(os.Interrupt); err != nil {
		app.Server().Close()
		<-done
		t.Skipf("cannot send os.Interrupt to this process: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v after SIGINT; want nil", err)
		}
	case <-time.After(waitFor):
		app.Server().Close()
		t.Fatalf("Run still runs %v after SIGINT", waitFor)
	}
	logs.wait(t, "shutting down")
}

func TestDemoRoutes(t *testing.T) { h2ctest.Run(t, testDemoRoutes) }

// testDemoRoutes checks that demo.Register gives the same routes on an App
// (as `molt serve` uses them) as on an http.ServeMux (as the benchmark
// baselines do). Two differences are the router's, by design: its 405s
// also allow OPTIONS (it answers OPTIONS itself), and a path that lacks or
// adds only a trailing slash is redirected (308) to the registered route,
// where a ServeMux answers 404.
func testDemoRoutes(t *testing.T, mode h2ctest.Mode) {
	app := molt.New(molt.WithLogger(quiet))
	demo.Register(app)
	onApp := serveApp(t, app)
	onMux := h2ctest.NewServer(t, demo.Handler())
	tests := []struct {
		method, path string
		appRedirect  string // the App's 308 Location, where a ServeMux has 404
	}{
		{"GET", "/", ""},
		{"HEAD", "/", ""},
		{"POST", "/", ""},
		{"GET", "/echo", ""},
		{"POST", "/echo", ""},
		{"GET", "/bytes/10", ""},
		{"HEAD", "/bytes/10", ""},
		{"GET", "/bytes/x", ""},
		{"GET", "/bytes/", ""},
		{"GET", "/healthz", ""},
		{"DELETE", "/healthz", ""},
		{"GET", "/healthz/", "/healthz"},
		{"GET", "/nowhere", ""},
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cApp, cMux := client(t, mode), client(t, mode)
	cApp.CheckRedirect, cMux.CheckRedirect = noRedirect, noRedirect
	for _, tt := range tests {
		want, wantBody := get(t, cMux, tt.method, onMux.URL+tt.path)
		got, gotBody := get(t, cApp, tt.method, onApp.url+tt.path)
		if tt.appRedirect != "" {
			if want.StatusCode != 404 || got.StatusCode != http.StatusPermanentRedirect || got.Header.Get("Location") != tt.appRedirect {
				t.Errorf("%s %s: %s (Location %q) on the App, %s on a ServeMux; want 308 to %s and 404", tt.method, tt.path,
					got.Status, got.Header.Get("Location"), want.Status, tt.appRedirect)
			}
			continue
		}
		if got.StatusCode != want.StatusCode {
			t.Errorf("%s %s: %s on the App, %s on a ServeMux", tt.method, tt.path, got.Status, want.Status)
			continue
		}
		if got.StatusCode < 300 || got.StatusCode == 400 {
			if gotBody != wantBody || got.Header.Get("Content-Type") != want.Header.Get("Content-Type") {
				t.Errorf("%s %s: %q (%s) on the App, %q (%s) on a ServeMux", tt.method, tt.path,
					gotBody, got.Header.Get("Content-Type"), wantBody, want.Header.Get("Content-Type"))
			}
		}
		if got.StatusCode == 405 {
			wantAllow := append(methods(want.Header.Get("Allow")), "OPTIONS")
			slices.Sort(wantAllow)
			if !slices.Equal(methods(got.Header.Get("Allow")), wantAllow) {
				t.Errorf("%s %s: 405 with Allow %q on the App, %q on a ServeMux; want the same and OPTIONS", tt.method, tt.path,
					got.Header.Get("Allow"), want.Header.Get("Allow"))
			}
		}
	}
}

// methods returns the methods of an Allow header, sorted.
func methods(allow string) []string {
	var m []string
	for f := range strings.SplitSeq(allow, ",") {
		if f = strings.TrimSpace(f); f != "" {
			m = append(m, f)
		}
	}
	slices.Sort(m)
	return m
}
