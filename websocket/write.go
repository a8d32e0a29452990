package websocket

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/klauspost/compress/flate"
)

// Write writes p as one message of type typ. With permessage-deflate
// negotiated, a message of at least Options.CompressionThreshold bytes is
// compressed. Write is safe for concurrent use; messages do not
// interleave.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	if typ != Text && typ != Binary {
		return fmt.Errorf("websocket: invalid message type %d", int(typ))
	}
	if err := c.acquire(ctx, c.msgSem); err != nil {
		return err
	}
	defer func() { <-c.msgSem }()
	if err := c.acquire(ctx, c.frameSem); err != nil {
		return err
	}
	if err := c.beginWrite(ctx); err != nil {
		<-c.frameSem
		return err
	}
	err := c.writeMessage(byte(typ), p)
	if err == nil {
		err = c.flush()
	}
	return c.endWrite(err)
}

// beginWrite checks that frames may still be written and starts watching
// ctx. The caller holds frameSem.
func (c *Conn) beginWrite(ctx context.Context) error {
	if c.wclosed || c.isClosed() {
		return errClosed
	}
	return c.wctx.begin(ctx)
}

// endWrite releases frameSem and, if the write failed, fails the
// connection; it returns the error to report.
func (c *Conn) endWrite(err error) error {
	interrupted := c.wctx.end()
	<-c.frameSem
	if err == nil {
		return nil
	}
	if interrupted {
		cause := context.Canceled
		if ctx := c.wctx.context(); ctx != nil && context.Cause(ctx) != nil {
			cause = context.Cause(ctx)
		}
		err = fmt.Errorf("websocket: write interrupted: %w", cause)
	} else if !errors.Is(err, errClosed) {
		err = fmt.Errorf("websocket: write: %w", err)
	}
	c.CloseNow()
	return err
}

func (c *Conn) writeMessage(op byte, p []byte) error {
	if !c.deflate || len(p) < c.threshold {
		return c.writeFrame(true, false, op, p)
	}
	c.wsink.b = c.wsink.b[:0]
	fw := c.compressor()
	fw.Write(p)
	fw.Flush()
	c.releaseFlate(fw)
	err := c.writeFrame(true, true, op, trimTail(c.wsink.b))
	c.trimSink()
	return err
}

// compressor returns the compressor for a message: the connection's own,
// made on first use, if it keeps one, else one from the pool.
func (c *Conn) compressor() *flate.Writer {
	if !c.ownFlate {
		return getFlateWriter(&c.wsink)
	}
	if c.wflate == nil {
		c.wflate = newWindowWriter(&c.wsink, c.dp.ownMaxBits)
	}
	return c.wflate
}

// releaseFlate ends a message's use of the compressor fw.
func (c *Conn) releaseFlate(fw *flate.Writer) {
	switch {
	case fw != c.wflate:
		putFlateWriter(fw)
	case c.dp.ownNoContext:
		fw.Reset(&c.wsink)
	}
}

// trimSink drops a compression buffer grown by an unusually large message.
func (c *Conn) trimSink() {
	if cap(c.wsink.b) > 1<<20 {
		c.wsink.b = nil
	}
}

// trimTail removes the sync-flush marker that ends a compressed message.
func trimTail(b []byte) []byte {
	if n := len(b) - len(deflateTail); n >= 0 && string(b[n:]) == deflateTail {
		return b[:n]
	}
	return b
}

// writeFrame buffers one frame, or, over HTTP/1.1, sends a frame too large
// for the buffer at once. The caller holds frameSem.
func (c *Conn) writeFrame(fin, rsv1 bool, op byte, p []byte) error {
	if c.client {
		return c.writeMaskedFrame(fin, rsv1, op, p)
	}
	n := putHeader(c.whdr[:], fin, rsv1, op, len(p))
	if c.netConn != nil && c.bw.Buffered() == 0 && n+len(p) > c.bw.Available() {
		return c.writeVector(c.whdr[:n], p)
	}
	if _, err := c.bw.Write(c.whdr[:n]); err != nil {
		return err
	}
	_, err := c.bw.Write(p)
	return err
}

// writeMaskedFrame buffers one frame of a dialed Conn, masked with a
// fresh key (RFC 6455, section 5.3). The payload is masked as it is
// copied into the write buffer, so p is left as it was.
func (c *Conn) writeMaskedFrame(fin, rsv1 bool, op byte, p []byte) error {
	n := putHeader(c.whdr[:], fin, rsv1, op, len(p))
	c.whdr[1] |= maskBit
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], uint32(c.maskRand.Uint64()))
	n += copy(c.whdr[n:], key[:])
	if _, err := c.bw.Write(c.whdr[:n]); err != nil {
		return err
	}
	pos := 0
	for len(p) > 0 {
		buf := c.bw.AvailableBuffer()
		if cap(buf) == 0 {
			if err := c.bw.Flush(); err != nil {
				return err
			}
			continue
		}
		k := min(cap(buf), len(p))
		buf = append(buf, p[:k]...)
		pos = maskBytes(key, pos, buf)
		if _, err := c.bw.Write(buf); err != nil {
			return err
		}
		p = p[k:]
	}
	return nil
}

