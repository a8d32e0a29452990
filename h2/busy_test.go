package h2

import (
	"io"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestBusyCountEveryEnd checks sc.busy (the streams whose response has
// not ended, behind the yield before a flush in write) while a handler
// that never ends its response keeps it above zero: every response of
// the other streams still arrives, and once the streams have ended in
// every way (a whole response, a panic, a reset by the client before and
// after the response began, a body left unread), busy and unstarted are
// back at zero.
func TestBusyCountEveryEnd(t *testing.T) {
	release := make(chan struct{})
	ts := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hold":
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			<-release
		case "/panic":
			panic(http.ErrAbortHandler)
		case "/wait":
			<-r.Context().Done()
		case "/half":
			io.WriteString(w, "x")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			io.WriteString(w, "ok")
		}
	}))
	defer ts.close()
	rc := dialRaw(t, ts)
	rc.get(1, "/hold")
	if r := rc.readUntil("HEADERS", func(f http2.Frame) bool { return f.Header().StreamID == 1 }); r == nil {
		t.Fatal("no response on stream 1")
	}
	id := uint32(3)
	for i := 0; i < 50; i++ {
		rc.get(id, "/")
		if r := rc.response(id); r.status != "200" || string(r.body) != "ok" {
			t.Fatalf("stream %d: %s %q", id, r.status, r.body)
		}
		id += 2
	}
	rc.get(id, "/panic")
	rc.wantRST(id, http2.ErrCodeInternal)
	id += 2
	rc.get(id, "/wait")
	rc.ping()
	rc.fr.WriteRSTStream(id, http2.ErrCodeCancel)
	id += 2
	rc.get(id, "/half")
	rc.readUntil("DATA", func(f http2.Frame) bool { return f.Header().StreamID == id })
	rc.fr.WriteRSTStream(id, http2.ErrCodeCancel)
	id += 2
	rc.post(id, "/")
	rc.fr.WriteData(id, false, []byte("body"))
	if r := rc.response(id); r.status != "200" {
		t.Fatalf("stream %d: %s", id, r.status)
	}
	close(release)
	rc.readUntil("END_STREAM on 1", func(f http2.Frame) bool {
		return f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagDataEndStream)
	})
	var sc *serverConn
	ts.srv.mu.Lock()
	for c := range ts.srv.conns {
		sc = c
	}
	ts.srv.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		sc.mu.Lock()
		running := sc.running
		sc.mu.Unlock()
		if running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d handlers still running", running)
		}
		time.Sleep(time.Millisecond)
	}
	if b, u := sc.busy.Load(), sc.unstarted.Load(); b != 0 || u != 0 {
		t.Fatalf("busy %d, unstarted %d after every stream ended, want 0 and 0", b, u)
	}
}
