package server_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
)

func TestHandlerWriterIsCloseNotifier(t *testing.T) { h2ctest.Run(t, testCloseNotifier) }

// testCloseNotifier checks that the writer the core gives its handlers is
// an http.CloseNotifier, as net/http's and x/net's own writers are: code
// moved over from before Go 1.8, and writer wrappers such as gin's,
// assert it without checking, and panicked once the core's writer
// dropped it. Its channel must fire when the client goes away: over
// HTTP/1.1 the client closes the connection, over HTTP/2 it resets the
// stream (in h2c-upgrade mode the first request is stream 1).
func testCloseNotifier(t *testing.T, mode h2ctest.Mode) {
	entered := make(chan struct{})
	notified := make(chan error, 1)
	ts := h2ctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn, ok := w.(http.CloseNotifier)
		if !ok {
			http.Error(w, "not an http.CloseNotifier", http.StatusInternalServerError)
			return
		}
		closed := cn.CloseNotify()
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		entered <- struct{}{}
		select {
		case <-closed:
			notified <- nil
		case <-time.After(10 * time.Second):
			notified <- errors.New("CloseNotify has not fired 10s after the client went away")
		}
	}))
	client := ts.Client(t, mode)
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/", nil)
		resp, err := client.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("request %d: %v", i+1, err)
		}
		if resp.StatusCode != http.StatusOK {
			body := h2ctest.ReadBody(t, resp)
			cancel()
			t.Fatalf("request %d: %s %q", i+1, resp.Status, body)
		}
		<-entered
		cancel()
		if err := <-notified; err != nil {
			t.Errorf("request %d: %v", i+1, err)
		}
		resp.Body.Close()
	}
}
