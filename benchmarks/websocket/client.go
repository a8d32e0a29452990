package websocket

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Opcodes of RFC 6455, section 5.2.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// acceptGUID is the GUID of RFC 6455, section 1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// A closeError is what the client reads when the server sent a close
// frame instead of an echo.
type closeError struct {
	Code   int
	Reason string
}

func (e *closeError) Error() string {
	return fmt.Sprintf("websocket: server sent close %d %q", e.Code, e.Reason)
}

// maskedFrame returns a client frame: FIN set, the given opcode, the payload
// masked with key. The benchmarks build their message once and send the
// same bytes on every round trip, so the client's cost per message is one
// write and the reading of the echo, identical for every server.
func maskedFrame(op byte, payload []byte, key [4]byte) []byte {
	n := len(payload)
	f := make([]byte, 0, 14+n)
	f = append(f, 0x80|op)
	switch {
	case n <= 125:
		f = append(f, 0x80|byte(n))
	case n <= 0xFFFF:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	f = append(f, key[:]...)
	for i, b := range payload {
		f = append(f, b^key[i&3])
	}
	return f
}

// A client is a minimal WebSocket client over one connection: it sends
// prebuilt masked frames and reads the server's messages, reassembling
// fragments, without allocating once its buffer has grown to the largest
// message. It speaks over HTTP/1.1 (dialH1) or over an HTTP/2 stream
// opened with extended CONNECT (dialH2). It is not safe for concurrent
// use.
type client struct {
	w     io.Writer // the connection, or the HTTP/2 stream's DATA writer
	flush func() error
	r     *bufio.Reader // the connection, or the HTTP/2 stream's DATA
	conn  net.Conn
	buf   []byte    // the last message read
	hdr   [10]byte  // header of the frame being read
	ctl   [125]byte // payload of a control frame
	pong  []byte    // scratch for the answer to a ping
}

// dialH1 opens a WebSocket to ws://addr/path over HTTP/1.1 (RFC 6455
// handshake, no extensions offered, no Origin sent).
func dialH1(addr, path string) (*client, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c, err := handshakeH1(conn, addr, path)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func handshakeH1(conn net.Conn, addr, path string) (*client, error) {
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, addr, key); err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("handshake: %s, want 101", resp.Status)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		return nil, fmt.Errorf("handshake: Upgrade %q", resp.Header.Get("Upgrade"))
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), acceptKey(key); got != want {
		return nil, fmt.Errorf("handshake: Sec-WebSocket-Accept %q, want %q", got, want)
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		return nil, fmt.Errorf("handshake: extension %q accepted, none offered", ext)
	}
	return &client{w: conn, flush: func() error { return nil }, r: br, conn: conn}, nil
}

// acceptKey computes Sec-WebSocket-Accept for key (RFC 6455, 4.2.2).
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// SetDeadline sets the deadline of the underlying connection.
func (c *client) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// Send writes one prebuilt frame (see maskedFrame).
func (c *client) Send(frame []byte) error {
	if _, err := c.w.Write(frame); err != nil {
		return err
	}
	return c.flush()
}

// RoundTrip sends frame and reads the next message.
func (c *client) RoundTrip(frame []byte) (op byte, msg []byte, err error) {
	if err := c.Send(frame); err != nil {
		return 0, nil, err
	}
	return c.Read()
}

// Read reads the next data message, reassembling its fragments. The
// returned slice is valid until the next Read. Pings are answered, pongs
// ignored; a close frame ends with a *closeError.
func (c *client) Read() (op byte, msg []byte, err error) {
	c.buf = c.buf[:0]
	hdr := c.hdr[:]
	for {
		if _, err := io.ReadFull(c.r, hdr[:2]); err != nil {
			return 0, nil, err
		}
		fin, rsv, fop := hdr[0]&0x80 != 0, hdr[0]&0x70, hdr[0]&0x0F
		if rsv != 0 {
			return 0, nil, fmt.Errorf("frame with RSV bits %#x", rsv)
		}
		if hdr[1]&0x80 != 0 {
			return 0, nil, errors.New("masked frame from the server")
		}
		n := uint64(hdr[1] & 0x7F)
		switch n {
		case 126:
			if _, err := io.ReadFull(c.r, hdr[2:4]); err != nil {
				return 0, nil, err
			}
			n = uint64(binary.BigEndian.Uint16(hdr[2:4]))
		case 127:
			if _, err := io.ReadFull(c.r, hdr[2:10]); err != nil {
				return 0, nil, err
			}
			n = binary.BigEndian.Uint64(hdr[2:10])
		}
		if fop >= opClose {
			if n > 125 || !fin {
				return 0, nil, fmt.Errorf("control frame %#x: length %d, FIN %v", fop, n, fin)
			}
			p := c.ctl[:n]
			if _, err := io.ReadFull(c.r, p); err != nil {
				return 0, nil, err
			}
			switch fop {
			case opClose:
				ce := &closeError{Code: 1005}
				if len(p) >= 2 {
					ce.Code, ce.Reason = int(binary.BigEndian.Uint16(p)), string(p[2:])
				}
				return 0, nil, ce
			case opPing:
				c.pong = appendFrame(c.pong[:0], opPong, p)
				if err := c.Send(c.pong); err != nil {
					return 0, nil, err
				}
			case opPong:
			default:
				return 0, nil, fmt.Errorf("reserved opcode %#x", fop)
			}
			continue
		}
		switch {
		case fop == opContinuation && op == 0:
			return 0, nil, errors.New("continuation frame without a message")
		case fop != opContinuation && op != 0:
			return 0, nil, fmt.Errorf("opcode %#x inside a fragmented message", fop)
		case fop == opText || fop == opBinary:
			op = fop
		case fop != opContinuation:
			return 0, nil, fmt.Errorf("reserved opcode %#x", fop)
		}
		if n > 1<<30 {
			return 0, nil, fmt.Errorf("frame of %d bytes", n)
		}
		off := len(c.buf)
		c.buf = grow(c.buf, int(n))
		if _, err := io.ReadFull(c.r, c.buf[off:]); err != nil {
			return 0, nil, err
		}
		if fin {
			return op, c.buf, nil
		}
	}
}

// grow extends b by n bytes, reallocating only when its capacity is short.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// appendFrame appends a masked client frame to dst with a zero masking
// key: it is for the rare control frames (a pong, the close), where the
// client need not spend on a random key.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op, 0x80|byte(len(payload)), 0, 0, 0, 0)
	return append(dst, payload...)
}

// Close sends a close frame with code 1000, waits (at most 10 seconds)
// for the server's close frame and closes the connection. It returns an
// error if the server answered with anything but a close 1000.
func (c *client) Close() error {
	defer c.conn.Close()
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Send(appendFrame(nil, opClose, []byte{0x03, 0xE8})); err != nil {
		return err
	}
	for {
		_, _, err := c.Read()
		var ce *closeError
		if errors.As(err, &ce) {
			if ce.Code != 1000 {
				return ce
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("waiting for the server's close: %w", err)
		}
	}
}
