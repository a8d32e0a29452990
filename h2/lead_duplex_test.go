package h2

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// flowClient is a client connection that keeps to the server's
// flow-control windows and gives back credit for all it receives.
type flowClient struct {
	t     testing.TB
	c     net.Conn
	fr    *http2.Framer
	wmu   sync.Mutex // fr's writes
	mu    sync.Mutex
	cond  sync.Cond
	conn  int64            // connection send window
	strm  map[uint32]int64 // stream send windows
	init  int64            // server's initial stream window
	data  map[uint32]*bytes.Buffer
	ends  map[uint32]bool
	err   error
	pings int
}

func dialFlow(t testing.TB, addr string, settings ...http2.Setting) *flowClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	fc := &flowClient{t: t, c: c, fr: http2.NewFramer(c, bufio.NewReader(c)), conn: 65535, init: 65535,
		strm: map[uint32]int64{}, data: map[uint32]*bytes.Buffer{}, ends: map[uint32]bool{}}
	fc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fc.cond.L = &fc.mu
	io.WriteString(c, http2.ClientPreface)
	fc.fr.WriteSettings(settings...)
	go fc.readLoop()
	return fc
}

func (fc *flowClient) readLoop() {
	for {
		f, err := fc.fr.ReadFrame()
		fc.mu.Lock()
		if err != nil {
			fc.err = err
			fc.cond.Broadcast()
			fc.mu.Unlock()
			return
		}
		var credit []uint32
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
					d := int64(v) - fc.init
					fc.init = int64(v)
					for id := range fc.strm {
						fc.strm[id] += d
					}
				}
				fc.mu.Unlock()
				fc.wmu.Lock()
				fc.fr.WriteSettingsAck()
				fc.wmu.Unlock()
				fc.mu.Lock()
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				fc.conn += int64(f.Increment)
			} else {
				fc.strm[f.StreamID] += int64(f.Increment)
			}
		case *http2.DataFrame:
			b := fc.data[f.StreamID]
			if b == nil {
				b = new(bytes.Buffer)
				fc.data[f.StreamID] = b
			}
			b.Write(f.Data())
			if f.StreamEnded() {
				fc.ends[f.StreamID] = true
			}
			if n := f.Length; n > 0 {
				credit = append(credit, f.StreamID, n)
			}
		case *http2.PingFrame:
			if f.IsAck() {
				fc.pings++
			}
		case *http2.RSTStreamFrame:
			fc.err = fmt.Errorf("RST_STREAM %v on %d", f.ErrCode, f.StreamID)
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeNo {
				fc.err = fmt.Errorf("GOAWAY %v %q", f.ErrCode, f.DebugData())
			}
		case *http2.MetaHeadersFrame:
			if f.StreamEnded() {
				fc.ends[f.StreamID] = true
			}
		}
		fc.cond.Broadcast()
		fc.mu.Unlock()
		if len(credit) > 0 {
			fc.wmu.Lock()
			fc.fr.WriteWindowUpdate(credit[0], credit[1])
			fc.fr.WriteWindowUpdate(0, credit[1])
			fc.wmu.Unlock()
		}
	}
}

// openTunnel opens a CONNECT tunnel on id.
func (fc *flowClient) openTunnel(id uint32) {
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	for _, f := range [][2]string{{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fc.mu.Lock()
	fc.strm[id] = fc.init
	fc.mu.Unlock()
	fc.wmu.Lock()
	fc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hbuf.Bytes(), EndHeaders: true})
	fc.wmu.Unlock()
}

// send writes p on id within the windows, in frames of at most 16 KiB.
func (fc *flowClient) send(id uint32, p []byte, end bool) error {
	for len(p) > 0 || end {
		fc.mu.Lock()
		for fc.err == nil && len(p) > 0 && (fc.conn <= 0 || fc.strm[id] <= 0) {
			fc.cond.Wait()
		}
		if fc.err != nil {
			err := fc.err
			fc.mu.Unlock()
			return err
		}
		n := int64(len(p))
		n = min(n, fc.conn, fc.strm[id], 16384)
		fc.conn -= n
		fc.strm[id] -= n
		fc.mu.Unlock()
		last := end && int(n) == len(p)
		fc.wmu.Lock()
		err := fc.fr.WriteData(id, last, p[:n])
		fc.wmu.Unlock()
		if err != nil {
			return err
		}
		p = p[n:]
		if last || len(p) == 0 && end {
			if !last {
				fc.wmu.Lock()
				fc.fr.WriteData(id, true, nil)
				fc.wmu.Unlock()
			}
			return nil
		}
	}
	return nil
}

func (fc *flowClient) write(fn func(fr *http2.Framer) error) error {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	return fn(fc.fr)
}

