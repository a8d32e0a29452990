package websocket

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// streamID is the one stream the HTTP/2 client opens.
const streamID = 1

// windowBatch is how many received bytes the client lets pile up before
// it gives them back to the server in WINDOW_UPDATEs.
const windowBatch = 1 << 20

// h2Stream carries the WebSocket bytes of one extended CONNECT stream
// (RFC 8441) over x/net's Framer: Read returns the payload of the
// server's DATA frames, Write sends DATA frames within the server's flow
// control windows. It handles the frames that come in between (SETTINGS,
// PING, WINDOW_UPDATE) itself and allocates nothing per frame.
type h2Stream struct {
	fr  *http2.Framer
	bw  *bufio.Writer
	cur []byte // unread payload of the current DATA frame
	eof bool   // the server ended the stream

	maxFrame   int   // the server's SETTINGS_MAX_FRAME_SIZE
	initWindow int64 // the server's SETTINGS_INITIAL_WINDOW_SIZE
	connWindow int64 // what the client may still send on the connection
	strWindow  int64 // ... and on the stream
	unacked    uint32
	settings   bool // the server's first SETTINGS arrived
	connect    bool // the server's SETTINGS_ENABLE_CONNECT_PROTOCOL is 1
}

// dialH2 opens a WebSocket to ws://addr/path over HTTP/2 by prior
// knowledge: preface, SETTINGS, then CONNECT with :protocol websocket on
// stream 1, which must be answered 200.
func dialH2(addr, path string) (*client, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	s, err := handshakeH2(conn, addr, path)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &client{w: s, flush: s.bw.Flush, r: bufio.NewReader(s), conn: conn}, nil
}

func handshakeH2(conn net.Conn, addr, path string) (*h2Stream, error) {
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetDeadline(time.Time{})
	s := newH2Stream(conn, bufio.NewReader(conn))
	s.bw.WriteString(http2.ClientPreface)
	if err := s.writeSettings(false); err != nil {
		return nil, err
	}
	for !s.settings {
		if _, err := s.next(); err != nil {
			return nil, fmt.Errorf("waiting for SETTINGS: %w", err)
		}
	}
	if !s.connect {
		return nil, errors.New("server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL=1")
	}

	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{
		{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "http"},
		{":path", path}, {":authority", addr}, {"sec-websocket-version", "13"},
	} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: streamID, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		return nil, err
	}
	if err := s.bw.Flush(); err != nil {
		return nil, err
	}
	for {
		f, err := s.next()
		if err != nil {
			return nil, fmt.Errorf("waiting for the CONNECT response: %w", err)
		}
		h, ok := f.(*http2.MetaHeadersFrame)
		if !ok {
			if f != nil {
				return nil, fmt.Errorf("%v before the CONNECT response", f.Header())
			}
			continue
		}
		if st := h.PseudoValue("status"); st != "200" {
			return nil, fmt.Errorf("CONNECT answered %s, want 200", st)
		}
		if h.StreamEnded() {
			return nil, errors.New("CONNECT response ended the stream")
		}
		for _, hf := range h.RegularFields() {
			if hf.Name == "sec-websocket-extensions" {
				return nil, fmt.Errorf("extension %q accepted, none offered", hf.Value)
			}
		}
		return s, nil
	}
}

// newH2Stream returns the stream of an HTTP/2 connection whose frames are
// read from br and written to conn.
func newH2Stream(conn net.Conn, br *bufio.Reader) *h2Stream {
	bw := bufio.NewWriterSize(conn, 128<<10)
	s := &h2Stream{
		fr:         http2.NewFramer(bw, br),
		bw:         bw,
		maxFrame:   16384,
		initWindow: 65535,
		connWindow: 65535,
		strWindow:  65535,
	}
	s.fr.SetReuseFrames()
	s.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	s.fr.MaxHeaderListSize = 1 << 20
	return s
}

