package middleware_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/middleware"
)

const blLimit = 4096

// blEcho echoes the request body, and describes a read error with
// http.Error, as handlers do; it names the connection in X-Remote.
func blEcho(calls *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("X-Remote", r.RemoteAddr)
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Write(b)
	}
}

// blOnlyReader hides everything but Read, so the client does not know the
// body's length: chunked on HTTP/1.1, no content-length on HTTP/2.
type blOnlyReader struct{ io.Reader }

func blDo(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return resp, string(h2ctest.ReadBody(t, resp))
}

func TestBodyLimit(t *testing.T) {
	at := strings.Repeat("a", blLimit)
	over := at + "b"
	tooLarge := "Request Entity Too Large\n"
	tests := []struct {
		name      string
		body      func() io.Reader // nil: no body
		status    int
		want      string
		handlerOK bool // whether the handler runs
	}{
		{"no body", nil, 200, "", true},
		{"content-length at the limit", func() io.Reader { return strings.NewReader(at) }, 200, at, true},
		{"content-length over the limit", func() io.Reader { return strings.NewReader(over) }, 413, tooLarge, false},
		{"unknown length at the limit", func() io.Reader { return blOnlyReader{strings.NewReader(at)} }, 200, at, true},
		{"unknown length over the limit", func() io.Reader { return blOnlyReader{strings.NewReader(over)} }, 413, tooLarge, true},
		{"unknown length far over the limit", func() io.Reader { return blOnlyReader{strings.NewReader(strings.Repeat(over, 100))} }, 413, tooLarge, true},
	}
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		var calls atomic.Int32
		ts := h2ctest.NewServer(t, middleware.BodyLimit(middleware.BodyLimitOptions{Limit: blLimit})(blEcho(&calls)))
		c := ts.Client(t, mode)
		blDo(t, c, blMust(http.NewRequest("GET", ts.URL+"/", nil))) // the upgrade, in h2c-upgrade mode
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var body io.Reader
				if tt.body != nil {
					body = tt.body()
				}
				calls.Store(0)
				resp, got := blDo(t, c, blMust(http.NewRequest("POST", ts.URL+"/", body)))
				if resp.StatusCode != tt.status || got != tt.want {
					t.Errorf("got %d %.40q, want %d %.40q", resp.StatusCode, got, tt.status, tt.want)
				}
				if ran := calls.Load() == 1; ran != tt.handlerOK {
					t.Errorf("handler ran: %v, want %v", ran, tt.handlerOK)
				}
				if resp.ProtoMajor != h2ctest.WantProto(mode) {
					t.Errorf("response over %s in mode %s", resp.Proto, mode)
				}
			})
		}
	})
}

func blMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// blPipe is a request body that the client is still sending: it writes
// 1 KiB at a time until the client stops reading it.
func blPipe(t *testing.T) io.Reader {
	pr, pw := io.Pipe()
	chunk := bytes.Repeat([]byte("z"), 1024)
	go func() {
		for {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { pr.CloseWithError(errors.New("test over")) })
	return blOnlyReader{pr}
}

// TestBodyLimitStreaming sends a body without length that goes over the
// limit while the client is still sending. The answer is 413; on HTTP/2
// only the stream ends and the same connection serves the next request;
// on HTTP/1.1 the connection is closed and the next request gets a new
// one.
func TestBodyLimitStreaming(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		var calls atomic.Int32
		ts := h2ctest.NewServer(t, middleware.BodyLimit(middleware.BodyLimitOptions{Limit: blLimit})(blEcho(&calls)))
		c := ts.Client(t, mode)
		first, _ := blDo(t, c, blMust(http.NewRequest("GET", ts.URL+"/", nil)))

		resp, got := blDo(t, c, blMust(http.NewRequest("POST", ts.URL+"/", blPipe(t))))
		if resp.StatusCode != 413 || got != "Request Entity Too Large\n" {
			t.Fatalf("got %d %q, want 413", resp.StatusCode, got)
		}
		limited := resp.Header.Get("X-Remote")

		next, got := blDo(t, c, blMust(http.NewRequest("POST", ts.URL+"/", strings.NewReader("small"))))
		if next.StatusCode != 200 || got != "small" {
			t.Fatalf("next request: %d %q", next.StatusCode, got)
		}
		after := next.Header.Get("X-Remote")
		if mode == h2ctest.H1 {
			if !resp.Close {
				t.Error("the 413 does not close the HTTP/1.1 connection")
			}
			if after == limited {
				t.Errorf("the next request came over the same HTTP/1.1 connection %s", after)
			}
		} else if a, b := first.Header.Get("X-Remote"), after; a != limited || b != limited {
			t.Errorf("connections: %s before, %s for the 413, %s after; want one", a, limited, b)
		}
	})
}

