package h2

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// pingpongEcho sends n messages on id, each after the echo of the one
// before, with a PING every few, and checks them all.
func pingpongEcho(fc *flowClient, id uint32, seed, n int) error {
	fc.mu.Lock()
	var want []byte
	if b := fc.data[id]; b != nil {
		want = bytes.Clone(b.Bytes())
	}
	fc.mu.Unlock()
	for i := range n {
		msg := pattern(1+(i*577+seed)%3000, seed+i)
		want = append(want, msg...)
		if err := fc.send(id, msg, false); err != nil {
			return err
		}
		if i%4 == 1 {
			if err := fc.write(func(fr *http2.Framer) error { return fr.WritePing(false, [8]byte{byte(id), byte(i)}) }); err != nil {
				return err
			}
		}
		got, err := fc.waitData(id, len(want))
		if err != nil {
			return fmt.Errorf("stream %d message %d: %v", id, i, err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("stream %d message %d: echo differs", id, i)
		}
	}
	return nil
}

// TestLeadSecondTunnel: a second tunnel opens while the first one's
// Read holds the reading, and both echo at once (duplex handlers); the
// first ends and the second goes on, and reads the connection again; a
// third opens beside it; and so on, over many cycles on one connection.
// Then the client closes: ServeConn returns and nothing is left
// running; goroutines and descriptors do not grow with the cycles.
func TestLeadSecondTunnel(t *testing.T) {
	checkGoroutines(t)
	ts := newTestServer(t, duplexEcho(1), func(s *Server) {
		s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	})
	fc := dialFlow(t, ts.addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000})
	fc.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(0, 1<<30) })
	conn := func() *serverConn {
		for range 1000 {
			ts.srv.mu.Lock()
			for sc := range ts.srv.conns {
				ts.srv.mu.Unlock()
				return sc
			}
			ts.srv.mu.Unlock()
			time.Sleep(time.Millisecond)
		}
		t.Fatal("no conn")
		return nil
	}
	fc.openTunnel(1)
	if err := pingpongEcho(fc, 1, 0, 10); err != nil {
		t.Fatal(err)
	}
	sc := conn()
	leads := func(id uint32) bool {
		for range 10000 {
			sc.mu.Lock()
			ok := sc.leader != nil && sc.leader.id == id && sc.leaderBlocked
			sc.mu.Unlock()
			if ok {
				return true
			}
			time.Sleep(time.Millisecond)
		}
		return false
	}
	if !leads(1) {
		t.Fatal("tunnel 1 never read the connection")
	}
	fds := func() int {
		ents, _ := os.ReadDir("/proc/self/fd")
		return len(ents)
	}
	var g0, f0 int
	prev := uint32(1)
	const cycles = 150
	for cyc := range cycles {
		next := prev + 2
		fc.openTunnel(next)
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, id := range []uint32{prev, next} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- pingpongEcho(fc, id, cyc*7+int(id), 6)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("cycle %d: %v", cyc, err)
			}
		}
		// prev ends; next, alone, reads the connection again.
		if err := fc.send(prev, nil, true); err != nil {
			t.Fatal(err)
		}
		if _, err := fc.waitData(prev, 1<<30); err != nil {
			t.Fatalf("cycle %d: end of %d: %v", cyc, prev, err)
		}
		waitState(t, sc, "the ended tunnel gone", func() bool { return len(sc.streams) == 1 })
		if err := pingpongEcho(fc, next, cyc, 2); err != nil {
			t.Fatal(err)
		}
		if !leads(next) {
			sc.mu.Lock()
			t.Logf("leader %v wantLead %v loopBlocked %v", sc.leader != nil, sc.wantLead != nil, sc.loopBlocked)
			sc.mu.Unlock()
			t.Fatalf("cycle %d: tunnel %d, alone again, never reads the connection", cyc, next)
		}
		fc.mu.Lock()
		delete(fc.data, prev)
		fc.mu.Unlock()
		prev = next
		switch cyc {
		case 20:
			runtime.GC()
			g0, f0 = runtime.NumGoroutine(), fds()
		case cycles - 1:
			runtime.GC()
			g, f := runtime.NumGoroutine(), fds()
			t.Logf("after cycle 20: %d goroutines, %d fds; after cycle %d: %d, %d", g0, f0, cyc, g, f)
			if g > g0+8 || f > f0+8 {
				t.Errorf("growth over %d cycles: goroutines %d -> %d, fds %d -> %d", cycles-21, g0, g, f0, f)
			}
		}
	}
	fc.c.Close()
	ts.close()
}
