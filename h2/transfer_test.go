package h2

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2"
)

// writeCountConn counts the calls that write to the connection: Write, and
// WriteBuffers (one writev) unless hidden.
type writeCountConn struct {
	net.Conn
	writes, vectors atomic.Int64
}

func (c *writeCountConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// vectorConn is a writeCountConn with a WriteBuffers method, as molt's
// server connections have.
type vectorConn struct{ *writeCountConn }

func (c vectorConn) WriteBuffers(bufs *net.Buffers) (int64, error) {
	c.vectors.Add(1)
	return bufs.WriteTo(c.Conn)
}

// serveCounted serves h on one loopback connection, wrapped in a
// writeCountConn (with WriteBuffers if vector), and returns the client's
// end after the preface and settings (settings, or the client's default
// of dialRaw), and the counters.
func serveCounted(t *testing.T, h http.Handler, vector bool, settings ...http2.Setting) (*rawConn, *writeCountConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Logger: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	cc := &writeCountConn{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		cc.Conn = c
		var sc net.Conn = cc
		if vector {
			sc = vectorConn{cc}
		}
		srv.ServeConn(sc, &ServeConnOpts{Handler: h})
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		ln.Close()
		wg.Wait()
	})
	rc := newRawConn(t, c)
	io.WriteString(c, http2.ClientPreface)
	if settings == nil {
		settings = []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1 << 20}}
	}
	rc.fr.WriteSettings(settings...)
	rc.fr.WriteWindowUpdate(0, 1<<20)
	rc.readServerSettings()
	return rc, cc
}

// TestLargeWriteRuns checks the write path of large bodies: a handler's
// large Write goes out as DATA frames of at most the peer's
// MAX_FRAME_SIZE, in order after the HEADERS, the body intact with
// END_STREAM on its last frame, and in runs of dataRun bytes, each run
// one WriteBuffers call (one writev) when the connection has one, and
// plain writes when it has not.
func TestLargeWriteRuns(t *testing.T) {
	body := make([]byte, 1<<20)
	for i := range body {
		body[i] = byte(i * 7)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body[:len(body)/2])
		w.Write(body[len(body)/2:])
	})
	for _, tc := range []struct {
		name     string
		maxFrame uint32 // the client's SETTINGS_MAX_FRAME_SIZE, 0 for the default
		vector   bool
	}{
		{"default frames, writev", 0, true},
		{"20000-byte frames, writev", 20000, true},
		{"1 MiB frames, writev", 1 << 20, true},
		{"default frames, no writev", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			settings := []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1 << 20}}
			maxFrame := 16384
			if tc.maxFrame != 0 {
				settings = append(settings, http2.Setting{ID: http2.SettingMaxFrameSize, Val: tc.maxFrame})
				maxFrame = int(tc.maxFrame)
			}
			rc, cc := serveCounted(t, h, tc.vector, settings...)
			rc.fr.SetMaxReadFrameSize(1 << 20)
			// The client's own window may take the whole body (dialRaw's
			// 1 MiB for the connection, beyond the first 65535).
			before := cc.vectors.Load()
			rc.get(1, "/")
			var got []byte
			sawHeaders, ended := false, false
			frames := 0
			for !ended {
				switch f := rc.read().(type) {
				case *http2.MetaHeadersFrame:
					if f.StreamID != 1 || sawHeaders || f.PseudoValue("status") != "200" {
						t.Fatalf("unexpected header block %v", f)
					}
					sawHeaders = true
					ended = f.StreamEnded()
				case *http2.DataFrame:
					if !sawHeaders {
						t.Fatal("DATA before HEADERS")
					}
					switch n := len(f.Data()); {
					case n > maxFrame:
						t.Fatalf("DATA frame of %d bytes, peer's MAX_FRAME_SIZE %d", n, maxFrame)
					case n == 0 && !f.StreamEnded():
						t.Fatal("empty DATA frame without END_STREAM")
					case n > 0:
						frames++ // the handler returns after its writes: an empty END_STREAM may follow
					}
					got = append(got, f.Data()...)
					ended = f.StreamEnded()
				case *http2.SettingsFrame, *http2.WindowUpdateFrame, *http2.PingFrame:
				default:
					t.Fatalf("unexpected frame %v", f)
				}
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("body of %d bytes differs from the %d written", len(got), len(body))
			}
			// Each Write of 512 KiB takes runs of max(dataRun, one frame),
			// each run cut into frames of MAX_FRAME_SIZE.
			run := max(dataRun, maxFrame)
			runs, wantFrames := 0, 0
			for range 2 {
				for left := len(body) / 2; left > 0; left -= min(left, run) {
					runs++
					wantFrames += (min(left, run) + maxFrame - 1) / maxFrame
				}
			}
			if frames != wantFrames {
				t.Errorf("%d DATA frames, want %d", frames, wantFrames)
			}
			vectors := cc.vectors.Load() - before
			if !tc.vector {
				// A connection without writev (a *tls.Conn, say) gets
				// the frames through the buffer, as before the runs: a
				// write per frame at most, not one for each 9-byte
				// header and another for its payload (a TLS record each).
				if w := cc.writes.Load(); vectors != 0 || w > int64(frames)+8 {
					t.Errorf("without WriteBuffers: %d vector writes, %d writes for %d frames, want at most one a frame", vectors, w, frames)
				}
				return
			}
			if vectors != int64(runs) {
				t.Errorf("%d writev calls for the body, want %d (runs of %d bytes)", vectors, runs, run)
			}
		})
	}
}