// writeVector writes hdr and p to the hijacked connection in one writev
// system call where the connection allows: through the buffer, they
// would cost two write calls (the buffer's worth, then the rest) and a
// copy.
func (c *Conn) writeVector(hdr, p []byte) error {
	c.wvec = [2][]byte{hdr, p}
	c.wbufs = c.wvec[:]
	var err error
	if w, ok := c.netConn.(buffersWriter); ok {
		_, err = w.WriteBuffers(&c.wbufs)
	} else {
		_, err = c.wbufs.WriteTo(c.netConn)
	}
	c.wvec = [2][]byte{} // keep no reference to p
	return err
}

// buffersWriter is a connection that writes net.Buffers with one system
// call although it wraps the net.Conn that can: molt's server's.
type buffersWriter interface {
	WriteBuffers(*net.Buffers) (int64, error)
}

// flush sends the buffered frames. The caller holds frameSem.
func (c *Conn) flush() error {
	if err := c.bw.Flush(); err != nil {
		return err
	}
	if c.h2 != nil {
		return c.h2.flush()
	}
	return nil
}

// writeControl writes one control frame for the read under way: the
// automatic pong, with the context of the read that saw the ping. It
// waits for the frame lock unless ctx ends, the read deadline passes or
// the connection closes first.
func (c *Conn) writeControl(ctx context.Context, op byte, p []byte) error {
	if err := c.acquireInRead(ctx, c.frameSem); err != nil {
		return err
	}
	if c.wclosed || c.isClosed() {
		<-c.frameSem
		return errClosed
	}
	err := c.writeFrame(true, false, op, p)
	if err == nil {
		err = c.flush()
	}
	<-c.frameSem
	if err != nil {
		c.CloseNow()
	}
	return err
}

// Ping sends a ping with data (at most 125 bytes) and waits for the pong
// that echoes it, or for ctx to end. The pong is seen by the connection's
// reader: Ping needs a concurrent Read (or Reader) to return.
func (c *Conn) Ping(ctx context.Context, data []byte) error {
	if len(data) > maxControlPayload {
		return errors.New("websocket: ping payload over 125 bytes")
	}
	ch := make(chan struct{})
	key := string(data)
	c.pingMu.Lock()
	if c.pings == nil {
		c.pings = make(map[string]chan struct{})
	}
	if old, ok := c.pings[key]; ok {
		ch = old
	} else {
		c.pings[key] = ch
	}
	c.pingMu.Unlock()
	forget := func() {
		c.pingMu.Lock()
		if c.pings[key] == ch {
			delete(c.pings, key)
		}
		c.pingMu.Unlock()
	}
	if err := c.acquire(ctx, c.frameSem); err != nil {
		forget()
		return err
	}
	if err := c.beginWrite(ctx); err != nil {
		<-c.frameSem
		forget()
		return err
	}
	err := c.writeFrame(true, false, opPing, data)
	if err == nil {
		err = c.flush()
	}
	if err := c.endWrite(err); err != nil {
		forget()
		return err
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		forget()
		return ctx.Err()
	case <-c.closed:
		forget()
		return errClosed
	}
}

// gotPong releases the Ping waiting for the pong's payload, if any.
func (c *Conn) gotPong(p []byte) {
	c.pingMu.Lock()
	if ch, ok := c.pings[string(p)]; ok {
		close(ch)
		delete(c.pings, string(p))
	}
	c.pingMu.Unlock()
}

// WriterFrameSize is the least payload of every frame but the last that
// a Writer sends: Writes are coalesced into frames of at least this many
// bytes, and a Write of this many or more goes out as a frame of its own
// (over HTTP/1.1 without a copy).
const WriterFrameSize = 16 << 10

