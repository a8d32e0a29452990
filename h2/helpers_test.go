package h2

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer serves h with an h2.Server on a loopback listener.
type testServer struct {
	srv  *Server
	addr string
	ln   net.Listener
	wg   sync.WaitGroup
}

func newTestServer(t testing.TB, h http.Handler, configure ...func(*Server)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Logger: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, f := range configure {
		f(srv)
	}
	ts := &testServer{srv: srv, addr: ln.Addr().String(), ln: ln}
	ts.wg.Add(1)
	go func() {
		defer ts.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ts.wg.Add(1)
			go func() {
				defer ts.wg.Done()
				srv.ServeConn(c, &ServeConnOpts{Handler: h})
			}()
		}
	}()
	t.Cleanup(ts.close)
	return ts
}

// close stops the listener, closes every connection and waits for them.
func (ts *testServer) close() {
	ts.ln.Close()
	ts.srv.mu.Lock()
	for sc := range ts.srv.conns {
		sc.c.Close()
	}
	ts.srv.mu.Unlock()
	ts.wg.Wait()
}

func (ts *testServer) url() string { return "http://" + ts.addr }

// client returns an HTTP/2 (prior knowledge) client for ts.
func (ts *testServer) client(t testing.TB) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols), DisableCompression: true}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

type testLog struct{ t testing.TB }

var logMu sync.Mutex
var logDone = map[testing.TB]bool{}

func (w testLog) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	if !logDone[w.t] {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func readAll(t testing.TB, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

// checkGoroutines fails t if goroutines started by the test remain after
// its servers have closed. It waits for them to end, bounded.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for runtime.NumGoroutine() > before {
			if ctx.Err() != nil {
				buf := make([]byte, 1<<20)
				t.Errorf("goroutines leaked: %d > %d\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