// TestLargeWriteWithinWindows checks that a large write that a small
// stream window splits goes out as the window opens: runs never exceed
// the window the client gives, and the body arrives whole.
func TestLargeWriteWithinWindows(t *testing.T) {
	checkGoroutines(t)
	body := bytes.Repeat([]byte("molt"), 64<<10) // 256 KiB
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	const window = 20000
	rc, _ := serveCounted(t, h, true, http2.Setting{ID: http2.SettingInitialWindowSize, Val: window})
	rc.get(1, "/")
	var got []byte
	credit := window
	for ended := false; !ended; {
		switch f := rc.read().(type) {
		case *http2.MetaHeadersFrame:
			ended = f.StreamEnded()
		case *http2.DataFrame:
			n := len(f.Data())
			if n > credit {
				t.Fatalf("DATA of %d bytes with %d of stream window left", n, credit)
			}
			credit -= n
			got = append(got, f.Data()...)
			ended = f.StreamEnded()
			if credit == 0 && !ended {
				rc.fr.WriteWindowUpdate(1, window)
				credit = window
			}
		}
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("got %d bytes, want the %d written", len(got), len(body))
	}
}

// discardBuffers is a buffersWriter that drops what it is given.
type discardBuffers struct{ io.Writer }

func (discardBuffers) WriteBuffers(b *net.Buffers) (int64, error) {
	var n int64
	for _, p := range *b {
		n += int64(len(p))
	}
	*b = nil
	return n, nil
}

// TestWriteDataNoAllocs checks that writing a large run allocates
// nothing in steady state: its frame headers and vector are pooled, not
// held by every connection, and not made anew for every run.
func TestWriteDataNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	b := writeBuffer{dst: discardBuffers{io.Discard}}
	p := make([]byte, dataRun)
	held := []byte("frame held in the buffer")
	if a := testing.AllocsPerRun(100, func() {
		b.Write(held)
		if err := b.writeData(1, p, 16384, false); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("%v allocations per run, want 0", a)
	}
}

// TestStreamCreditQuarter checks the cadence of stream credit for a body
// the handler reads: a WINDOW_UPDATE for the stream once a quarter of its
// window has been read, before the answer the handler writes after
// reading it; and none before (a handler that has read less than a
// quarter has earned nothing yet).
func TestStreamCreditQuarter(t *testing.T) {
	checkGoroutines(t)
	const window = 64 << 10
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, window/4)
		if _, err := io.ReadFull(r.Body, buf[:window/4-1]); err != nil {
			t.Errorf("reading: %v", err)
			return
		}
		io.WriteString(w, "less")
		w.(http.Flusher).Flush()
		if _, err := io.ReadFull(r.Body, buf[:1]); err != nil {
			t.Errorf("reading: %v", err)
			return
		}
		io.WriteString(w, "quarter")
		w.(http.Flusher).Flush()
		io.Copy(io.Discard, r.Body)
	})
	ts := newTestServer(t, h, func(s *Server) {
		s.MaxUploadBufferPerStream = window
		s.MaxUploadBufferPerConnection = 1 << 20
	})
	rc := dialRaw(t, ts)
	rc.post(1, "/")
	rc.fr.WriteData(1, false, make([]byte, window/4))
	credit := int64(0)
	for _, want := range []string{"less", "quarter"} {
		rc.readUntil("DATA "+want, func(f http2.Frame) bool {
			switch f := f.(type) {
			case *http2.WindowUpdateFrame:
				if f.StreamID == 1 {
					credit += int64(f.Increment)
				}
			case *http2.DataFrame:
				if f.StreamID == 1 && string(f.Data()) == want {
					return true
				}
			case *http2.RSTStreamFrame:
				t.Fatalf("stream reset: %v", f.ErrCode)
			}
			return false
		})
		switch want {
		case "less":
			if credit != 0 {
				t.Fatalf("stream credit %d after %d bytes read, want none before a quarter of %d", credit, window/4-1, window)
			}
		case "quarter":
			if credit != window/4 {
				t.Fatalf("stream credit %d after a quarter of the window was read, want %d", credit, window/4)
			}
		}
	}
	rc.fr.WriteData(1, true, nil)
	rc.response(1)
}
