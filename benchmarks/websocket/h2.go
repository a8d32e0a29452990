package websocket

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// streamID is the one stream the HTTP/2 client opens.
const streamID = 1

// maxFrameSize is the largest frame payload this side accepts: the
// protocol's default, which it never raises.
const maxFrameSize = 16384

// Frame types and flags of RFC 9113, section 6.
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8

	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
)

// h2Stream carries the WebSocket bytes of one extended CONNECT stream
// (RFC 8441): Read returns the payload of the peer's DATA frames, Write
// sends DATA frames within the peer's flow control windows. It handles the
// frames that come in between (SETTINGS, PING, WINDOW_UPDATE) itself. It
// writes with x/net's Framer but reads frames with its own few lines,
// because the Framer allocates every frame but DATA (a WINDOW_UPDATE per
// message from x/net's server would count as the server's allocation);
// it allocates nothing per frame, and copies no DATA payload through a
// buffer of its own either way (Read reads it into the caller's buffer,
// Write puts it into the connection's writer with its header), so that
// it costs about what the HTTP/1.1 client costs.
type h2Stream struct {
	fr   *http2.Framer // for writing
	bw   *bufio.Writer
	br   *bufio.Reader
	hdr  [9]byte
	whdr [9]byte // header of the DATA frame being written
	rbuf [maxFrameSize]byte
	eof  bool // the peer ended the stream

	// The DATA frame being read: its payload is read by Read straight
	// into the caller's buffer, not through rbuf.
	dataLeft  int    // payload bytes not yet read
	padLeft   int    // padding after them
	dataFrame uint32 // the frame's length, for flow control
	dataEnd   bool   // the frame has END_STREAM

	batch      uint32 // received bytes to pile up before giving them back
	maxFrame   int    // the peer's SETTINGS_MAX_FRAME_SIZE
	initWindow int64  // the peer's SETTINGS_INITIAL_WINDOW_SIZE
	connWindow int64  // what this side may still send on the connection
	strWindow  int64  // ... and on the stream
	unacked    uint32
	settings   bool // the peer's first SETTINGS arrived
	connect    bool // the peer's SETTINGS_ENABLE_CONNECT_PROTOCOL is 1
	dec        *hpack.Decoder
}

// Kinds of h2Event.
const (
	evNone    = iota // a frame next handled itself
	evData           // a DATA frame of stream 1
	evHeaders        // a HEADERS frame of stream 1
)

// An h2Event is what next returns. For evData, the frame's payload is
// left for Read.
type h2Event struct {
	kind      int
	endStream bool
	fields    []hpack.HeaderField
}

func (e h2Event) pseudo(name string) string {
	for _, f := range e.fields {
		if f.Name == ":"+name {
			return f.Value
		}
	}
	return ""
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
	s := newH2Stream(conn, bufio.NewReaderSize(conn, h2ReadBuffer))
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
		ev, err := s.next()
		if err != nil {
			return nil, fmt.Errorf("waiting for the CONNECT response: %w", err)
		}
		switch ev.kind {
		case evNone:
			continue
		case evData:
			return nil, errors.New("DATA before the CONNECT response")
		}
		if st := ev.pseudo("status"); st != "200" {
			return nil, fmt.Errorf("CONNECT answered %s, want 200", st)
		}
		if ev.endStream {
			return nil, errors.New("CONNECT response ended the stream")
		}
		for _, hf := range ev.fields {
			if hf.Name == "sec-websocket-extensions" {
				return nil, fmt.Errorf("extension %q accepted, none offered", hf.Value)
			}
		}
		return s, nil
	}
}

// h2ReadBuffer is the size of the buffer HTTP/2 frames are read through:
// as large as the writer's, so that the DATA frames of a 64 KiB message
// take about as many read system calls as its payload does over HTTP/1.1
// (about 6 per round trip, client and server, under strace -c); with
// bufio's default 4 KiB the client alone made 8 reads more per message.
const h2ReadBuffer = 128 << 10

