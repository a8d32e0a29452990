package websocket_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/molt-http/molt/internal/h2ctest"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// wsClient is a raw WebSocket client for these tests: it sends frames as
// given (masked unless told otherwise) and reads frames as they come, over
// an HTTP/1.1 connection or an HTTP/2 stream opened with extended CONNECT.
type wsClient struct {
	t      testing.TB
	w      io.Writer
	br     *bufio.Reader
	nc     net.Conn
	status int
	header http.Header
	h2     *h2Stream
}

// dialWS opens a WebSocket to ts at path in mode with the extra request
// header fields in hdr. It returns the client whatever the status; the
// caller checks c.status (101 or 200 on success).
func dialWS(t testing.TB, ts *h2ctest.Server, mode h2ctest.Mode, path string, hdr http.Header) *wsClient {
	t.Helper()
	nc := ts.Dial(t)
	c := &wsClient{t: t, nc: nc}
	if mode == h2ctest.H1 {
		key := make([]byte, 16)
		rand.Read(key)
		var b strings.Builder
		fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, ts.Addr)
		req := http.Header{
			"Upgrade":               {"websocket"},
			"Connection":            {"Upgrade"},
			"Sec-WebSocket-Version": {"13"},
			"Sec-WebSocket-Key":     {base64.StdEncoding.EncodeToString(key)},
		}
		for k, v := range hdr {
			req[k] = v
		}
		for k, vs := range req {
			for _, v := range vs {
				if v != "\x00" { // "\x00" deletes a default field
					fmt.Fprintf(&b, "%s: %s\r\n", k, v)
				}
			}
		}
		b.WriteString("\r\n")
		if _, err := io.WriteString(nc, b.String()); err != nil {
			t.Fatalf("writing handshake: %v", err)
		}
		c.br = bufio.NewReader(nc)
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("reading handshake response: %v", err)
		}
		c.status, c.header = resp.StatusCode, resp.Header
		if resp.StatusCode != http.StatusSwitchingProtocols {
			resp.Body.Close()
		}
		c.w = nc
		return c
	}
	s := openH2Stream(t, nc, ts.Addr, mode, path, hdr)
	c.h2 = s
	c.status, c.header = s.status, s.header
	c.br = bufio.NewReader(s)
	c.w = s
	return c
}

