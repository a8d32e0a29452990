package molt_test

// End-to-end protocol tests of the whole stack. Every test runs in every
// client mode (h1, h2c-upgrade, h2c-prior) through internal/h2ctest. In
// h2c-upgrade mode the first request of each fresh client is the upgrade
// request itself, served on stream 1; later requests are new streams.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/server"
)

// hopByHopFields must never reach a handler over HTTP/2.
var hopByHopFields = []string{"Connection", "Upgrade", "Http2-Settings", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding"}

// inspect echoes the request body and describes the request in headers.
var inspect = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("X-Protocol", string(server.ProtocolOf(r)))
	h.Set("X-Proto", r.Proto)
	h.Set("X-Method", r.Method)
	var hop []string
	for _, k := range hopByHopFields {
		if _, ok := r.Header[k]; ok {
			hop = append(hop, k)
		}
	}
	h.Set("X-Hop-By-Hop", strings.Join(hop, ","))
	h.Set("Content-Length", strconv.Itoa(len(body)+len("hello")))
	w.Write([]byte("hello"))
	w.Write(body)
})

// check verifies that resp came by the protocol of mode and describes a
// request with the given method and body.
func check(t *testing.T, mode h2ctest.Mode, resp *http.Response, method string, body []byte) {
	t.Helper()
	got := h2ctest.ReadBody(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: status %s, body %q", method, resp.Status, got)
	}
	if resp.ProtoMajor != h2ctest.WantProto(mode) || resp.Header.Get("X-Protocol") != string(mode) {
		t.Errorf("%s: response %s, handler saw protocol %q; want mode %s", method, resp.Proto, resp.Header.Get("X-Protocol"), mode)
	}
	wantProto := "HTTP/1.1"
	if mode != h2ctest.H1 {
		wantProto = "HTTP/2.0"
	}
	if p := resp.Header.Get("X-Proto"); p != wantProto {
		t.Errorf("%s: handler saw r.Proto %q, want %q", method, p, wantProto)
	}
	if hop := resp.Header.Get("X-Hop-By-Hop"); mode != h2ctest.H1 && hop != "" {
		t.Errorf("%s: handler saw hop-by-hop fields %s over HTTP/2", method, hop)
	}
	want := append([]byte("hello"), body...)
	if method == http.MethodHead {
		want = nil
		if resp.ContentLength != int64(len("hello")) {
			t.Errorf("HEAD: Content-Length %d, want 5", resp.ContentLength)
		}
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: body of %d bytes (%.20q), want %d bytes", method, len(got), got, len(want))
	}
}

func TestMethodsAndBodies(t *testing.T) { h2ctest.Run(t, testMethodsAndBodies) }

func testMethodsAndBodies(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, inspect)
	body := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	tests := []struct {
		name    string
		method  string
		body    []byte
		chunked bool
		expect  bool
	}{
		{"GET", "GET", nil, false, false},
		{"HEAD", "HEAD", nil, false, false},
		{"POST empty", "POST", []byte{}, false, false},
		{"POST Content-Length", "POST", body, false, false},
		{"POST chunked", "POST", body, true, false},
		{"PUT Expect 100-continue", "PUT", body, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A fresh client: in h2c-upgrade mode the first request is the
			// upgrade (stream 1), the second a later stream.
			client := ts.Client(t, mode)
			for i := range 2 {
				var r io.Reader
				if tt.body != nil {
					r = bytes.NewReader(tt.body)
					if tt.chunked {
						r = io.MultiReader(r) // hides the length: chunked on HTTP/1.1
					}
				}
				req, err := http.NewRequest(tt.method, ts.URL+"/x?i="+strconv.Itoa(i), r)
				if err != nil {
					t.Fatal(err)
				}
				var continued atomic.Bool
				if tt.expect {
					req.Header.Set("Expect", "100-continue")
					req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
						Got100Continue: func() { continued.Store(true) },
						Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
							if code == 100 {
								continued.Store(true)
							}
							return nil
						},
					}))
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				check(t, mode, resp, tt.method, tt.body)
				if tt.expect && mode != h2ctest.H2CPrior && !continued.Load() {
					t.Errorf("request %d: no 100 Continue before the body", i)
				}
			}
		})
	}
}

