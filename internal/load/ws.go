package load

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/molt-http/molt/websocket"
)

// ModeWS is the WebSocket echo mode: each connection opens one WebSocket
// (over HTTP/1.1, or with Config.WSHTTP2 as an RFC 8441 stream on an h2c
// connection) and sends binary messages of Config.WSSize bytes that the
// server must echo back unchanged.
const ModeWS = "ws"

// DefaultWSSize is the message size of ModeWS when Config.WSSize is 0.
const DefaultWSSize = 64

// maxWSSize bounds Config.WSSize.
const maxWSSize = 16 << 20

// maxWSBuffers bounds Config.Conns times the message size: each
// connection holds three buffers of a message (sent, expected, read).
const maxWSBuffers = 1 << 30

// errEchoMismatch is the error of a reply that is not the message sent:
// the wrong length or content, or out of order.
var errEchoMismatch = errors.New("websocket echo mismatch: the reply is not the message sent (protocol)")

// wsSent is a message in flight: its sequence number and the time it was
// due (its latency is measured from then).
type wsSent struct {
	seq   uint64
	start time.Time
	sent  time.Time // when Write returned, for the read deadline
}

// wsDialOptions returns the options of the run's WebSocket dials.
func (r *runner) wsDialOptions() *websocket.DialOptions {
	p := websocket.DialHTTP1
	switch {
	case r.cfg.WSHTTP2 && r.cfg.WSUpgrade:
		p = websocket.DialH2CUpgrade
	case r.cfg.WSHTTP2:
		p = websocket.DialH2CPrior
	}
	d := net.Dialer{Timeout: r.cfg.Timeout}
	return &websocket.DialOptions{
		Protocol:         p,
		Header:           r.cfg.Header,
		HandshakeTimeout: r.cfg.Timeout,
		ReadLimit:        int64(r.wsSize()) + 1,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &connectError{err}
			}
			r.connects.Add(1)
			return c, nil
		},
	}
}

func (r *runner) wsSize() int {
	if r.cfg.WSSize == 0 {
		return DefaultWSSize
	}
	return r.cfg.WSSize
}

// wsURL is the target with a ws:// scheme.
func (r *runner) wsURL() string {
	u := *r.target
	u.Scheme = "ws"
	return u.String()
}

// dialWS opens one WebSocket; with record set its handshake latency and
// status are recorded in s, if measured.
func (r *runner) dialWS(s *shard, record bool) (*websocket.Conn, error) {
	start := time.Now()
	c, err := websocket.Dial(r.ctx, r.wsURL(), r.wsDialOptions())
	if err != nil {
		var de *websocket.DialError
		if errors.As(err, &de) {
			return nil, &wsDeclinedError{err: de}
		}
		var ce *connectError
		if errors.As(err, &ce) {
			return nil, ce
		}
		return nil, &setupError{"websocket", err}
	}
	end := time.Now()
	if record && r.measured(start) && r.ctx.Err() == nil {
		s.mu.Lock()
		s.handshake.Record(end.Sub(start))
		if res := c.Response(); res != nil && res.StatusCode >= 0 && res.StatusCode < len(s.status) {
			s.status[res.StatusCode]++
		}
		s.mu.Unlock()
	}
	return c, nil
}

// wsDeclinedError is a server that answered the WebSocket handshake
// without opening a WebSocket.
type wsDeclinedError struct{ err *websocket.DialError }

func (e *wsDeclinedError) Error() string {
	return "the server declined the WebSocket: " + e.err.Error()
}
func (e *wsDeclinedError) Unwrap() error { return e.err }

// fillSeq writes seq into the first 8 bytes of p, if it has them.
func fillSeq(p []byte, seq uint64) {
	if len(p) >= 8 {
		binary.BigEndian.PutUint64(p, seq)
	}
}