// frame builds one frame; a nil key sends it unmasked.
func frame(fin bool, rsv, op byte, payload []byte, key []byte) []byte {
	b0 := op | rsv<<4
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	var mask byte
	if key != nil {
		mask = 0x80
	}
	switch n := len(payload); {
	case n <= 125:
		out = append(out, mask|byte(n))
	case n <= 0xFFFF:
		out = append(out, mask|126, byte(n>>8), byte(n))
	default:
		out = append(out, mask|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if key == nil {
		return append(out, payload...)
	}
	out = append(out, key...)
	for i, b := range payload {
		out = append(out, b^key[i%4])
	}
	return out
}

var testKey = []byte{0x12, 0x34, 0x56, 0x78}

// send writes a masked frame; rsv holds RSV1-3 as bits 2-0.
func (c *wsClient) send(fin bool, rsv, op byte, payload []byte) {
	c.t.Helper()
	c.raw(frame(fin, rsv, op, payload, testKey))
}

func (c *wsClient) raw(b []byte) {
	c.t.Helper()
	if _, err := c.w.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

type rframe struct {
	fin     bool
	rsv     byte
	op      byte
	payload []byte
}

// next reads one frame from the server; server frames must be unmasked.
func (c *wsClient) next() (rframe, error) {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return rframe{}, err
	}
	f := rframe{fin: h[0]&0x80 != 0, rsv: h[0] >> 4 & 7, op: h[0] & 15}
	if h[1]&0x80 != 0 {
		return f, errors.New("masked server frame")
	}
	n := uint64(h[1] & 127)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	f.payload = make([]byte, n)
	_, err := io.ReadFull(c.br, f.payload)
	return f, err
}

// message reads one data message, reassembled, skipping nothing: a
// control frame in between fails the test.
func (c *wsClient) message() (op byte, data []byte, rsv1 bool) {
	c.t.Helper()
	for first := true; ; first = false {
		f, err := c.next()
		if err != nil {
			c.t.Fatalf("reading message: %v", err)
		}
		if first {
			op, rsv1 = f.op, f.rsv&4 != 0
		} else if f.op != 0 {
			c.t.Fatalf("got opcode %d inside a message", f.op)
		}
		data = append(data, f.payload...)
		if f.fin {
			return op, data, rsv1
		}
	}
}

// expectClose reads frames until a close frame and returns its code (1005
// for an empty one) and reason; data frames before it are skipped.
func (c *wsClient) expectClose() (int, string) {
	c.t.Helper()
	for {
		f, err := c.next()
		if err != nil {
			c.t.Fatalf("reading until close: %v", err)
		}
		if f.op != 8 {
			continue
		}
		if len(f.payload) < 2 {
			return 1005, ""
		}
		return int(binary.BigEndian.Uint16(f.payload)), string(f.payload[2:])
	}
}

// closePayload returns a close frame payload.
func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// expectEOF checks the server ends the connection or stream after close.
func (c *wsClient) expectEOF() {
	c.t.Helper()
	if f, err := c.next(); err == nil {
		c.t.Fatalf("got frame op %d after close, want the end of the connection", f.op)
	}
}

// h2Stream is one extended CONNECT stream on a connection of its own.
type h2Stream struct {
	t      testing.TB
	nc     net.Conn
	fr     *http2.Framer
	id     uint32
	status int
	header http.Header

	wmu sync.Mutex // serialises frame writes

	mu        sync.Mutex
	cond      *sync.Cond
	buf       bytes.Buffer
	err       error // read side ended
	sendWin   int64 // min of connection and stream send windows, kept as two
	connWin   int64
	streamWin int64
	settings  map[http2.SettingID]uint32
	goaway    bool
}

// openH2Stream speaks HTTP/2 on nc (by prior knowledge, or after an h2c
// upgrade) and opens an extended CONNECT stream to path.
func openH2Stream(t testing.TB, nc net.Conn, authority string, mode h2ctest.Mode, path string, hdr http.Header) *h2Stream {
	t.Helper()
	s := &h2Stream{t: t, nc: nc, id: 1, connWin: 65535, streamWin: 65535, settings: map[http2.SettingID]uint32{}}
	s.cond = sync.NewCond(&s.mu)
	br := bufio.NewReader(nc)
	if mode == h2ctest.H2CUpgrade {
		io.WriteString(nc, "GET / HTTP/1.1\r\nHost: "+authority+"\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("h2c upgrade: %v %v", resp, err)
		}
		s.id = 3
	}
	io.WriteString(nc, http2.ClientPreface)
	s.fr = http2.NewFramer(nc, br)
	s.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	s.fr.MaxHeaderListSize = 1 << 20
	s.fr.WriteSettings()
	s.fr.WriteWindowUpdate(0, 1<<30)
	s.connWin = 65535
	// The server's first frame is its SETTINGS.
	f, err := s.fr.ReadFrame()
	if err != nil {
		t.Fatalf("reading server SETTINGS: %v", err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		t.Fatalf("first server frame %v, want SETTINGS", f)
	}
	s.applySettings(sf)
	s.fr.WriteSettingsAck()
	if s.settings[http2.SettingEnableConnectProtocol] != 1 {
		t.Fatalf("server SETTINGS %v lack ENABLE_CONNECT_PROTOCOL=1", s.settings)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	enc.WriteField(hpack.HeaderField{Name: ":method", Value: "CONNECT"})
	enc.WriteField(hpack.HeaderField{Name: ":protocol", Value: "websocket"})
	enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: "http"})
	enc.WriteField(hpack.HeaderField{Name: ":path", Value: path})
	enc.WriteField(hpack.HeaderField{Name: ":authority", Value: authority})
	req := http.Header{"Sec-Websocket-Version": {"13"}}
	for k, v := range hdr {
		req[http.CanonicalHeaderKey(k)] = v
	}
	for k, vs := range req {
		for _, v := range vs {
			if v != "\x00" {
				enc.WriteField(hpack.HeaderField{Name: strings.ToLower(k), Value: v})
			}
		}
	}
	s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: hb.Bytes(), EndHeaders: true})
	got := make(chan struct{})
	go s.readLoop(got)
	<-got
	if s.status == 0 {
		t.Fatalf("no response to extended CONNECT: %v", s.err)
	}
	return s
}

