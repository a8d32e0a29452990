package websocket_test

// The client-side run of the conformance suite: the same cases, with the
// roles turned round. molt's Dial is the echoing peer, and the case's raw
// side is a server that sends unmasked frames and requires masked ones.
// The raw server sits behind a molt server (so that HTTP/2 comes for
// free): its handler answers the handshake by hand (a hijacked 101 over
// HTTP/1.1, a 200 to the extended CONNECT over HTTP/2) and gives the
// transport to the case.
//
// Cases that test what only a server does are left out (see
// cfClientSkip); cfClientCount is the number that run, reported in
// docs/websocket.md.

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/websocket"
)

// cfClientSkip says why a case does not apply to a client, by id prefix.
var cfClientSkip = []struct{ prefix, why string }{
	{"13.", "the server's choice among permessage-deflate offers"},
	{"X.1.", "unmasked client frames; the client-side mirror is TestDialMasked"},
}

func cfClientSkipped(id string) bool {
	for _, s := range cfClientSkip {
		if strings.HasPrefix(id, s.prefix) {
			return true
		}
	}
	return false
}

// cfClientCases returns the cases of the client-side run.
func cfClientCases() []cfCase {
	var cs []cfCase
	for _, tc := range cfCases() {
		if !cfClientSkipped(tc.id) {
			cs = append(cs, tc)
		}
	}
	return cs
}

// cfClientCount is the number of cases of the client-side run, kept in
// step with docs/websocket.md by TestConformanceClientCount.
const cfClientCount = 339

func TestConformanceClientCount(t *testing.T) {
	if n := len(cfClientCases()); n != cfClientCount {
		t.Errorf("the client-side run has %d cases; update cfClientCount and docs/websocket.md (it says %d)", n, cfClientCount)
	}
}

// cfPeerTransport is what the raw server's handler gives the case.
type cfPeerTransport struct {
	br         *bufio.Reader
	w          io.Writer
	closeWrite func() error
	done       chan struct{} // closed by the case: the handler may return
}

// cfRawServer starts a molt server whose every request is a handshake
// that it answers with the extension answer in the X-Answer request
// header (empty for none), sending the transport on the channel that
// cases holds for the request's X-Case.
func cfRawServer(t *testing.T, cases *sync.Map) *h2ctest.Server {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			return // the h2c upgrade's request
		}
		v, ok := cases.Load(r.Header.Get("X-Case"))
		if !ok {
			http.Error(w, "unknown case", http.StatusNotFound)
			return
		}
		ch := v.(chan *cfPeerTransport)
		answer := r.Header.Get("X-Answer")
		tr := &cfPeerTransport{done: make(chan struct{})}
		if r.ProtoMajor == 1 {
			nc, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(cfTimeout))
			resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
				websocket.AcceptKeyForTest(r.Header.Get("Sec-WebSocket-Key")) + "\r\n"
			if answer != "" {
				resp += "Sec-WebSocket-Extensions: " + answer + "\r\n"
			}
			if _, err := io.WriteString(nc, resp+"\r\n"); err != nil {
				t.Errorf("writing the 101: %v", err)
				return
			}
			tr.br = bufio.NewReaderSize(brw.Reader, 64<<10)
			tr.w = nc
			if cw, ok := nc.(interface{ CloseWrite() error }); ok {
				tr.closeWrite = cw.CloseWrite
			}
		} else {
			if answer != "" {
				w.Header().Set("Sec-WebSocket-Extensions", answer)
			}
			w.WriteHeader(http.StatusOK)
			rc := http.NewResponseController(w)
			if err := rc.Flush(); err != nil {
				t.Errorf("flush: %v", err)
				return
			}
			stop := context.AfterFunc(r.Context(), func() { r.Body.Close() })
			defer stop()
			watchdog := time.AfterFunc(cfTimeout, func() { r.Body.Close() })
			defer watchdog.Stop()
			tr.br = bufio.NewReaderSize(r.Body, 64<<10)
			tr.w = flushWriter{w, rc}
		}
		ch <- tr
		<-tr.done
	})
	return h2ctest.NewServer(t, h)
}