// TestBodyLimitHandlerStarted: a handler that began its response before
// the limit was hit keeps it.
func TestBodyLimitHandlerStarted(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		h := middleware.BodyLimit(middleware.BodyLimitOptions{Limit: blLimit})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, "started")
			_, err := io.Copy(io.Discard, r.Body)
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				fmt.Fprintf(w, "|limit %d", mbe.Limit)
			}
		}))
		ts := h2ctest.NewServer(t, h)
		c := ts.Client(t, mode)
		blDo(t, c, blMust(http.NewRequest("GET", ts.URL+"/", nil)))
		resp, got := blDo(t, c, blMust(http.NewRequest("POST", ts.URL+"/", blPipe(t))))
		if want := fmt.Sprintf("started|limit %d", blLimit); resp.StatusCode != 202 || got != want {
			t.Errorf("got %d %q, want 202 %q", resp.StatusCode, got, want)
		}
	})
}

// TestBodyLimitCutsHandlerOff: once the response is the 413, the
// handler's writes fail with the *http.MaxBytesError; and a custom
// Handler writes the answer.
func TestBodyLimitCutsHandlerOff(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		errs := make(chan []error, 1)
		answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			io.WriteString(w, `{"error":"too large"}`)
		})
		h := middleware.BodyLimit(middleware.BodyLimitOptions{Limit: blLimit, Handler: answer})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				return
			}
			_, err := io.ReadAll(r.Body)
			var e []error
			e = append(e, err)
			w.WriteHeader(http.StatusTeapot)
			_, err = io.WriteString(w, "ignored")
			e = append(e, err)
			e = append(e, http.NewResponseController(w).Flush())
			errs <- e
		}))
		ts := h2ctest.NewServer(t, h)
		c := ts.Client(t, mode)
		blDo(t, c, blMust(http.NewRequest("GET", ts.URL+"/", nil)))
		resp, got := blDo(t, c, blMust(http.NewRequest("PUT", ts.URL+"/", blPipe(t))))
		if resp.StatusCode != 413 || got != `{"error":"too large"}` || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("got %d %q (%s)", resp.StatusCode, got, resp.Header.Get("Content-Type"))
		}
		for i, err := range <-errs {
			var mbe *http.MaxBytesError
			if !errors.As(err, &mbe) || mbe.Limit != blLimit {
				t.Errorf("step %d: %v, want *http.MaxBytesError with Limit %d", i, err, blLimit)
			}
		}
	})
}

// TestBodyLimitUpgradePassesThrough: a CONNECT carries a body of any
// length, a stream rather than an upload. An HTTP/1.1 WebSocket handshake
// has no body at all, and Upgrade fields on a request with a body do not
// lift the limit (TestUpgradeFieldsKeepLimits). The h2ctest client sends
// a CONNECT by prior knowledge only.
func TestBodyLimitUpgradePassesThrough(t *testing.T) {
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		var calls atomic.Int32
		ts := h2ctest.NewServer(t, middleware.BodyLimit(middleware.BodyLimitOptions{Limit: blLimit})(blEcho(&calls)))
		big := strings.Repeat("u", 3*blLimit)
		req := blMust(http.NewRequest("CONNECT", ts.URL, blOnlyReader{strings.NewReader(big)}))
		resp, got := blDo(t, ts.Client(t, mode), req)
		if resp.StatusCode != 200 || got != big {
			t.Errorf("got %d with %d bytes, want 200 with %d", resp.StatusCode, len(got), len(big))
		}
	}, h2ctest.H2CPrior)
}