func TestUpgradeBodyOverLimitIsServedWhole(t *testing.T) { h2ctest.Run(t, testUpgradeBodyOverLimit) }

func testUpgradeBodyOverLimit(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, inspect)
	body := bytes.Repeat([]byte("x"), server.DefaultMaxUpgradeBodyBytes+1)
	for _, chunked := range []bool{false, true} {
		var r io.Reader = bytes.NewReader(body)
		if chunked {
			r = io.MultiReader(r)
		}
		resp, err := ts.Client(t, mode).Post(ts.URL+"/", "application/octet-stream", r)
		if err != nil {
			t.Fatal(err)
		}
		// An upgrade request over the limit is not upgraded: it is served
		// over HTTP/1.1, with every byte of its body.
		m := mode
		if mode == h2ctest.H2CUpgrade {
			m = h2ctest.H1
		}
		check(t, m, resp, "POST", body)
	}
	if mode == h2ctest.H2CUpgrade {
		if n := ts.Stats().Declined[server.DeclineBodyTooLarge]; n != 2 {
			t.Errorf("declined for body-too-large: %d, want 2", n)
		}
	}
}

func TestOptionsStar(t *testing.T) { h2ctest.Run(t, testOptionsStar) }

func testOptionsStar(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("handler called for %s %s", r.Method, r.RequestURI)
	}))
	client := ts.Client(t, mode)
	for i := range 2 {
		req := &http.Request{
			Method: http.MethodOptions,
			URL:    &url.URL{Scheme: "http", Host: ts.Addr, Opaque: "*"},
			Host:   ts.Addr,
			Header: http.Header{},
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("OPTIONS * #%d: %v", i, err)
		}
		body := h2ctest.ReadBody(t, resp)
		if resp.StatusCode != 200 || len(body) != 0 || resp.ProtoMajor != h2ctest.WantProto(mode) {
			t.Errorf("OPTIONS * #%d: %s %s with %d bytes; want 200, empty, HTTP/%d", i, resp.Proto, resp.Status, len(body), h2ctest.WantProto(mode))
		}
	}
}

func TestConcurrentStreams(t *testing.T) { h2ctest.Run(t, testConcurrentStreams) }

func testConcurrentStreams(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, inspect)
	client := ts.Client(t, mode)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			body := []byte(fmt.Sprintf("request %d", i))
			resp, err := client.Post(ts.URL+"/", "text/plain", bytes.NewReader(body))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			check(t, mode, resp, "POST", body)
		})
	}
	wg.Wait()
	if mode == h2ctest.H2CUpgrade {
		if st := ts.Stats(); st.Upgrades != 1 || st.Streams != 32 {
			t.Errorf("upgrades %d, streams %d; want all 32 requests on one upgraded connection", st.Upgrades, st.Streams)
		}
	}
}

// pattern returns n bytes of a pattern that shows misplaced bytes.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>10)
	}
	return b
}

func TestLargeBodiesFlowControl(t *testing.T) { h2ctest.Run(t, testLargeBodies) }