// newH2Stream returns the stream of an HTTP/2 connection whose frames are
// read from br and written to conn. It gives received data back to the
// peer in batches of 1 MiB.
func newH2Stream(conn net.Conn, br *bufio.Reader) *h2Stream {
	bw := bufio.NewWriterSize(conn, 128<<10)
	return &h2Stream{
		fr:         http2.NewFramer(bw, nil),
		bw:         bw,
		br:         br,
		batch:      1 << 20,
		maxFrame:   16384,
		initWindow: 65535,
		connWindow: 65535,
		strWindow:  65535,
		dec:        hpack.NewDecoder(4096, nil),
	}
}

// writeSettings sends the first SETTINGS, with a large receive window so
// that the peer is never held up by this side (which gives the window back
// in batches) and, from a server, ENABLE_CONNECT_PROTOCOL=1.
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
// the DATA and HEADERS frames of stream 1, which are the caller's
// business; the data is valid until the next call.
func (s *h2Stream) next() (h2Event, error) {
	if s.dataLeft+s.padLeft > 0 {
		return h2Event{}, errors.New("a frame read before the DATA frame before it was")
	}
	if _, err := io.ReadFull(s.br, s.hdr[:]); err != nil {
		return h2Event{}, err
	}
	n := int(s.hdr[0])<<16 | int(s.hdr[1])<<8 | int(s.hdr[2])
	typ, flags := s.hdr[3], s.hdr[4]
	stream := binary.BigEndian.Uint32(s.hdr[5:]) & (1<<31 - 1)
	if n > maxFrameSize {
		return h2Event{}, fmt.Errorf("frame of type %d and %d bytes", typ, n)
	}
	if (typ == frameData || typ == frameHeaders) && stream != streamID {
		return h2Event{}, fmt.Errorf("frame of type %d on stream %d", typ, stream)
	}
	if typ == frameData {
		s.dataLeft, s.padLeft, s.dataFrame, s.dataEnd = n, 0, uint32(n), flags&flagEndStream != 0
		if flags&flagPadded != 0 {
			if n == 0 {
				return h2Event{}, errors.New("DATA frame with bad padding")
			}
			pad, err := s.br.ReadByte()
			if err != nil {
				return h2Event{}, err
			}
			if int(pad) >= n {
				return h2Event{}, errors.New("DATA frame with bad padding")
			}
			s.dataLeft, s.padLeft = n-1-int(pad), int(pad)
		}
		if err := s.endData(); err != nil {
			return h2Event{}, err
		}
		return h2Event{kind: evData, endStream: s.dataEnd}, nil
	}
	p := s.rbuf[:n]
	if _, err := io.ReadFull(s.br, p); err != nil {
		return h2Event{}, err
	}
	switch typ {
	case frameHeaders:
		if flags&flagPadded != 0 {
			if n == 0 || int(p[0]) >= n {
				return h2Event{}, fmt.Errorf("frame of type %d with bad padding", typ)
			}
			p = p[1 : n-int(p[0])]
		}
		ev := h2Event{kind: evHeaders, endStream: flags&flagEndStream != 0}
		if flags&flagPriority != 0 {
			if len(p) < 5 {
				return h2Event{}, errors.New("short HEADERS")
			}
			p = p[5:]
		}
		if flags&flagEndHeaders == 0 {
			return h2Event{}, errors.New("HEADERS with CONTINUATION: not supported")
		}
		var err error
		ev.fields, err = s.dec.DecodeFull(p)
		return ev, err
	case frameSettings:
		if flags&flagAck != 0 {
			return h2Event{}, nil
		}
		for ; len(p) >= 6; p = p[6:] {
			v := binary.BigEndian.Uint32(p[2:])
			switch http2.SettingID(binary.BigEndian.Uint16(p)) {
			case http2.SettingMaxFrameSize:
				s.maxFrame = int(v)
			case http2.SettingInitialWindowSize:
				s.strWindow += int64(v) - s.initWindow
				s.initWindow = int64(v)
			case http2.SettingEnableConnectProtocol:
				s.connect = v == 1
			}
		}
		s.settings = true
		if err := s.fr.WriteSettingsAck(); err != nil {
			return h2Event{}, err
		}
		return h2Event{}, s.bw.Flush()
	case frameWindowUpdate:
		if n != 4 {
			return h2Event{}, errors.New("bad WINDOW_UPDATE")
		}
		inc := int64(binary.BigEndian.Uint32(p) & (1<<31 - 1))
		switch stream {
		case 0:
			s.connWindow += inc
		case streamID:
			s.strWindow += inc
		}
		return h2Event{}, nil
	case framePing:
		if flags&flagAck != 0 || n != 8 {
			return h2Event{}, nil
		}
		if err := s.fr.WritePing(true, [8]byte(p)); err != nil {
			return h2Event{}, err
		}
		return h2Event{}, s.bw.Flush()
	case frameGoAway:
		return h2Event{}, errors.New("GOAWAY")
	case frameRSTStream:
		return h2Event{}, fmt.Errorf("RST_STREAM on stream %d", stream)
	}
	return h2Event{}, nil
}

