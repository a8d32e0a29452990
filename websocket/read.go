package websocket

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"
)

// MessageType is the type of a data message: Text (UTF-8) or Binary.
type MessageType int

// The data message types, numbered like their opcodes.
const (
	Text   MessageType = 1
	Binary MessageType = 2
)

// String returns "text", "binary", or the number.
func (t MessageType) String() string {
	switch t {
	case Text:
		return "text"
	case Binary:
		return "binary"
	}
	return fmt.Sprintf("MessageType(%d)", int(t))
}

// Read reads the next message into a new slice. See AppendMessage for a
// loop that reuses one buffer.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	return c.AppendMessage(ctx, nil)
}

// AppendMessage reads the next data message, appends it to dst and
// returns the extended slice. Pings, pongs and the peer's close are
// handled on the way: a close ends the read with a *CloseError. A loop
// that passes the previous message's buffer back, sliced to zero length,
// does not allocate once the buffer has grown to the largest message.
func (c *Conn) AppendMessage(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	if err := c.acquireRead(ctx); err != nil {
		return 0, dst, err
	}
	defer func() { <-c.rsem }()
	if err := c.rctx.begin(ctx); err != nil {
		return 0, dst, err
	}
	defer c.rctx.end()
	typ, err := c.nextMessage()
	if err != nil {
		return 0, dst, err
	}
	for {
		if len(dst) == cap(dst) {
			want := 512
			if !c.msgComp && c.remaining > int64(want) {
				want = int(min(c.remaining, 1<<20))
			}
			dst = slices.Grow(dst, want)
		}
		n, err := c.readData(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return typ, dst, nil
		}
		if err != nil {
			return 0, dst, err
		}
	}
}

// Reader waits for the next data message and returns a reader of its
// payload, valid until the next call of a read method. Frames are read
// as the reader is read: a message larger than memory can be streamed.
// The reader reports the same errors as Read; ctx bounds every read
// from it.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	if err := c.acquireRead(ctx); err != nil {
		return 0, nil, err
	}
	defer func() { <-c.rsem }()
	if err := c.rctx.begin(ctx); err != nil {
		return 0, nil, err
	}
	defer c.rctx.end()
	typ, err := c.nextMessage()
	if err != nil {
		return 0, nil, err
	}
	c.mr.ctx = ctx
	return typ, &c.mr, nil
}

// messageReader is the io.Reader that Reader returns; one per Conn.
type messageReader struct {
	c   *Conn
	ctx context.Context
}

// Read reads from the current message; it returns io.EOF at its end.
func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	if err := c.acquireRead(r.ctx); err != nil {
		return 0, err
	}
	defer func() { <-c.rsem }()
	if !c.inMsg {
		if c.readErr != nil {
			return 0, c.readErr
		}
		return 0, io.EOF
	}
	if err := c.rctx.begin(r.ctx); err != nil {
		return 0, err
	}
	defer c.rctx.end()
	return c.readData(p)
}

// nextMessage reads frames until a data message begins, answering control
// frames on the way. The caller holds rsem.
func (c *Conn) nextMessage() (MessageType, error) {
	if c.readErr != nil {
		return 0, c.readErr
	}
	if c.inMsg {
		if err := c.discardMessage(); err != nil {
			return 0, err
		}
	}
	for {
		if err := c.readHeader(); err != nil {
			return 0, err
		}
		h := &c.h
		if isControl(h.op) {
			if err := c.handleControl(); err != nil {
				return 0, err
			}
			continue
		}
		if h.op == opContinuation {
			return 0, c.fail(StatusProtocolError, "continuation frame without a message to continue")
		}
		c.inMsg = true
		c.msgType = MessageType(h.op)
		c.msgComp = h.rsv1
		c.msgRead = 0
		c.remaining = h.length
		c.maskPos = 0
		c.lastFrame = h.fin
		c.utf8.reset()
		if !c.msgComp {
			if err := c.checkLimit(h.length); err != nil {
				return 0, err
			}
		} else {
			c.rawEOF = false
			c.tailPos = 0
			if c.dp.peerNoContext {
				c.msgFlate = getFlateReader(&c.raw, nil)
			} else {
				if c.rflate == nil {
					c.rflate = getFlateReader(&c.raw, c.rwindow.dict())
				} else {
					c.rflate.(interface {
						Reset(io.Reader, []byte) error
					}).Reset(&c.raw, c.rwindow.dict())
				}
				c.msgFlate = c.rflate
			}
		}
		return c.msgType, nil
	}
}