func testLargeBodies(t *testing.T, mode h2ctest.Mode) {
	big := pattern(8 << 20)
	sum := sha256.Sum256(big)
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.Write(big)
			return
		}
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		fmt.Fprintf(w, "%d %s", n, hex.EncodeToString(h.Sum(nil)))
	}))
	client := ts.Client(t, mode)
	for range 2 { // in h2c-upgrade mode: on stream 1, then on stream 3
		resp, err := client.Get(ts.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		if got := h2ctest.ReadBody(t, resp); !bytes.Equal(got, big) {
			t.Fatalf("GET: %d bytes, want the %d sent (equal prefix: %d)", len(got), len(big), commonPrefix(got, big))
		}
		resp, err = client.Post(ts.URL+"/", "application/octet-stream", bytes.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(h2ctest.ReadBody(t, resp)), fmt.Sprintf("%d %x", len(big), sum); got != want {
			t.Fatalf("POST: server read %q, want %q", got, want)
		}
	}
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func TestTrailers(t *testing.T) { h2ctest.Run(t, testTrailers) }

func testTrailers(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Length")
		fmt.Fprintf(w, "request trailer %q", r.Trailer.Get("X-Checksum"))
		w.Header().Set("X-Length", strconv.Itoa(len(body)))
		w.Header().Set(http.TrailerPrefix+"X-Late", "undeclared")
	}))
	client := ts.Client(t, mode)
	for i := range 2 {
		req, _ := http.NewRequest("POST", ts.URL+"/", io.MultiReader(strings.NewReader("some body")))
		req.Trailer = http.Header{"X-Checksum": {"abc" + strconv.Itoa(i)}}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := string(h2ctest.ReadBody(t, resp))
		if want := fmt.Sprintf("request trailer %q", "abc"+strconv.Itoa(i)); body != want {
			t.Errorf("#%d: body %q, want %q", i, body, want)
		}
		if resp.Trailer.Get("X-Length") != "9" || resp.Trailer.Get("X-Late") != "undeclared" {
			t.Errorf("#%d: response trailers %v, want X-Length: 9 and X-Late", i, resp.Trailer)
		}
	}
}

func TestInformationalResponses(t *testing.T) { h2ctest.Run(t, testInformational) }

func testInformational(t *testing.T, mode h2ctest.Mode) {
	const link = "</style.css>; rel=preload; as=style"
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Final", "yes")
		if err := server.EarlyHints(w, r, link); err != nil {
			t.Errorf("EarlyHints: %v", err)
		}
		if err := server.Processing(w, r); err != nil {
			t.Errorf("Processing: %v", err)
		}
		io.WriteString(w, "done")
	}))
	client := ts.Client(t, mode)
	for i := range 2 {
		var mu sync.Mutex
		var got []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fmt.Sprintf("%d link=%q final=%q", code, h.Get("Link"), h.Get("X-Final")))
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", ts.URL+"/", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := h2ctest.ReadBody(t, resp)
		if string(body) != "done" || resp.Header.Get("X-Final") != "yes" || resp.ProtoMajor != h2ctest.WantProto(mode) {
			t.Errorf("#%d: final response %s %v %q", i, resp.Proto, resp.Header, body)
		}
		mu.Lock()
		want := []string{fmt.Sprintf("103 link=%q final=\"\"", link), `102 link="" final=""`}
		if !slices.Equal(got, want) {
			t.Errorf("#%d: informational responses %q, want %q", i, got, want)
		}
		mu.Unlock()
	}
}

func TestShutdownDuringLoadLosesNoRequest(t *testing.T) { h2ctest.Run(t, testShutdownDuringLoad) }

// testShutdownDuringLoad shuts the server down while clients keep sending.
// Every request must either complete in full or fail in a way that proves
// the server never processed it, so a client may retry: a refused
// connection, or a stream refused by GOAWAY.
func testShutdownDuringLoad(t *testing.T, mode h2ctest.Mode) {
	var handled atomic.Int64
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handled.Add(1)
		io.WriteString(w, "ok "+r.URL.Query().Get("id"))
	}))
	const workers, perWorker, shutdownAfter = 8, 400, 200
	var completed atomic.Int64
	shutdown := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			client := ts.Client(t, mode)
			for i := range perWorker {
				id := fmt.Sprintf("%d-%d", w, i)
				resp, err := client.Get(ts.URL + "/?id=" + id)
				if err != nil {
					if !retryable(err) {
						t.Errorf("request %s failed in a way a client cannot retry: %v", id, err)
					}
					return
				}
				if body := string(h2ctest.ReadBody(t, resp)); resp.StatusCode != 200 || body != "ok "+id {
					t.Errorf("request %s: %s %q", id, resp.Status, body)
					return
				}
				if completed.Add(1) == shutdownAfter {
					once.Do(func() { close(shutdown) })
				}
			}
		})
	}
	<-shutdown
	if err := ts.Shutdown(h2ctest.ShutdownContext(t)); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	wg.Wait()
	if got, want := completed.Load(), handled.Load(); got != want {
		t.Errorf("server handled %d requests but clients completed %d: responses were lost", want, got)
	}
	st := ts.Stats()
	if mode != h2ctest.H1 && st.GoAways == 0 {
		t.Errorf("no GOAWAY counted during shutdown")
	}
	if len(st.Open) != 0 {
		t.Errorf("connections still open after Shutdown: %v", st.Open)
	}
}