// writeSettings sends the first SETTINGS, with a large receive window so
// that the peer is never held up by this side (which gives the window back
// in batches of windowBatch) and, from a server, ENABLE_CONNECT_PROTOCOL=1.
func (s *h2Stream) writeSettings(server bool) error {
	settings := []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 1 << 30}}
	if server {
		settings = append(settings, http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1})
	}
	if err := s.fr.WriteSettings(settings...); err != nil {
		return err
	}
	if err := s.fr.WriteWindowUpdate(0, 1<<30); err != nil {
		return err
	}
	return s.bw.Flush()
}

// next reads one frame and handles the connection-level ones. It returns
// the frames of stream 1 that are the caller's business (DATA, HEADERS)
// and nil for the others.
func (s *h2Stream) next() (http2.Frame, error) {
	f, err := s.fr.ReadFrame()
	if err != nil {
		return nil, err
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil, nil
		}
		err := f.ForeachSetting(func(st http2.Setting) error {
			switch st.ID {
			case http2.SettingMaxFrameSize:
				s.maxFrame = int(st.Val)
			case http2.SettingInitialWindowSize:
				s.strWindow += int64(st.Val) - s.initWindow
				s.initWindow = int64(st.Val)
			case http2.SettingEnableConnectProtocol:
				s.connect = st.Val == 1
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		s.settings = true
		if err := s.fr.WriteSettingsAck(); err != nil {
			return nil, err
		}
		return nil, s.bw.Flush()
	case *http2.WindowUpdateFrame:
		switch f.StreamID {
		case 0:
			s.connWindow += int64(f.Increment)
		case streamID:
			s.strWindow += int64(f.Increment)
		}
		return nil, nil
	case *http2.PingFrame:
		if f.IsAck() {
			return nil, nil
		}
		if err := s.fr.WritePing(true, f.Data); err != nil {
			return nil, err
		}
		return nil, s.bw.Flush()
	case *http2.GoAwayFrame:
		return nil, fmt.Errorf("GOAWAY %v", f.ErrCode)
	case *http2.RSTStreamFrame:
		return nil, fmt.Errorf("RST_STREAM %v", f.ErrCode)
	case *http2.DataFrame, *http2.MetaHeadersFrame:
		if f.Header().StreamID != streamID {
			return nil, fmt.Errorf("%v on an unknown stream", f.Header())
		}
		return f, nil
	}
	return nil, nil
}

// Read returns the payload of the server's DATA frames on stream 1.
func (s *h2Stream) Read(p []byte) (int, error) {
	for len(s.cur) == 0 {
		if s.eof {
			return 0, errors.New("server ended the stream")
		}
		f, err := s.next()
		if err != nil {
			return 0, err
		}
		switch f := f.(type) {
		case *http2.DataFrame:
			s.cur = f.Data()
			s.eof = f.StreamEnded()
			s.unacked += f.Length
			if s.unacked >= windowBatch {
				if err := s.fr.WriteWindowUpdate(0, s.unacked); err != nil {
					return 0, err
				}
				if err := s.fr.WriteWindowUpdate(streamID, s.unacked); err != nil {
					return 0, err
				}
				if err := s.bw.Flush(); err != nil {
					return 0, err
				}
				s.unacked = 0
			}
		case *http2.MetaHeadersFrame:
			s.eof = true // trailers
		}
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

// Write sends p in DATA frames on stream 1, as large as the server's
// SETTINGS_MAX_FRAME_SIZE and flow control windows allow. The frames stay
// in the buffered writer; the client flushes them after each message.
// While it waits for window it must not be sent DATA: the echo servers
// read a whole message before they answer, so it is an error here.
func (s *h2Stream) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := int64(min(len(p), s.maxFrame))
		n = min(n, s.connWindow, s.strWindow)
		if n <= 0 {
			if err := s.bw.Flush(); err != nil {
				return written, err
			}
			f, err := s.next()
			if err != nil {
				return written, err
			}
			if f != nil {
				return written, fmt.Errorf("%v while waiting for flow control window", f.Header())
			}
			continue
		}
		if err := s.fr.WriteData(streamID, false, p[:n]); err != nil {
			return written, err
		}
		s.connWindow -= n
		s.strWindow -= n
		p = p[n:]
		written += int(n)
	}
	return written, nil
}
