package load

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/server"
)

// TestRunBodyEarlyAnswerAtStreamLimit: a server that answers before
// reading a body larger than its window, with -m at its
// MAX_CONCURRENT_STREAMS: each stream stays open (the body still being
// sent) until the server's RST_STREAM(NO_ERROR) follows its END_STREAM,
// so the request sent from the done callback must not be lost to
// ErrStreamLimit (slots dropping, the connection redialled).
func TestRunBodyEarlyAnswerAtStreamLimit(t *testing.T) {
	checkNoLeaks(t)
	h2ctest.RunEngines(t, func(t *testing.T, e h2ctest.Engine) {
		early := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusAccepted) // the body is never read
		})
		ts := h2ctest.NewServer(t, early, h2ctest.WithEngine(e), func(c *server.Config) {
			c.HTTP2.MaxConcurrentStreams = 2
			c.HTTP2.MaxUploadBufferPerStream = 16 << 10
		})
		for _, rate := range []float64{0, 2000} {
			rep, err := Run(context.Background(), Config{URL: ts.URL, Mode: ModeH2C, Conns: 1, Streams: 2, Rate: rate, Method: "POST", Body: bigBody, Requests: 200})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Requests != 200 || rep.Errors != 0 || rep.Connects != 1 {
				t.Errorf("rate %v: %d requests, %d errors (%v), %d connections; want 200, 0, 1", rate, rep.Requests, rep.Errors, rep.ErrorSample, rep.Connects)
			}
		}
	})
}

// TestRunBodyNoCreditEnd: a -d run whose bodies wait for credit that
// never comes ends, its requests timed out (CANCEL), leaving no body
// sender or any other goroutine behind.
func TestRunBodyNoCreditEnd(t *testing.T) {
	checkNoLeaks(t)
	h2ctest.RunEngines(t, func(t *testing.T, e h2ctest.Engine) {
		stall := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // never reads: no credit
		})
		ts := h2ctest.NewServer(t, stall, h2ctest.WithEngine(e), func(c *server.Config) {
			c.HTTP2.MaxUploadBufferPerStream = 16 << 10
			c.HTTP2.MaxUploadBufferPerConnection = 65535
		})
		for _, rate := range []float64{0, 200} {
			start := time.Now()
			rep, err := Run(context.Background(), Config{URL: ts.URL, Mode: ModeH2C, Conns: 2, Streams: 8, Rate: rate, Method: "POST", Body: bigBody, Duration: 200 * time.Millisecond, Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Requests != 0 || rep.Errors == 0 || rep.ErrorKinds["timeout"] != rep.Errors {
				t.Errorf("rate %v: %d ok, %d failed (%v) after %v; want every request timed out", rate, rep.Requests, rep.Errors, rep.ErrorKinds, time.Since(start))
			}
		}
	})
}
