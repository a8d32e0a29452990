package server

import (
	"fmt"
	"time"
)

// http2Preface is the client connection preface of RFC 9113 section 3.4.
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// sniffPreface reads from c until the bytes read differ from the HTTP/2
// preface or match all of it, whichever comes first, so that a short
// HTTP/1.x request is decided at its first byte. The wait is bounded by
// timeout. It returns true for the preface; otherwise the bytes read are
// left in c.replay for net/http.
func sniffPreface(c *conn, timeout time.Duration) (bool, error) {
	if timeout > 0 {
		if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return false, err
		}
	}
	buf := c.sniff[:]
	n := 0
	for n < len(buf) {
		m, err := c.Conn.Read(buf[n:])
		for i := n; i < n+m; i++ {
			if buf[i] != http2Preface[i] {
				c.replay = buf[:n+m]
				return false, c.SetReadDeadline(time.Time{})
			}
		}
		n += m
		if err != nil {
			if n == 0 {
				return false, err
			}
			return false, fmt.Errorf("after %d bytes of the HTTP/2 preface: %w", n, err)
		}
	}
	return true, c.SetReadDeadline(time.Time{})
}