// runWS runs one WebSocket until the run stops or the connection fails.
// A writer sends messages while fewer than Config.Streams are in flight;
// a reader matches the echoes to them in order (a WebSocket is ordered)
// and checks that each is the message sent.
//
// A message not echoed within the timeout fails the connection, and with
// it the messages in flight. The deadlines are moved only when they would
// fall short of the timeout, and then an eighth of it further: a message
// fails after between 1 and 1.125 times the timeout, and setting a
// deadline, which over HTTP/2 allocates a timer, happens about once per
// eighth of the timeout rather than once per message.
func (r *runner) runWS(s *shard, sc *schedule) error {
	c, err := r.dialWS(s, true)
	if err != nil {
		return err
	}
	stopClose := context.AfterFunc(r.ctx, func() { c.CloseNow() })
	defer stopClose()
	m := r.cfg.Streams
	credit := make(chan struct{}, m)
	for range m {
		credit <- struct{}{}
	}
	fifo := make(chan wsSent, m)
	dead := make(chan struct{}) // closed by the reader when the connection failed
	size := r.wsSize()

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		defer close(fifo)
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte('a' + i%26)
		}
		var seq uint64
		var wdl time.Time // the write deadline set
		for {
			var start time.Time
			if sc.interval > 0 {
				var ok bool
				if start, ok = sc.wait(r); !ok {
					return
				}
			}
			select {
			case <-credit:
			case <-r.stopCh:
				return
			case <-dead:
				return
			}
			if sc.interval == 0 {
				start = time.Now()
			}
			if !r.allow(start) {
				return
			}
			fillSeq(msg, seq)
			if now := time.Now(); wdl.Before(now.Add(r.cfg.Timeout)) {
				wdl = now.Add(r.cfg.Timeout + r.cfg.Timeout/8)
				c.SetWriteDeadline(wdl)
			}
			if err := c.Write(context.Background(), websocket.Binary, msg); err != nil {
				select {
				case <-dead: // the reader failed and closed the connection: not this message's doing
					r.unissue(start)
				default:
					r.record(s, start, time.Time{}, time.Now(), -1, 0, 0, err)
				}
				c.CloseNow()
				return
			}
			fifo <- wsSent{seq: seq, start: start, sent: time.Now()}
			seq++
		}
	}()

	want := make([]byte, size)
	for i := range want {
		want[i] = byte('a' + i%26)
	}
	buf := make([]byte, 0, size+1)
	failed := false
	var rdl time.Time // the read deadline set
	for e := range fifo {
		if failed {
			r.record(s, e.start, time.Time{}, time.Now(), -1, 0, 0, err)
			continue
		}
		if want := e.sent.Add(r.cfg.Timeout); rdl.Before(want) {
			rdl = want.Add(r.cfg.Timeout / 8)
			c.SetReadDeadline(rdl)
		}
		var typ websocket.MessageType
		typ, buf, err = c.AppendMessage(context.Background(), buf[:0])
		end := time.Now()
		if err == nil {
			fillSeq(want, e.seq)
			if typ != websocket.Binary || !bytes.Equal(buf, want) {
				err = fmt.Errorf("%w: message %d of %d bytes, got %v of %d bytes", errEchoMismatch, e.seq, size, typ, len(buf))
			}
		}
		if err != nil {
			failed = true
			close(dead)
			c.CloseNow()
			r.record(s, e.start, time.Time{}, end, -1, 0, 0, err)
			continue
		}
		r.record(s, e.start, time.Time{}, end, -1, int64(len(buf)), 0, nil)
		credit <- struct{}{}
	}
	<-writerDone
	if !failed {
		c.Close(websocket.StatusNormalClosure, "")
	}
	return nil
}

// probeEcho sends one message on c and checks its echo.
func (r *runner) probeEcho(c *websocket.Conn) error {
	msg := make([]byte, r.wsSize())
	for i := range msg {
		msg[i] = byte('a' + i%26)
	}
	fillSeq(msg, 1<<63)
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout)
	defer cancel()
	if err := c.Write(ctx, websocket.Binary, msg); err != nil {
		return &setupError{"echo", err}
	}
	typ, got, err := c.Read(ctx)
	if err != nil {
		return &setupError{"echo", err}
	}
	if typ != websocket.Binary || !bytes.Equal(got, msg) {
		return &setupError{"echo", fmt.Errorf("%w: sent %d bytes, got %v of %d bytes", errEchoMismatch, len(msg), typ, len(got))}
	}
	c.Close(websocket.StatusNormalClosure, "") // how the server closes is not the probe's concern
	return nil
}
