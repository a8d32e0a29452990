package server

import (
	"fmt"
	"sync"
	"time"
)

// http2Preface is the client connection preface of RFC 9113 section 3.4.
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// sniffBuffers holds the buffers connections are sniffed into. One read
// usually brings a whole HTTP/1.1 request, which net/http then gets from
// the buffer without a second system call.
var sniffBuffers = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// sniffPreface reads from c until the bytes read differ from the HTTP/2
// preface or hold all of it, whichever comes first, so that a short
// HTTP/1.x request is decided with its first bytes. The wait is bounded by
// timeout. It returns true for the preface. Every byte read past the
// preface, or all of them if it is not the preface, is left in c.replay.
func sniffPreface(c *conn, timeout time.Duration) (bool, error) {
	if timeout > 0 {
		if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return false, err
		}
	}
	bp := sniffBuffers.Get().(*[]byte)
	buf := *bp
	for n := 0; ; {
		m, err := c.Conn.Read(buf[n:])
		for i := n; i < min(n+m, len(http2Preface)); i++ {
			if buf[i] != http2Preface[i] {
				// net/http sets its own read deadline before reading.
				c.setReplay(bp, buf[:n+m])
				return false, nil
			}
		}
		n += m
		if n >= len(http2Preface) {
			c.setReplay(bp, buf[len(http2Preface):n])
			return true, c.SetReadDeadline(time.Time{})
		}
		if err != nil {
			sniffBuffers.Put(bp)
			if n == 0 {
				return false, err
			}
			return false, fmt.Errorf("after %d bytes of the HTTP/2 preface: %w", n, err)
		}
	}
}

// setReplay leaves b, a part of the pooled buffer bp, for c's reader.
func (c *conn) setReplay(bp *[]byte, b []byte) {
	if len(b) == 0 {
		sniffBuffers.Put(bp)
		return
	}
	c.replay, c.pooled = b, bp
}
