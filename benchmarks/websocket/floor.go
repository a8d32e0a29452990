package websocket

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// serveFloor serves one connection of the floor server: not a WebSocket
// library but the least a server can do per message (read a frame, unmask
// it in place, write it back with one write) with no checks at all, to
// show what the loopback, the runtime's network poller and the client
// cost by themselves. It speaks the RFC 6455 handshake over HTTP/1.1, and
// RFC 8441 over HTTP/2 by prior knowledge with the client's own framing
// code (h2Stream), and handles only what the benchmark client sends:
// unfragmented data frames and the close, which it echoes and returns.
// Over HTTP/2 it gives the received data back in WINDOW_UPDATEs once
// batch bytes have piled up (0: after every DATA frame).
func serveFloor(conn net.Conn, batch uint32) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	pre, err := br.Peek(len(http2.ClientPreface))
	if err == nil && string(pre) == http2.ClientPreface {
		br.Discard(len(pre))
		// Frames are read through a buffer as large as the client's
		// (h2.go), on top of the one the preface was peeked in.
		s, err := acceptH2(conn, bufio.NewReaderSize(br, h2ReadBuffer), batch)
		if err != nil {
			return
		}
		conn.SetDeadline(time.Time{})
		floorLoop(bufio.NewReader(s), flushWriter{s})
		return
	}
	req, err := http.ReadRequest(br)
	if err != nil || !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
		io.WriteString(conn, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		return
	}
	_, err = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
		acceptKey(req.Header.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
	if err != nil {
		return
	}
	conn.SetDeadline(time.Time{})
	floorLoop(br, conn)
}

// acceptH2 is the server side of dialH2, after the preface: SETTINGS with
// ENABLE_CONNECT_PROTOCOL=1, then a CONNECT on stream 1, answered 200.
func acceptH2(conn net.Conn, br *bufio.Reader, batch uint32) (*h2Stream, error) {
	s := newH2Stream(conn, br)
	s.batch = batch
	if err := s.writeSettings(true); err != nil {
		return nil, err
	}
	for {
		ev, err := s.next()
		if err != nil {
			return nil, err
		}
		if ev.kind == evData {
			return nil, errors.New("DATA before the CONNECT")
		}
		if ev.kind == evHeaders {
			status := "200"
			if ev.pseudo("method") != "CONNECT" || ev.pseudo("protocol") != "websocket" {
				status = "400"
			}
			var hb bytes.Buffer
			hpack.NewEncoder(&hb).WriteField(hpack.HeaderField{Name: ":status", Value: status})
			err := s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: streamID, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: status != "200"})
			if err != nil {
				return nil, err
			}
			if err := s.bw.Flush(); err != nil {
				return nil, err
			}
			if status != "200" {
				return nil, io.ErrUnexpectedEOF
			}
			return s, nil
		}
	}
}

// flushWriter writes to an h2Stream and flushes its frames at once.
type flushWriter struct{ s *h2Stream }

func (w flushWriter) Write(p []byte) (int, error) {
	n, err := w.s.Write(p)
	if err == nil {
		err = w.s.bw.Flush()
	}
	return n, err
}

// floorLoop echoes the frames read from br to w until the close frame,
// which it echoes too.
func floorLoop(br *bufio.Reader, w io.Writer) {
	buf := make([]byte, 14, 14+64<<10)
	h := make([]byte, 14)
	for {
		if _, err := io.ReadFull(br, h[:2]); err != nil {
			return
		}
		n, hl := uint64(h[1]&0x7F), 2
		switch n {
		case 126:
			hl = 4
		case 127:
			hl = 10
		}
		if _, err := io.ReadFull(br, h[2:hl+4]); err != nil {
			return
		}
		switch n {
		case 126:
			n = uint64(binary.BigEndian.Uint16(h[2:]))
		case 127:
			n = binary.BigEndian.Uint64(h[2:])
		}
		if n > 32<<20 {
			return
		}
		key := [4]byte(h[hl : hl+4])
		// The answer: the same header, unmasked, right before the payload.
		start := 14 - hl
		buf = grow(buf[:14], int(n))
		copy(buf[start:], h[:hl])
		buf[start+1] &^= 0x80
		p := buf[14:]
		if _, err := io.ReadFull(br, p); err != nil {
			return
		}
		unmask(p, key)
		if _, err := w.Write(buf[start:]); err != nil {
			return
		}
		if h[0]&0x0F == opClose {
			return
		}
	}
}

// unmask XORs p with the masking key, 32 bytes per iteration (more than
// twice as fast as 8 at a time: one bounds check for four words).
func unmask(p []byte, key [4]byte) {
	k := uint64(binary.LittleEndian.Uint32(key[:]))
	k |= k << 32
	for len(p) >= 32 {
		x := p[:32:32]
		binary.LittleEndian.PutUint64(x[0:], binary.LittleEndian.Uint64(x[0:])^k)
		binary.LittleEndian.PutUint64(x[8:], binary.LittleEndian.Uint64(x[8:])^k)
		binary.LittleEndian.PutUint64(x[16:], binary.LittleEndian.Uint64(x[16:])^k)
		binary.LittleEndian.PutUint64(x[24:], binary.LittleEndian.Uint64(x[24:])^k)
		p = p[32:]
	}
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, binary.LittleEndian.Uint64(p)^k)
		p = p[8:]
	}
	for i := range p {
		p[i] ^= key[i&3]
	}
}