// checkLimit fails the connection if a frame declaring n more payload
// bytes of an uncompressed message would take it past the read limit. It
// compares n with the room left, not the sum with the limit: a frame may
// declare up to 1<<63-1 bytes, and the sum would overflow.
func (c *Conn) checkLimit(n int64) error {
	if limit := c.readLimit.Load(); limit >= 0 && n > limit-c.msgRead {
		return c.fail(StatusMessageTooBig, "message larger than the read limit")
	}
	return nil
}

// readHeader reads and checks the next frame header into c.h.
func (c *Conn) readHeader() error {
	b := c.rhdr[:]
	if _, err := io.ReadFull(c.br, b[:2]); err != nil {
		return c.transportErr(err)
	}
	n := headerLen(b[1])
	if _, err := io.ReadFull(c.br, b[2:n]); err != nil {
		return c.transportErr(err)
	}
	h := &c.h
	if !parseHeader(b[:n], h) {
		return c.fail(StatusProtocolError, "frame length with the most significant bit set")
	}
	c.remaining = h.length // for fail, which discards it
	if h.op == opClose {
		c.peerClosed.Store(true) // even a bad close frame is the peer's last
	}
	switch {
	case h.rsv23:
		return c.fail(StatusProtocolError, "reserved bit set")
	case h.op > opBinary && h.op < opClose, h.op > opPong:
		return c.fail(StatusProtocolError, "reserved opcode")
	case h.masked == c.client:
		if c.client {
			return c.fail(StatusProtocolError, "masked server frame")
		}
		return c.fail(StatusProtocolError, "unmasked client frame")
	case isControl(h.op) && h.length > maxControlPayload:
		return c.fail(StatusProtocolError, "control frame payload over 125 bytes")
	case isControl(h.op) && !h.fin:
		return c.fail(StatusProtocolError, "fragmented control frame")
	case h.rsv1 && (!c.deflate || isControl(h.op) || h.op == opContinuation):
		return c.fail(StatusProtocolError, "reserved bit set")
	}
	return nil
}