// flushWriter flushes every write to an HTTP/2 response.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// cfClientPeer is the echoing client of a case, configured as the molt
// endpoint the case names: /echo and /echo-ctx echo each message (with
// permessage-deflate offered without or with context takeover if the
// case offers it), /small reads at most rframeLimit bytes, /frag?n=N
// echoes through Writer in Writes of N bytes.
func cfClientPeer(t *testing.T, ts *h2ctest.Server, mode h2ctest.Mode, tc cfCase) (answer string, run func() error) {
	u, err := urlParse(tc.path)
	if err != nil {
		t.Fatal(err)
	}
	opts := &websocket.DialOptions{Protocol: dialProtocol(mode), ReadLimit: cfLargeLimit, Header: http.Header{}}
	if tc.offer != "" {
		opts.Compression = websocket.CompressionNoContextTakeover
		answer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
		if u == "/echo-ctx" {
			opts.Compression = websocket.CompressionContextTakeover
			answer = "permessage-deflate"
		}
	}
	if u == "/small" {
		opts.ReadLimit = rframeLimit
	}
	fragN := 0
	if strings.HasPrefix(u, "/frag?n=") {
		fragN, _ = strconv.Atoi(strings.TrimPrefix(u, "/frag?n="))
	}
	opts.Header.Set("X-Answer", answer)
	opts.Header.Set("X-Case", tc.id)
	ctx, cancel := context.WithTimeout(context.Background(), cfTimeout)
	t.Cleanup(cancel)
	return answer, func() error {
		c, err := websocket.Dial(ctx, wsURL(ts, "/"), opts)
		if err != nil {
			return err
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return nil // the case checks how the connection ended
			}
			if fragN == 0 {
				if c.Write(ctx, typ, msg) != nil {
					return nil
				}
				continue
			}
			w, err := c.Writer(ctx, typ)
			if err != nil {
				return nil
			}
			for len(msg) > 0 {
				k := min(fragN, len(msg))
				if _, err := w.Write(msg[:k]); err != nil {
					return nil
				}
				msg = msg[k:]
			}
			if w.Close() != nil {
				return nil
			}
		}
	}
}

func urlParse(path string) (string, error) {
	if path == "" {
		return "/echo", nil
	}
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("bad path %q", path)
	}
	return path, nil
}

// TestConformanceClient runs the cases that apply to a client, with
// molt's Dial as the peer, in every mode.
func TestConformanceClient(t *testing.T) {
	cases := cfClientCases()
	h2ctest.Run(t, func(t *testing.T, mode h2ctest.Mode) {
		var chans sync.Map
		ts := cfRawServer(t, &chans)
		for _, tc := range cases {
			t.Run(tc.id, func(t *testing.T) {
				t.Parallel()
				ch := make(chan *cfPeerTransport, 1)
				chans.Store(tc.id, ch)
				answer, peer := cfClientPeer(t, ts, mode, tc)
				perr := make(chan error, 1)
				go func() { perr <- peer() }()
				var tr *cfPeerTransport
				select {
				case tr = <-ch:
				case err := <-perr:
					t.Fatalf("Dial: %v", err)
				}
				released := false
				release := func() {
					if !released {
						released = true
						close(tr.done)
					}
				}
				defer release()
				c := &cfConn{t: t, mode: mode, chop: tc.chop, sendq: make(chan []byte, 64), wdone: make(chan struct{}),
					serverRole: true, br: tr.br, closeWrite: tr.closeWrite}
				if answer != "" {
					c.negotiated(answer)
				}
				go c.writeLoop(tr.w)
				t.Cleanup(c.stopWriter)
				func() {
					defer func() {
						if t.Failed() {
							c.stopWriter()
						}
					}()
					tc.run(c)
					c.finish()
				}()
				c.stopWriter()
				release()
				if c.ended {
					if err := <-perr; err != nil {
						t.Errorf("client: %v", err)
					}
				}
			})
		}
	})
}

// readMaskedFrame reads one client frame from br, which must be masked,
// and unmasks it. A frame longer than max bytes, or unmasked, is an
// errBadServerFrame (bad for the role the reader plays).
func readMaskedFrame(br *bufio.Reader, max uint64) (rframe, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return rframe{}, err
	}
	f := rframe{fin: h[0]&0x80 != 0, rsv: h[0] >> 4 & 7, op: h[0] & 15}
	if h[1]&0x80 == 0 {
		return f, fmt.Errorf("%w: an unmasked client frame", errBadServerFrame)
	}
	n := uint64(h[1] & 127)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > max {
		return f, fmt.Errorf("%w: %d bytes long", errBadServerFrame, n)
	}
	var key [4]byte
	if _, err := io.ReadFull(br, key[:]); err != nil {
		return f, err
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(br, f.payload); err != nil {
		return f, err
	}
	for i := range f.payload {
		f.payload[i] ^= key[i&3]
	}
	return f, nil
}