// Writer returns a writer for one message of type typ, sent as a
// fragmented message and finished by Close, which every Writer needs.
// Writes are coalesced: every frame but the last carries at least
// WriterFrameSize bytes, and frames are flushed to the network as the
// transport's buffers fill and by Close, not per Write. Until Close other
// messages wait; control frames (pongs, pings, a close) may go between
// its frames. ctx bounds every write of the message. With
// permessage-deflate negotiated the message is compressed as a stream,
// and frames carry at least WriterFrameSize compressed bytes.
//
// A Write or Close that fails ends the message; the writer accepts no
// more. If frames of the message had gone out (ctx ended between two
// Writes, say), the message can never be finished, so the connection is
// failed: a close frame 1011 (internal error), best effort, then
// CloseNow. If none had, the connection stays usable.
//
// The writer is the Conn's one message writer, which the next call of
// Writer reuses (so that a Writer allocates nothing): once its message
// has ended, by Close or by a failed Write, do not call it again. A
// second Close, say a deferred one after a failed Write, would end the
// message that another goroutine has begun since.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	if typ != Text && typ != Binary {
		return nil, fmt.Errorf("websocket: invalid message type %d", int(typ))
	}
	if err := c.acquire(ctx, c.msgSem); err != nil {
		return nil, err
	}
	w := &c.mw
	w.ctx = ctx
	w.op = byte(typ)
	w.first = true
	w.done = false
	w.fw = nil
	c.wsink.b = c.wsink.b[:0] // the payload not yet sent
	if c.deflate {
		w.fw = c.compressor()
	}
	return w, nil
}

// messageWriter is the io.WriteCloser that Writer returns; one per Conn.
// The payload not yet sent, plain or compressed, collects in c.wsink.
type messageWriter struct {
	c     *Conn
	ctx   context.Context
	op    byte
	first bool
	done  bool
	fw    *flate.Writer // compressor of this message, nil if plain
}

var errWriterClosed = errors.New("websocket: write to a closed message writer")

// Write adds p to the message, sending a frame once WriterFrameSize
// bytes are waiting.
func (w *messageWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errWriterClosed
	}
	if err := w.ctx.Err(); err != nil {
		return 0, w.end(err)
	}
	if len(p) == 0 {
		return 0, nil
	}
	c := w.c
	n := len(p)
	if w.fw != nil {
		w.fw.Write(p)
		if len(c.wsink.b) >= WriterFrameSize {
			err := w.frame(false, c.wsink.b)
			c.wsink.b = c.wsink.b[:0]
			if err != nil {
				return 0, w.end(err)
			}
		}
		return n, nil
	}
	buf := c.wsink.b
	if len(buf)+len(p) < WriterFrameSize {
		c.wsink.b = append(buf, p...)
		return n, nil
	}
	if len(buf) > 0 {
		k := WriterFrameSize - len(buf)
		buf = append(buf, p[:k]...)
		p = p[k:]
		err := w.frame(false, buf)
		c.wsink.b = buf[:0]
		if err != nil {
			return 0, w.end(err)
		}
	}
	if len(p) < WriterFrameSize {
		c.wsink.b = append(c.wsink.b, p...)
	} else if err := w.frame(false, p); err != nil {
		return 0, w.end(err)
	}
	return n, nil
}

// Close sends the message's final frame, flushes, and lets other
// messages go.
func (w *messageWriter) Close() error {
	if w.done {
		return errWriterClosed
	}
	c := w.c
	payload := c.wsink.b
	if w.fw != nil {
		w.fw.Flush()
		payload = trimTail(c.wsink.b)
	}
	err := w.end(w.frame(true, payload))
	c.wsink.b = c.wsink.b[:0]
	c.trimSink()
	return err
}

// frame writes one frame of the message, and flushes after the last.
func (w *messageWriter) frame(fin bool, p []byte) error {
	c := w.c
	if err := c.acquire(w.ctx, c.frameSem); err != nil {
		return err
	}
	if err := c.beginWrite(w.ctx); err != nil {
		<-c.frameSem
		return err
	}
	op := byte(opContinuation)
	if w.first {
		op = w.op
	}
	err := c.writeFrame(fin, w.first && w.fw != nil, op, p)
	if err == nil && fin {
		err = c.flush()
	}
	w.first = false
	return c.endWrite(err)
}

// end ends the message, releasing the compressor and the message lock,
// and returns err. A message that failed (err != nil) cannot be resumed:
// the compressor is reset, for it holds input the peer never got, and if
// some of the message's frames went out, the connection is failed before
// another message may start, because the peer would read that message's
// frames as the rest of this one.
func (w *messageWriter) end(err error) error {
	if w.done {
		return err
	}
	w.done = true
	c := w.c
	if w.fw != nil {
		if err != nil && w.fw == c.wflate {
			w.fw.Reset(&c.wsink)
		}
		c.releaseFlate(w.fw)
		w.fw = nil
	}
	if err != nil && !w.first {
		c.failWrite(StatusInternalError, "message left unfinished")
	}
	<-c.msgSem
	return err
}

// failWrite fails the connection for a fault of this side's writing: a
// close frame with code and reason, best effort, unless one was sent,
// then CloseNow.
func (c *Conn) failWrite(code StatusCode, reason string) {
	if !c.closeSent.Swap(true) {
		c.writeClose(code, reason)
	}
	c.CloseNow()
}