// readRaw reads payload bytes of the current message as sent, unmasked,
// across its frames; it returns io.EOF after the last frame.
func (c *Conn) readRaw(p []byte) (int, error) {
	for c.remaining == 0 {
		if c.lastFrame {
			return 0, io.EOF
		}
		if err := c.readHeader(); err != nil {
			return 0, err
		}
		h := &c.h
		if isControl(h.op) {
			if err := c.handleControl(); err != nil {
				return 0, err
			}
			continue
		}
		if h.op != opContinuation {
			return 0, c.fail(StatusProtocolError, "new message inside a fragmented message")
		}
		if !c.msgComp {
			if err := c.checkLimit(h.length); err != nil {
				return 0, err
			}
		}
		c.remaining = h.length
		c.maskPos = 0
		c.lastFrame = h.fin
		if len(p) == 0 {
			return 0, nil
		}
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.br.Read(p)
	if c.h.masked {
		c.maskPos = maskBytes(c.h.key, c.maskPos, p[:n])
	}
	c.remaining -= int64(n)
	if err != nil {
		if err == io.EOF && n > 0 {
			err = nil // the next read reports it
		} else if err != nil {
			return n, c.transportErr(err)
		}
	}
	return n, nil
}

// rawReader is the compressed source of the decompressor: the message's
// payload, then inflateTail. It implements io.ByteReader so that the
// decompressor does not wrap it in a bufio.Reader.
type rawReader struct{ c *Conn }

func (r *rawReader) Read(p []byte) (int, error) {
	c := r.c
	if !c.rawEOF {
		n, err := c.readRaw(p)
		if err != io.EOF {
			return n, err
		}
		c.rawEOF = true
		if n > 0 {
			return n, nil
		}
	}
	if c.tailPos == len(inflateTail) {
		return 0, io.EOF
	}
	n := copy(p, inflateTail[c.tailPos:])
	c.tailPos += n
	return n, nil
}

func (r *rawReader) ReadByte() (byte, error) {
	c := r.c
	if c.remaining > 0 {
		b, err := c.br.ReadByte()
		if err != nil {
			return 0, c.transportErr(err)
		}
		b ^= c.h.key[c.maskPos]
		c.maskPos = (c.maskPos + 1) & 3
		c.remaining--
		return b, nil
	}
	for {
		n, err := r.Read(c.one[:])
		if n == 1 {
			return c.one[0], nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// readData reads decoded payload of the current message (decompressed,
// UTF-8 checked for text, counted against the read limit); it returns
// io.EOF at the end of the message.
func (c *Conn) readData(p []byte) (int, error) {
	if !c.msgComp {
		n, err := c.readRaw(p)
		c.msgRead += int64(n)
		return c.endData(p[:n], err)
	}
	if limit := c.readLimit.Load(); limit >= 0 {
		// Ask for at most one byte more than the limit allows, enough to
		// see a message go over it. limit-msgRead cannot overflow (both
		// are at least zero); adding one can, for a limit of
		// math.MaxInt64, so it is added only once room is below len(p).
		if room := limit - c.msgRead; room < int64(len(p)) {
			p = p[:max(room+1, 0)]
		}
	}
	n, err := c.msgFlate.Read(p)
	c.msgRead += int64(n)
	if c.readErr != nil {
		return 0, c.readErr
	}
	if err != nil && err != io.EOF {
		return 0, c.fail(StatusInvalidFramePayloadData, "invalid compressed data")
	}
	if limit := c.readLimit.Load(); limit >= 0 && c.msgRead > limit {
		return 0, c.fail(StatusMessageTooBig, "message larger than the read limit")
	}
	if !c.dp.peerNoContext {
		c.rwindow.write(p[:n])
	}
	if err == io.EOF && !c.rawEOF {
		// The compressed data ended with a final block (BFINAL set, which
		// RFC 7692, section 7.2.3.4, allows) before the message did: drop
		// the rest of the message's payload.
		var buf [512]byte
		for !c.rawEOF {
			if _, rerr := c.readRaw(buf[:]); rerr == io.EOF {
				c.rawEOF = true
			} else if rerr != nil {
				return 0, rerr
			}
		}
	}
	return c.endData(p[:n], err)
}

// endData checks a decoded chunk and finishes the message at io.EOF.
func (c *Conn) endData(p []byte, err error) (int, error) {
	if err != nil && err != io.EOF {
		return 0, err
	}
	if c.msgType == Text && !c.utf8.valid(p) {
		return 0, c.fail(StatusInvalidFramePayloadData, "invalid UTF-8 in a text message")
	}
	if err == io.EOF {
		if c.msgType == Text && !c.utf8.complete() {
			return 0, c.fail(StatusInvalidFramePayloadData, "invalid UTF-8 in a text message")
		}
		c.endMessage()
	}
	return len(p), err
}

func (c *Conn) endMessage() {
	c.inMsg = false
	if c.msgFlate != nil {
		if c.msgFlate != c.rflate {
			putFlateReader(c.msgFlate)
		}
		c.msgFlate = nil
	}
}

// abandonMessage ends the current message on an error path. That may run
// inside the decompressor's Read (reading the next frame header), so the
// decompressor is dropped rather than pooled: the Read still uses it.
func (c *Conn) abandonMessage() {
	c.inMsg = false
	c.msgFlate = nil
}

// discardMessage reads the rest of the current message and drops it.
func (c *Conn) discardMessage() error {
	var buf [512]byte
	for c.inMsg {
		if _, err := c.readData(buf[:]); err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// handleControl reads the payload of the control frame in c.h and acts on
// it: a pong for a ping, the hooks, the close handshake.
func (c *Conn) handleControl() error {
	h := &c.h
	p := c.ctrl[:h.length]
	if _, err := io.ReadFull(c.br, p); err != nil {
		return c.transportErr(err)
	}
	c.remaining = 0
	maskBytes(h.key, 0, p)
	switch h.op {
	case opPing:
		// The pong waits for the frame lock, which a large write may hold
		// for long, under the read's context: a read whose context ends
		// returns.
		ctx := c.readContext()
		if err := c.writeControl(ctx, opPong, p); err != nil && err != errClosed {
			if ctx.Err() != nil {
				c.rctx.interrupted.Store(true) // the watch may not have fired yet
			}
			return c.transportErr(err)
		}
		if c.onPing != nil {
			c.onPing(p)
		}
	case opPong:
		c.gotPong(p)
		if c.onPong != nil {
			c.onPong(p)
		}
	case opClose:
		return c.gotClose(p)
	}
	return nil
}

// readContext returns the context of the read under way, or
// context.Background when there is none that can end (the closing
// handshake's reads).
func (c *Conn) readContext() context.Context {
	if c.rctx.active.Load() {
		if ctx := c.rctx.context(); ctx != nil {
			return ctx
		}
	}
	return context.Background()
}

// acquireRead takes the read semaphore for a read with ctx. Once the
// peer's close frame has been read, here or by another read (Close
// awaiting the peer's answer, say), every read returns that close, as if
// it had read the frame itself, rather than the end of ctx or of the
// connection that followed.
func (c *Conn) acquireRead(ctx context.Context) error {
	err := c.acquire(ctx, c.rsem)
	if isDone(c.closeRcvd) && c.peerClose != nil {
		if err == nil {
			<-c.rsem
		}
		return c.peerClose
	}
	return err
}

// gotClose handles the peer's close frame: it checks it, answers it
// unless this side has already sent its own, and closes the connection.
func (c *Conn) gotClose(p []byte) error {
	ce := &CloseError{Code: StatusNoStatusRcvd}
	c.peerClosed.Store(true) // if the close frame is bad, a client has nothing to drain
	switch {
	case len(p) == 1:
		return c.fail(StatusProtocolError, "close frame with a 1-byte payload")
	case len(p) >= 2:
		ce.Code = StatusCode(int(p[0])<<8 | int(p[1]))
		if !validCode(ce.Code) {
			return c.fail(StatusProtocolError, "invalid close code")
		}
		var u utf8State
		if !u.valid(p[2:]) || !u.complete() {
			return c.fail(StatusInvalidFramePayloadData, "invalid UTF-8 in the close reason")
		}
		ce.Reason = string(p[2:])
	}
	c.readErr = ce
	c.peerClose = ce
	c.abandonMessage()
	close(c.closeRcvd)
	if !c.closeSent.Swap(true) {
		var code StatusCode
		if ce.Code != StatusNoStatusRcvd {
			code = ce.Code
		}
		c.writeClose(code, "")
		c.CloseNow()
	}
	return ce
}

// fail fails the connection for a fault of the peer: it sends a close
// frame with code and reason unless one was sent, reads and drops what
// the peer still sends until its close frame (bounded), and closes. It
// returns the error every later read returns. The caller holds rsem.
func (c *Conn) fail(code StatusCode, reason string) error {
	if c.readErr != nil {
		return c.readErr
	}
	c.readErr = fmt.Errorf("websocket: %s: %w", reason, &CloseError{Code: code, Reason: reason})
	c.abandonMessage()
	if !c.closeSent.Swap(true) {
		// A client whose server's close frame was bad expects nothing
		// more from it (a server ends the connection after its close,
		// RFC 6455 section 7.1.1). A server still drains: its client may
		// answer this close frame with one of its own.
		if c.writeClose(code, reason) == nil && !(c.client && c.peerClosed.Load()) {
			c.drain()
		}
	}
	c.CloseNow()
	return c.readErr
}

// drain reads and drops frames until the peer's close frame, for at most
// closeTimeout, so that closing does not reset a connection whose peer is
// still sending (and lose the close frame on the way).
func (c *Conn) drain() {
	c.SetReadDeadline(time.Now().Add(closeTimeout))
	if _, err := c.br.Discard(int(min(c.remaining, 1<<30))); err != nil {
		return
	}
	c.remaining = 0
	b := c.rhdr[:]
	for range 1 << 16 {
		if _, err := io.ReadFull(c.br, b[:2]); err != nil {
			return
		}
		n := headerLen(b[1])
		if _, err := io.ReadFull(c.br, b[2:n]); err != nil {
			return
		}
		var h frameHeader
		if !parseHeader(b[:n], &h) {
			return
		}
		if h.op == opClose {
			close(c.closeRcvd) // the closing handshake is complete
			return
		}
		if _, err := c.br.Discard(int(min(h.length, 1<<30))); err != nil {
			return
		}
	}
}

// closeIfIdle sends a close frame, best effort, unless one was sent or a
// write holds the frame lock: that write may be blocked on a peer that
// does not read, and an interrupted read must not wait for it (CloseNow,
// which follows, cuts it short).
func (c *Conn) closeIfIdle(code StatusCode, reason string) {
	select {
	case c.frameSem <- struct{}{}:
		<-c.frameSem
	default:
		return
	}
	if !c.closeSent.Swap(true) {
		c.writeClose(code, reason)
	}
}

// transportErr records a failed read of the underlying connection or
// stream: the context's error if the read context ended, else a lost
// connection (StatusAbnormalClosure). It closes the connection.
func (c *Conn) transportErr(err error) error {
	if c.readErr != nil {
		return c.readErr
	}
	switch {
	case c.rctx.interrupted.Load():
		cerr := context.Canceled
		if ctx := c.rctx.context(); ctx != nil && context.Cause(ctx) != nil {
			cerr = context.Cause(ctx)
		}
		c.readErr = fmt.Errorf("websocket: read interrupted: %w", cerr)
		c.closeIfIdle(StatusPolicyViolation, "read context ended")
	case c.isClosed():
		c.readErr = errClosed
		if cause := c.closeCause.Load(); cause != nil {
			c.readErr = *cause
		}
	default:
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		c.readErr = fmt.Errorf("websocket: connection lost: %w (%w)", err, &CloseError{Code: StatusAbnormalClosure})
	}
	c.abandonMessage()
	c.CloseNow()
	return c.readErr
}
