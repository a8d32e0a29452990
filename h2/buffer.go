package h2

import (
	"io"
	"net"
	"sync"
)

// The connection's read and write buffers come from one pool and are held
// only while there are bytes in them: an idle connection, of which a
// server may have many thousands, holds neither (bufSize bytes each),
// only the small array the read that waits for its next bytes goes into.

// bufSize is the size of every pooled buffer.
const bufSize = 32 << 10

// idleReadSize is the size of the array a released readBuffer waits in:
// large enough for the request that wakes an idle connection (a HEADERS
// frame of a few dozen bytes, or a PING) to arrive in one read.
const idleReadSize = 512

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

// putBuf gives b back to the pool, unless it is not a pooled buffer (a
// readBuffer's small array, say): whatever a caller gets wrong, the pool
// hands out nothing but whole buffers of bufSize.
func putBuf(b *[]byte) {
	if len(*b) == bufSize {
		bufPool.Put(b)
	}
}

// readBuffer is the read loop's buffered reader of the connection. After
// release, while it is empty, it holds no pooled buffer: the next read
// waits in small, and what arrives there is read from small itself, so a
// request of a few dozen bytes (the HEADERS frame that wakes an idle
// connection, one after another under h2load -c 100 -m 1) is handled
// without taking a buffer from the pool, copying it there and giving it
// back. Once a read fills small (the input comes in larger pieces), or
// the rest of a frame begun in small is to be read (even one small
// enough for the array: a frame split across reads is rare), the
// buffered bytes move into a pooled buffer, which the reads that follow
// use. Read loop only.
type readBuffer struct {
	src    io.Reader
	buf    *[]byte // nil while released; &inSmall, or a pooled buffer
	pooled bool    // buf is a pooled buffer
	r, w   int     // (*buf)[r:w] is buffered
	err    error   // from the read that also brought bytes; returned once they are read
	last   int     // bytes the last read from src brought
	small  [idleReadSize]byte
	// inSmall is small as a slice, for buf to point at while the bytes
	// buffered are small's.
	inSmall []byte
}

// Buffered returns how many bytes can be read without reading from src.
func (b *readBuffer) Buffered() int { return b.w - b.r }

// frameBuffered reports whether a whole frame (its 9-byte header and
// the payload that header announces) is buffered, read loop between
// frames: the next ReadFrame then returns without reading from src.
// Bytes of a frame that has only begun to arrive do not count: reading
// the rest may block for as long as the peer likes.
func (b *readBuffer) frameBuffered() bool {
	if b.w-b.r < http2FrameHeaderLen {
		return false
	}
	h := (*b.buf)[b.r:]
	n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
	return b.w-b.r >= http2FrameHeaderLen+n
}

// dataFor reports whether the next frame, whose header is buffered, is
// a DATA frame on stream id.
func (b *readBuffer) dataFor(id uint32) bool {
	if b.w-b.r < http2FrameHeaderLen {
		return false
	}
	h := (*b.buf)[b.r:]
	sid := (uint32(h[5])<<24 | uint32(h[6])<<16 | uint32(h[7])<<8 | uint32(h[8])) & (1<<31 - 1)
	return h[3] == 0 && sid == id
}

// frameLen is the size of the next frame, header included, if its header
// is buffered, or of a header if not.
func (b *readBuffer) frameLen() int {
	if b.w-b.r < http2FrameHeaderLen {
		return http2FrameHeaderLen
	}
	h := (*b.buf)[b.r:]
	return http2FrameHeaderLen + (int(h[0])<<16 | int(h[1])<<8 | int(h[2]))
}

// frameTooLarge reports whether the next frame, whose header is
// buffered, can never be buffered whole: its payload and header are
// larger than a buffer. fill cannot wait for it; the Framer reads it.
func (b *readBuffer) frameTooLarge() bool {
	return b.buf != nil && b.frameLen() > bufSize
}

// inSmallArray points buf at small, which a read has just filled with n
// bytes.
func (b *readBuffer) inSmallArray(n int) {
	if b.inSmall == nil {
		b.inSmall = b.small[:]
	}
	b.buf, b.pooled = &b.inSmall, false
	b.r, b.w, b.last = 0, n, n
}