// retryable reports whether err shows that the request never reached a
// handler: the connection was refused, or the stream was refused by GOAWAY
// (which Go's HTTP/2 transport retries by itself and then fails to dial).
func retryable(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, h2ctest.ErrStreamRefused)
}

func TestHeaderLimit(t *testing.T) { h2ctest.Run(t, testHeaderLimit) }

// testHeaderLimit checks that Config.MaxHeaderBytes holds on every
// protocol: over HTTP/1.1 a request over it gets 431; over HTTP/2 the
// limit is advertised in SETTINGS_MAX_HEADER_LIST_SIZE, so the clients
// refuse to send the request at all. Requests under it are served.
func testHeaderLimit(t *testing.T, mode h2ctest.Mode) {
	ts := h2ctest.NewServer(t, inspect, func(c *server.Config) { c.MaxHeaderBytes = 8 << 10 })
	client := ts.Client(t, mode)
	for _, size := range []int{1 << 10, 64 << 10, 1 << 10} {
		req, _ := http.NewRequest("GET", ts.URL+"/", nil)
		req.Header.Set("X-Big", strings.Repeat("b", size))
		resp, err := client.Do(req)
		switch {
		case size < 8<<10:
			if err != nil {
				t.Fatalf("%d-byte header: %v", size, err)
			}
			check(t, mode, resp, "GET", nil)
		case mode == h2ctest.H1:
			if err != nil {
				t.Fatalf("%d-byte header: %v", size, err)
			}
			resp.Body.Close() // net/http closes the connection after a 431
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("%d-byte header: %s, want 431", size, resp.Status)
			}
		default:
			if err == nil || !strings.Contains(err.Error(), "limit") {
				t.Errorf("%d-byte header: %v; want the client to refuse it for the advertised limit", size, err)
			}
		}
	}
}

func TestClientCancelEndsRequestContext(t *testing.T) { h2ctest.Run(t, testClientCancel) }

// testClientCancel cancels requests while their handlers run and checks
// that each handler's r.Context() ends: over HTTP/1.1 the client closes the
// connection, over HTTP/2 it resets the stream. In h2c-upgrade mode the
// first request is stream 1 of the upgraded connection, whose request x/net
// serves with the context the upgrade request came with (issue 10, item 15);
// the second is stream 3.
func testClientCancel(t *testing.T, mode h2ctest.Mode) {
	entered := make(chan struct{})
	ended := make(chan error, 1)
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		entered <- struct{}{}
		select {
		case <-r.Context().Done():
			ended <- r.Context().Err()
		case <-time.After(10 * time.Second):
			ended <- errors.New("r.Context() still running 10s after the client cancelled")
		}
	}))
	client := ts.Client(t, mode)
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/", nil)
		// The response's header arrives before the cancel, so the request
		// has been sent in full and, in h2c-upgrade mode, the switch is over.
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		<-entered
		cancel()
		if err := <-ended; !errors.Is(err, context.Canceled) {
			t.Errorf("request %d: handler's context: %v, want context.Canceled", i+1, err)
		}
		resp.Body.Close()
	}
}
