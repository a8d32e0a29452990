package h2client

import (
	"context"
	"net/http"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// TestClientWriteHeadersAndPing opens a stream with WriteHeaders, which
// the server serves like any other, and pings after it. The frames the
// server sends on the untracked stream must be discarded without harm to
// the connection, which still serves a RoundTrip on the next stream ID.
func TestClientWriteHeadersAndPing(t *testing.T) {
	checkNoLeaks(t)
	paths := make(chan string, 2)
	addr := startH2(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths <- r.URL.Path
		w.Write([]byte("response on a stream the client does not track"))
	}))
	cc := dialH2(t, addr, ClientOptions{})
	id, err := cc.WriteHeaders([]hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: addr}, {Name: ":path", Value: "/raw"}}, true)
	if err != nil || id != 1 {
		t.Fatalf("WriteHeaders = %d, %v; want stream 1", id, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := cc.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if got := await(t, paths, "the raw stream's handler"); got != "/raw" {
		t.Errorf("handler saw %q, want /raw", got)
	}
	resp, err := cc.RoundTrip(newRequest(t, "GET", "http://"+addr+"/next", nil))
	if err != nil {
		t.Fatalf("RoundTrip after the raw stream: %v", err)
	}
	resp.Body.Close()
	if got := await(t, paths, "the next stream's handler"); got != "/next" {
		t.Errorf("handler saw %q, want /next", got)
	}
}