// consumed counts n received bytes of flow-controlled data, and gives
// them back to the peer in WINDOW_UPDATEs (connection and stream) once
// batch of them have piled up.
func (s *h2Stream) consumed(n uint32) error {
	s.unacked += n
	if s.unacked < s.batch || s.unacked == 0 {
		return nil
	}
	if err := s.fr.WriteWindowUpdate(0, s.unacked); err != nil {
		return err
	}
	if err := s.fr.WriteWindowUpdate(streamID, s.unacked); err != nil {
		return err
	}
	s.unacked = 0
	return s.bw.Flush()
}

// Read returns the payload of the peer's DATA frames on stream 1, read
// from the connection straight into p.
func (s *h2Stream) Read(p []byte) (int, error) {
	for s.dataLeft == 0 {
		if s.eof {
			return 0, errors.New("peer ended the stream")
		}
		ev, err := s.next()
		if err != nil {
			return 0, err
		}
		if ev.kind == evHeaders {
			s.eof = true // trailers
		}
	}
	n, err := s.br.Read(p[:min(len(p), s.dataLeft)])
	s.dataLeft -= n
	if err == nil {
		err = s.endData()
	}
	return n, err
}

// endData finishes the DATA frame being read once its payload has been:
// it skips the padding and gives the frame's length back to the peer.
func (s *h2Stream) endData() error {
	if s.dataLeft > 0 || s.dataFrame == 0 && !s.dataEnd {
		return nil
	}
	if _, err := s.br.Discard(s.padLeft); err != nil {
		return err
	}
	n := s.dataFrame
	s.padLeft, s.dataFrame = 0, 0
	if s.dataEnd {
		s.eof, s.dataEnd = true, false
	}
	if n == 0 {
		return nil
	}
	return s.consumed(n)
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
			ev, err := s.next()
			if err != nil {
				return written, err
			}
			if ev.kind != evNone {
				return written, errors.New("DATA or HEADERS while waiting for flow control window")
			}
			continue
		}
		// The frame's header, then its payload, straight into the
		// writer (the Framer would copy the payload once more).
		s.whdr = [9]byte{byte(n >> 16), byte(n >> 8), byte(n), frameData, 0, 0, 0, 0, streamID}
		if _, err := s.bw.Write(s.whdr[:]); err != nil {
			return written, err
		}
		if _, err := s.bw.Write(p[:n]); err != nil {
			return written, err
		}
		s.connWindow -= n
		s.strWindow -= n
		p = p[n:]
		written += int(n)
	}
	return written, nil
}