// smallFits reports whether the next read goes into small: nothing is
// buffered, and the last read (if any) did not fill small.
func (b *readBuffer) smallFits() bool {
	return !b.pooled && b.r == b.w && (b.buf == nil || b.last < len(b.small))
}

// toPool moves what is buffered in small into a pooled buffer, which
// buf then is.
func (b *readBuffer) toPool() {
	p := getBuf()
	if b.buf != nil {
		b.w = copy(*p, (*b.buf)[b.r:b.w])
	} else {
		b.w = 0
	}
	b.buf, b.pooled, b.r = p, true, 0
}

// fill reads from src once, adding what it brings to what is buffered,
// and returns the read's error, which it does not keep: a read that ends
// early (a deadline set to interrupt it, see lead.go) loses nothing, and
// the caller keeps any other error with keep. While an error is kept,
// fill does not read and returns it.
func (b *readBuffer) fill() error {
	if b.err != nil {
		return b.err
	}
	if b.smallFits() {
		n, err := b.src.Read(b.small[:])
		if n > 0 {
			b.inSmallArray(n)
		}
		return err
	}
	if !b.pooled {
		b.toPool() // a frame begun in small, or larger pieces coming
	}
	if b.r == b.w {
		b.r, b.w = 0, 0
	} else if b.r > 0 && b.r+b.frameLen() > len(*b.buf) {
		// The frame begun does not fit behind where it starts: move it
		// to the front, where it does (frameTooLarge).
		b.w = copy(*b.buf, (*b.buf)[b.r:b.w])
		b.r = 0
	}
	n, err := b.src.Read((*b.buf)[b.w:])
	if n > 0 {
		b.w += n
		b.last = n
	}
	return err
}

// keep holds err, from fill, for Read to return once what is buffered
// has been read.
func (b *readBuffer) keep(err error) { b.err = err }

// http2FrameHeaderLen is the size of a frame header (RFC 9113 section 4.1).
const http2FrameHeaderLen = 9

// Read reads into p what is buffered, or reads from src once if nothing
// is, the way bufio.Reader does.
func (b *readBuffer) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.r == b.w {
		if err := b.err; err != nil {
			b.err = nil
			return 0, err
		}
		if b.smallFits() {
			if len(p) >= len(b.small) {
				// Nothing gained by copying through small (a large
				// payload, which the Framer reads whole).
				n, err := b.src.Read(p)
				b.last = n
				return n, err
			}
			n, err := b.src.Read(b.small[:])
			if n <= 0 {
				return 0, err
			}
			b.inSmallArray(n)
			b.err = err
		} else {
			if !b.pooled {
				b.toPool() // the last read filled small: larger pieces come
			}
			if len(p) >= len(*b.buf) {
				return b.src.Read(p) // nothing gained by copying through buf
			}
			n, err := b.src.Read(*b.buf)
			if n <= 0 {
				return 0, err
			}
			b.r, b.w, b.err, b.last = 0, n, err, n
		}
	}
	n := copy(p, (*b.buf)[b.r:b.w])
	b.r += n
	return n, nil
}

// next returns the next n bytes, n > 0, if they are buffered, and
// consumes them; they stay valid until the next Read. Otherwise it
// returns false and consumes nothing.
func (b *readBuffer) next(n int) ([]byte, bool) {
	if n <= 0 || b.w-b.r < n {
		return nil, false
	}
	p := (*b.buf)[b.r : b.r+n : b.r+n]
	b.r += n
	return p, true
}

// peek returns up to n of the buffered bytes, without consuming them.
func (b *readBuffer) peek(n int) []byte {
	if b.buf == nil {
		return nil
	}
	return (*b.buf)[b.r:min(b.r+n, b.w)]
}

// release gives the buffer back to the pool if it is empty and, unless
// idle says the connection has nothing in progress, the input comes in
// pieces small enough to wait for in the small array: while it comes in
// larger ones, waiting there would cost a second read each time.
func (b *readBuffer) release(idle func() bool) {
	if b.buf != nil && b.r == b.w && (b.last < len(b.small) || idle()) {
		if b.pooled {
			putBuf(b.buf)
		}
		b.buf, b.pooled, b.r, b.w = nil, false, 0, 0
	}
}