func (s *h2Stream) applySettings(sf *http2.SettingsFrame) {
	sf.ForeachSetting(func(st http2.Setting) error {
		s.settings[st.ID] = st.Val
		if st.ID == http2.SettingInitialWindowSize {
			s.streamWin += int64(st.Val) - 65535
		}
		return nil
	})
}

func (s *h2Stream) readLoop(got chan struct{}) {
	defer func() {
		select {
		case <-got:
		default:
			close(got)
		}
	}()
	for {
		f, err := s.fr.ReadFrame()
		s.mu.Lock()
		if err != nil {
			if s.err == nil {
				s.err = err
			}
			s.cond.Broadcast()
			s.mu.Unlock()
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				s.applySettings(f)
				s.wmu.Lock()
				s.fr.WriteSettingsAck()
				s.wmu.Unlock()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				s.wmu.Lock()
				s.fr.WritePing(true, f.Data)
				s.wmu.Unlock()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == s.id && s.status == 0 {
				s.status, _ = strconv.Atoi(f.PseudoValue("status"))
				s.header = http.Header{}
				for _, hf := range f.RegularFields() {
					s.header.Add(hf.Name, hf.Value)
				}
				close(got)
				if f.StreamEnded() {
					s.err = io.EOF
				}
			}
		case *http2.DataFrame:
			if n := len(f.Data()); n > 0 {
				s.wmu.Lock()
				s.fr.WriteWindowUpdate(f.StreamID, uint32(f.Length))
				s.wmu.Unlock()
			}
			if f.StreamID == s.id {
				s.buf.Write(f.Data())
				if f.StreamEnded() {
					s.err = io.EOF
				}
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				s.connWin += int64(f.Increment)
			} else if f.StreamID == s.id {
				s.streamWin += int64(f.Increment)
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == s.id {
				s.err = fmt.Errorf("stream reset: %v", f.ErrCode)
			}
		case *http2.GoAwayFrame:
			s.goaway = true
		}
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}

// Read returns DATA of the stream.
func (s *h2Stream) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.buf.Len() == 0 && s.err == nil {
		s.cond.Wait()
	}
	if s.buf.Len() > 0 {
		return s.buf.Read(p)
	}
	return 0, s.err
}

// Write sends p as DATA frames within the flow-control windows.
func (s *h2Stream) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		s.mu.Lock()
		for s.connWin <= 0 || s.streamWin <= 0 {
			if s.err != nil {
				s.mu.Unlock()
				return total - len(p), s.err
			}
			s.cond.Wait()
		}
		n := int(min(int64(len(p)), s.connWin, s.streamWin, 16384))
		s.connWin -= int64(n)
		s.streamWin -= int64(n)
		s.mu.Unlock()
		s.wmu.Lock()
		err := s.fr.WriteData(s.id, false, p[:n])
		s.wmu.Unlock()
		if err != nil {
			return total - len(p), err
		}
		p = p[n:]
	}
	return total, nil
}

// endStream sends END_STREAM.
func (s *h2Stream) endStream() {
	s.wmu.Lock()
	s.fr.WriteData(s.id, true, nil)
	s.wmu.Unlock()
}