// TestBodyLimitH1Close checks on the wire that an HTTP/1.1 connection
// whose chunked body went over the limit is closed after the 413, while
// the client is still sending: directly and behind Timeout, whose writer
// hides the server's.
func TestBodyLimitH1Close(t *testing.T) {
	limit := middleware.BodyLimit(middleware.BodyLimitOptions{Limit: blLimit})
	timeout := middleware.Timeout(middleware.TimeoutOptions{Duration: time.Minute})
	var calls atomic.Int32
	tests := []struct {
		name string
		h    http.Handler
	}{
		{"alone", limit(blEcho(&calls))},
		{"behind Timeout", timeout(limit(blEcho(&calls)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := h2ctest.NewServer(t, tt.h)
			c := ts.Dial(t)
			go func() {
				io.WriteString(c, "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
				chunk := "400\r\n" + strings.Repeat("c", 1024) + "\r\n"
				for {
					if _, err := io.WriteString(c, chunk); err != nil {
						return // the server closed the connection
					}
				}
			}()
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("reading the response: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 413 || string(body) != "Request Entity Too Large\n" {
				t.Fatalf("got %d %q (%v), want 413", resp.StatusCode, body, err)
			}
			if !resp.Close {
				t.Error("the 413 lacks Connection: close")
			}
			// The server reads no further request: the connection ends
			// (EOF, or a reset if it left our last chunks unread).
			n, err := io.Copy(io.Discard, br)
			var ne net.Error
			if n != 0 || (errors.As(err, &ne) && ne.Timeout()) {
				t.Errorf("after the 413: %d more bytes, %v; want the connection closed", n, err)
			}
		})
	}
}

// TestBodyLimitH2Reset checks on the wire that over HTTP/2 the rest of a
// body over the limit is refused with RST_STREAM (NO_ERROR, after the
// complete 413), and the connection serves the next stream.
func TestBodyLimitH2Reset(t *testing.T) {
	var calls atomic.Int32
	ts := h2ctest.NewServer(t, middleware.BodyLimit(middleware.BodyLimitOptions{Limit: blLimit})(blEcho(&calls)))
	c := ts.Dial(t)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	headers := func(id uint32, method string, end bool) {
		hb.Reset()
		for _, f := range [][2]string{{":method", method}, {":scheme", "http"}, {":authority", ts.Addr}, {":path", "/"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: end}); err != nil {
			t.Fatal(err)
		}
	}
	// Stream 1: a POST without content-length, more than the limit of
	// data, and no END_STREAM: the client is still sending.
	headers(1, "POST", false)
	if err := fr.WriteData(1, false, bytes.Repeat([]byte("d"), blLimit+1)); err != nil {
		t.Fatal(err)
	}
	type result struct {
		status string
		body   bytes.Buffer
		ended  bool // END_STREAM seen
		rst    *http2.ErrCode
	}
	read := func(id uint32, done func(*result) bool) *result {
		res := new(result)
		for !done(res) {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("reading frames for stream %d: %v", id, err)
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					fr.WriteSettingsAck()
				}
			case *http2.GoAwayFrame:
				t.Fatalf("GOAWAY %v: the connection ends", f.ErrCode)
			case *http2.MetaHeadersFrame:
				if f.StreamID == id {
					res.status = f.PseudoValue("status")
					res.ended = res.ended || f.StreamEnded()
				}
			case *http2.DataFrame:
				if f.StreamID == id {
					res.body.Write(f.Data())
					res.ended = res.ended || f.StreamEnded()
				}
			case *http2.RSTStreamFrame:
				if f.StreamID == id {
					if !res.ended {
						t.Fatalf("stream %d reset with %v before the response was complete", id, f.ErrCode)
					}
					code := f.ErrCode
					res.rst = &code
				}
			}
		}
		return res
	}
	res := read(1, func(r *result) bool { return r.rst != nil })
	if res.status != "413" || res.body.String() != "Request Entity Too Large\n" || *res.rst != http2.ErrCodeNo {
		t.Errorf("stream 1: %s %q, RST_STREAM %v; want 413, then RST_STREAM NO_ERROR", res.status, res.body.String(), *res.rst)
	}
	// More data on the reset stream is discarded, and stream 3 is served.
	fr.WriteData(1, false, []byte("late"))
	headers(3, "GET", true)
	res = read(3, func(r *result) bool { return r.ended })
	if res.status != "200" {
		t.Errorf("stream 3: status %s, want 200", res.status)
	}
}

func TestBodyLimitInvalidOptions(t *testing.T) {
	for _, limit := range []int64{0, -1} {
		func() {
			want := fmt.Sprintf("middleware: BodyLimit: Limit must be positive, got %d", limit)
			defer func() {
				if p := recover(); p != want {
					t.Errorf("Limit %d: panic %v, want %q", limit, p, want)
				}
			}()
			middleware.BodyLimit(middleware.BodyLimitOptions{Limit: limit})
		}()
	}
}