// writeBuffer gathers the frames written with the Framer until Flush,
// which writes them to dst in one call and gives the buffer back to the
// pool. Large DATA goes around it (writeData). Callers hold wmu.
type writeBuffer struct {
	dst io.Writer
	buf *[]byte // nil while empty
	n   int     // (*buf)[:n] is waiting
}

// dataVec is what one writev of writeData sends: what is buffered, then
// header and payload of each frame. Pooled, so that a connection holds
// one only while it writes.
type dataVec struct {
	hdrs [runFrames][http2FrameHeaderLen]byte
	vec  [1 + 2*runFrames][]byte
	bufs net.Buffers
}

var dataVecPool = sync.Pool{New: func() any { return new(dataVec) }}

// runFrames is the most DATA frames writeData sends in one system call:
// a run of dataRun bytes in frames of the smallest MAX_FRAME_SIZE.
const runFrames = dataRun / 16384

// buffersWriter is a writer that writes a net.Buffers in one call
// (writev): the h2 writer, and molt's connections.
type buffersWriter interface {
	WriteBuffers(*net.Buffers) (int64, error)
}

// Write buffers p, writing out what is buffered first if p does not fit,
// and p itself directly if it is larger than a buffer.
func (b *writeBuffer) Write(p []byte) (int, error) {
	if b.buf == nil {
		if len(p) >= bufSize {
			return b.dst.Write(p)
		}
		b.buf = getBuf()
	}
	if b.n+len(p) > len(*b.buf) {
		if err := b.writeOut(); err != nil {
			return 0, err
		}
		if len(p) >= len(*b.buf) {
			return b.dst.Write(p)
		}
	}
	b.n += copy((*b.buf)[b.n:], p)
	return len(p), nil
}

// Flush writes out what is buffered and releases the buffer.
func (b *writeBuffer) Flush() error {
	if b.buf == nil {
		return nil
	}
	err := b.writeOut()
	putBuf(b.buf)
	b.buf = nil
	return err
}

// writeData writes p as DATA frames of stream id, each at most maxFrame
// bytes, the last with END_STREAM if end, after whatever is buffered (so
// the order of frames holds). A run of up to runFrames frames goes out in
// one WriteBuffers call of dst (one writev system call on a TCP
// connection), frame headers and payload together, and p is not copied:
// for a large body that is one system call per run rather than one per
// frame, and no copy through the Framer and the buffer. The buffer is
// given back, as by Flush.
func (b *writeBuffer) writeData(id uint32, p []byte, maxFrame int, end bool) error {
	d := dataVecPool.Get().(*dataVec)
	defer dataVecPool.Put(d)
	for {
		v := d.vec[:0]
		if b.buf != nil && b.n > 0 {
			v = append(v, (*b.buf)[:b.n])
		}
		for i := 0; i < runFrames && len(p) > 0; i++ {
			n := min(len(p), maxFrame)
			h := &d.hdrs[i]
			h[0], h[1], h[2] = byte(n>>16), byte(n>>8), byte(n)
			h[3] = byte(http2FrameData)
			h[4] = 0
			if end && n == len(p) {
				h[4] = http2FlagEndStream
			}
			h[5], h[6], h[7], h[8] = byte(id>>24)&0x7f, byte(id>>16), byte(id>>8), byte(id)
			v = append(v, h[:], p[:n])
			p = p[n:]
		}
		d.bufs = v
		var err error
		if w, ok := b.dst.(buffersWriter); ok {
			_, err = w.WriteBuffers(&d.bufs)
		} else {
			_, err = d.bufs.WriteTo(b.dst)
		}
		d.bufs = nil
		clear(d.vec[:]) // hold none of the handler's bytes
		if b.buf != nil {
			b.n = 0
			putBuf(b.buf)
			b.buf = nil
		}
		if err != nil || len(p) == 0 {
			return err
		}
	}
}

// The frame type and flag writeData sets (RFC 9113 section 6.1).
const (
	http2FrameData     = 0x0
	http2FlagEndStream = 0x1
)

// writeOut writes what is buffered. After an error the connection is
// dead: what is buffered is dropped.
func (b *writeBuffer) writeOut() error {
	n := b.n
	b.n = 0
	if n == 0 {
		return nil
	}
	_, err := b.dst.Write((*b.buf)[:n])
	return err
}
