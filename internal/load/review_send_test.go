package load

import (
	"context"
	"net/http"
	"testing"

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
