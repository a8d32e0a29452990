package h2

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// serveOne serves one connection of ln with srv and h, and closes
// served once ServeConn returns.
func serveOne(t *testing.T, srv *Server, h http.Handler) (addr string, served chan struct{}, conn chan *serverConn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	served = make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		srv.ServeConn(c, &ServeConnOpts{Handler: h})
	}()
	return ln.Addr().String(), served, nil
}

// TestLeadEnds: the connection ends in ways the holder of the reading
// must see, while the reading is a tunnel's Write waiting for send
// window (its Read goroutine away) or its Read: a connection error from
// the client, a keepalive PING left unanswered, the client closing, a
// drain. Each time the handler must end and ServeConn return.
func TestLeadEnds(t *testing.T) {
	for _, holder := range []string{"read", "write"} {
		for _, how := range []string{"connerror", "keepalive", "close", "drain"} {
			t.Run(holder+"/"+how, func(t *testing.T) { testLeadEnds(t, holder, how) })
		}
	}
}

func testLeadEnds(t *testing.T, holder, how string) {
	checkGoroutines(t)
	srv := &Server{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if how == "drain" {
		srv.PingTimeout = 50 * time.Millisecond
	}
	if how == "keepalive" {
		srv.ReadIdleTimeout = 50 * time.Millisecond
		srv.PingTimeout = 50 * time.Millisecond
	}
	bodies := make(chan *requestBody, 1)
	hdone := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		rc.Flush()
		b := r.Body.(*requestBody)
		bodies <- b
		away := make(chan struct{})
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			buf := make([]byte, 64)
			n, err := b.Read(buf)
			if holder == "write" {
				<-away // out of Read, holding the reading
			}
			for err == nil {
				_, err = b.Read(buf[:n])
			}
		}()
		var err error
		if holder == "write" {
			for {
				sc := b.st.sc
				sc.mu.Lock()
				ok := sc.leader == b.st && sc.leaderBlocked // the Read reads: the Write waits, then takes over
				sc.mu.Unlock()
				if ok {
					break
				}
				time.Sleep(time.Millisecond)
			}
			_, err = w.Write(bytes.Repeat([]byte("w"), 64)) // waits for window: the Write reads
			if err == nil {
				err = rc.Flush()
			}
			close(away)
		}
		<-readDone
		hdone <- err
	})
	addr, served, _ := serveOne(t, srv, h)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc := newRawConn(t, c)
	io.WriteString(c, http2.ClientPreface)
	rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 16})
	rc.readServerSettings()
	rc.headers(1, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":authority", "a", ":path", "/")
	b := <-bodies
	sc := b.st.sc
	if holder == "write" {
		readData(t, rc, 1, 16, false)
		waitState(t, sc, "the Write waiting for window", func() bool { return sc.sendWaiters == 1 })
	}
	rc.fr.WriteData(1, false, []byte("x"))
	if holder == "write" {
		waitState(t, sc, "the Write reading", func() bool { return sc.leader == b.st && sc.leaderStepping && sc.leaderBlocked && b.st.rdst == nil })
	} else {
		waitState(t, sc, "the Read reading", func() bool { return sc.leader == b.st && sc.leaderBlocked && b.st.rdst != nil })
	}
	switch how {
	case "connerror":
		rc.fr.AllowIllegalWrites = true
		rc.fr.WriteData(0, false, []byte("x"))
	case "keepalive":
		// The client reads on and answers nothing.
		go io.Copy(io.Discard, c)
	case "close":
		c.Close()
	case "drain":
		go io.Copy(io.Discard, c) // and never answers the drain's PING
		srv.Drain()
		rc.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	}
	select {
	case <-hdone:
	case <-time.After(10 * time.Second):
		sc.mu.Lock()
		t.Logf("state: leader is tunnel %v, stepping %v, leaderBlocked %v, loopBlocked %v, sendWaiters %d, streams %d, closing %v",
			sc.leader == b.st, sc.leaderStepping, sc.leaderBlocked, sc.loopBlocked, sc.sendWaiters, len(sc.streams), sc.closing)
		sc.mu.Unlock()
		t.Fatal("the handler did not end within 10 s")
	}
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("ServeConn did not return within 10 s")
	}
}
