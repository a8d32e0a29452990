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
// the buffer without a second system call. Their size bounds how much a
// sniff buffers: a first line still plausible when it is full goes to
// net/http.
var sniffBuffers = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// A verdict is what a connection's first bytes show.
type verdict int

const (
	undecided verdict = iota // more bytes are needed to tell
	isHTTP2                  // the HTTP/2 preface
	isHTTP1                  // the start of an HTTP/1.x request line
	isJunk                   // neither: the connection is closed unanswered
)

func (v verdict) String() string {
	return [...]string{"undecided", "HTTP/2 preface", "HTTP/1.x request", "neither"}[v]
}

// classify tells from b, the first bytes of a connection, whether they
// are the HTTP/2 preface, can begin an HTTP/1.x request, or neither. It
// decides as soon as b rules the other answers out: an HTTP/1.x request
// once its request line has shown method, target and "HTTP/1." (RFC 9112
// section 3: a method token, SP, a target without spaces or control
// characters, SP, the version), after any empty lines (section 2.2). The
// rest of the line and the header are net/http's to judge.
func classify(b []byte) verdict {
	if n := min(len(b), len(http2Preface)); string(b[:n]) == http2Preface[:n] {
		if n == len(http2Preface) {
			return isHTTP2
		}
		return undecided
	}
	i := 0
	for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
		i++
	}
	start := i
	for i < len(b) && isTokenChar(b[i]) {
		i++
	}
	if i == len(b) {
		return undecided
	}
	if i == start || b[i] != ' ' {
		return isJunk
	}
	i++
	start = i
	for i < len(b) && b[i] > ' ' && b[i] != 0x7f {
		i++
	}
	if i == len(b) {
		return undecided
	}
	if i == start || b[i] != ' ' {
		return isJunk
	}
	i++
	const version = "HTTP/1."
	n := min(len(b)-i, len(version))
	if string(b[i:i+n]) != version[:n] {
		return isJunk
	}
	if n < len(version) {
		return undecided
	}
	return isHTTP1
}

// isTokenChar reports whether b is a tchar of RFC 9110 section 5.6.2.
func isTokenChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return b < 0x80 && b != 0 && containsByte("!#$%&'*+-.^_`|~", b)
}

func containsByte(s string, b byte) bool {
	for i := range len(s) {
		if s[i] == b {
			return true
		}
	}
	return false
}

// sniff reads from c until classify decides what its first bytes are, or
// until the sniff buffer is full, which counts as HTTP/1.x. An ordinary
// request is decided with the bytes of its first read. The wait is bounded
// by timeout. Every byte read past the preface, or all of them if it is
// not the preface, is left in c.replay for whoever serves c.
func sniff(c *conn, timeout time.Duration) (verdict, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	if err := c.startSniff(deadline); err != nil {
		return undecided, err
	}
	v, err := sniffFirstBytes(c)
	c.endSniff()
	if v == isHTTP2 && err == nil {
		err = c.Conn.SetReadDeadline(time.Time{})
	}
	// HTTP/1.x: net/http sets its own read deadline before reading.
	return v, err
}

// startSniff sets the sniff's read deadline: deadline, or the earlier end
// Shutdown has set with cutSniff (zero: none).
func (c *conn) startSniff(deadline time.Time) error {
	c.sniffMu.Lock()
	defer c.sniffMu.Unlock()
	if !c.sniffCut.IsZero() && (deadline.IsZero() || c.sniffCut.Before(deadline)) {
		deadline = c.sniffCut
	}
	if deadline.IsZero() {
		return nil
	}
	c.sniffEnd = deadline
	return c.Conn.SetReadDeadline(deadline)
}

// endSniff records that the sniff is over, so that cutSniff leaves the
// connection's read deadline alone from now on.
func (c *conn) endSniff() {
	c.sniffMu.Lock()
	c.sniffOver = true
	c.sniffMu.Unlock()
}

// cutSniff makes a sniff that has not ended yet (or not begun) end by t at
// the latest. Shutdown uses it: a connection that has not shown its
// protocol gets until t to do so, and is served if it does.
func (c *conn) cutSniff(t time.Time) {
	c.sniffMu.Lock()
	defer c.sniffMu.Unlock()
	if c.sniffOver {
		return
	}
	c.sniffCut = t
	if !c.sniffEnd.IsZero() && !t.Before(c.sniffEnd) {
		return // the sniff's own deadline (ReadHeaderTimeout's) comes first
	}
	c.Conn.SetReadDeadline(t) // a pending sniff read ends by t; a later startSniff keeps it
}

// sniffFirstBytes is sniff's loop, under the deadline sniff has set.
func sniffFirstBytes(c *conn) (verdict, error) {
	bp := sniffBuffers.Get().(*[]byte)
	buf := *bp
	for n := 0; ; {
		m, err := c.Conn.Read(buf[n:])
		n += m
		v := classify(buf[:n])
		if v == undecided && n == len(buf) {
			v = isHTTP1
		}
		switch v {
		case isHTTP2:
			c.setReplay(bp, buf[len(http2Preface):n])
			return v, nil
		case isHTTP1:
			c.setReplay(bp, buf[:n])
			return v, nil
		case isJunk:
			sniffBuffers.Put(bp)
			return v, nil
		}
		if err != nil {
			sniffBuffers.Put(bp)
			if n == 0 {
				return v, err
			}
			return v, fmt.Errorf("after %d undecided bytes: %w", n, err)
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