// waitData waits (up to 20 s, a hang) until id has received n bytes, or
// its end, and returns what it has.
func (fc *flowClient) waitData(id uint32, n int) ([]byte, error) {
	deadline := time.AfterFunc(20*time.Second, func() {
		fc.mu.Lock()
		if fc.err == nil {
			fc.err = fmt.Errorf("timed out (20 s) waiting for %d bytes on stream %d", n, id)
		}
		fc.cond.Broadcast()
		fc.mu.Unlock()
	})
	defer deadline.Stop()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for fc.err == nil && (fc.data[id] == nil || fc.data[id].Len() < n) && !fc.ends[id] {
		fc.cond.Wait()
	}
	var got []byte
	if b := fc.data[id]; b != nil {
		got = bytes.Clone(b.Bytes())
	}
	return got, fc.err
}

// duplexEcho echoes every chunk its Read goroutine gets, repeated rep
// times, from a Write goroutine (the handler's own).
func duplexEcho(rep int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		rc.Flush()
		msgs := make(chan []byte, 4)
		go func() {
			defer close(msgs)
			for {
				buf := make([]byte, 1+len(msgs)*1000) // varied sizes
				n, err := r.Body.Read(buf)
				if n > 0 {
					msgs <- buf[:n]
				}
				if err != nil {
					return
				}
			}
		}()
		for m := range msgs {
			if _, err := w.Write(bytes.Repeat(m, rep)); err != nil {
				for range msgs {
				}
				return
			}
			rc.Flush()
		}
	})
}

func pattern(n int, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i*7 + seed*13) / 3)
	}
	return b
}

// TestLeadDuplexWindowChanges: a tunnel whose handler reads in one
// goroutine and writes in another (each chunk read, twice), under a
// client that sends while it receives, with PINGs and SETTINGS that
// change INITIAL_WINDOW_SIZE (small, to 0, and back) mid-stream: every
// byte comes back, and the stream ends.
func TestLeadDuplexWindowChanges(t *testing.T) {
	for _, initial := range []uint32{100, 4096, 70000} {
		for _, pingpong := range []bool{false, true} {
			t.Run(fmt.Sprint(initial, map[bool]string{false: "/stream", true: "/pingpong"}[pingpong]), func(t *testing.T) {
				checkGoroutines(t)
				ts := newTestServer(t, duplexEcho(1), func(s *Server) {
					s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
				})
				fc := dialFlow(t, ts.addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: initial})
				fc.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(0, 1<<30) })
				fc.openTunnel(1)
				const total = 200 << 10
				want := pattern(total, int(initial))
				sendErr := make(chan error, 1)
				go func() {
					off := 0
					for i := 0; off < total; i++ {
						n := min(1+(i*911)%20000, total-off)
						if err := fc.send(1, want[off:off+n], false); err != nil {
							sendErr <- err
							return
						}
						off += n
						if pingpong {
							if _, err := fc.waitData(1, off); err != nil {
								sendErr <- err
								return
							}
						}
						var err error
						switch i % 7 {
						case 1:
							err = fc.write(func(fr *http2.Framer) error { return fr.WritePing(false, [8]byte{byte(i)}) })
						case 3:
							v := []uint32{0, 1, 16, 1000, initial, 65535, 1 << 20}[i%7*i%7%7]
							err = fc.write(func(fr *http2.Framer) error {
								return fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: v})
							})
						case 5:
							err = fc.write(func(fr *http2.Framer) error {
								return fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: initial})
							})
						}
						if err != nil {
							sendErr <- err
							return
						}
					}
					// Leave the window open at the end.
					sendErr <- fc.write(func(fr *http2.Framer) error {
						return fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
					})
				}()
				got, err := fc.waitData(1, total)
				t.Logf("got %d bytes, err %v, ends %v", len(got), err, fc.ends[1])
				if err != nil {
					fc.mu.Lock()
					t.Logf("client: conn window %d, stream window %d", fc.conn, fc.strm[1])
					fc.mu.Unlock()
					t.Fatalf("after %d of %d bytes: %v", len(got), total, err)
				}
				if err := <-sendErr; err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					i := 0
					for i < len(got) && i < len(want) && got[i] == want[i] {
						i++
					}
					t.Fatalf("echo of %d bytes differs from byte %d, want %d bytes", len(got), i, total)
				}
				ts.srv.mu.Lock()
				for sc := range ts.srv.conns {
					sc.mu.Lock()
					t.Logf("leader steps %d", sc.leadSteps)
					sc.mu.Unlock()
				}
				ts.srv.mu.Unlock()
				fc.send(1, nil, true)
				if _, err := fc.waitData(1, 1<<30); err != nil {
					t.Fatalf("end of stream: %v", err)
				}
			})
		}
	}
}
