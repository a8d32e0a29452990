package h2

import (
	"encoding/binary"
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

func getBuf() *[]byte  { return bufPool.Get().(*[]byte) }
func putBuf(b *[]byte) { bufPool.Put(b) }

// readBuffer is the read loop's buffered reader of the connection. After
// release, while it is empty, it holds no pooled buffer: the next read
// waits in small and takes a buffer from the pool once bytes arrive.
// Read loop only.
type readBuffer struct {
	src   io.Reader
	buf   *[]byte // nil while released
	r, w  int     // (*buf)[r:w] is buffered
	err   error   // from the read that also brought bytes; returned once they are read
	last  int     // bytes the last read from src brought
	small [idleReadSize]byte
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
		if b.buf == nil {
			// Released: wait in the small array, then move what came
			// into a pooled buffer.
			n, err := b.src.Read(b.small[:])
			if n <= 0 {
				return 0, err
			}
			b.buf = getBuf()
			b.r, b.w, b.err, b.last = 0, copy(*b.buf, b.small[:n]), err, n
		} else {
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

// release gives the buffer back to the pool if it is empty and, unless
// idle says the connection has nothing in progress, the input comes in
// pieces small enough to wait for in the small array: while it comes in
// larger ones, waiting there would cost a second read each time.
func (b *readBuffer) release(idle func() bool) {
	if b.buf != nil && b.r == b.w && (b.last < len(b.small) || idle()) {
		putBuf(b.buf)
		b.buf, b.r, b.w = nil, 0, 0
	}
}

// writeBuffer gathers the frames written with the Framer until Flush,
// which writes them to dst in one call and gives the buffer back to the
// pool. Callers hold wmu.
//
// DATA frames written with writeData keep their payload where it is when
// it is large (vectorMin and up): the frame header goes into the buffer,
// and the payload is referenced in vec, so that the frames of a large
// write go out with what was buffered before them in one writev system
// call, without a copy. Since the payload belongs to the caller, a writer
// that wrote with writeData calls endVector before it lets go of wmu.
type writeBuffer struct {
	dst  io.Writer
	buf  *[]byte     // nil while empty
	n    int         // (*buf)[:n] is waiting
	vec  [][]byte    // what goes out before (*buf)[from:n]; only within one hold of wmu
	from int         // (*buf)[:from] is referenced in vec
	out  net.Buffers // the vector being written (WriteTo consumes it)
	hdr  [9]byte     // writeData's frame header
}

// vectorMin is the smallest DATA payload writeData does not copy.
const vectorMin = 2 << 10

// buffersWriter is a connection that writes net.Buffers with one system
// call although it is not one of package net's own (molt's server wraps
// its connections).
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

// writeData writes one DATA frame on stream id whose payload is a then p
// (together at most the peer's SETTINGS_MAX_FRAME_SIZE; no padding). A
// small payload is copied into the buffer; a large one is referenced
// until endVector.
func (b *writeBuffer) writeData(id uint32, end bool, a, p []byte) error {
	hdr := &b.hdr
	size := len(a) + len(p)
	hdr[0], hdr[1], hdr[2], hdr[3], hdr[4] = byte(size>>16), byte(size>>8), byte(size), 0x0, 0x0 // DATA, no flags
	if end {
		hdr[4] = 0x1 // END_STREAM
	}
	binary.BigEndian.PutUint32(hdr[5:], id&(1<<31-1))
	if size < vectorMin {
		if _, err := b.Write(hdr[:]); err != nil {
			return err
		}
		if _, err := b.Write(a); err != nil {
			return err
		}
		_, err := b.Write(p)
		return err
	}
	if b.buf == nil {
		b.buf = getBuf()
	}
	if b.n+len(hdr) > len(*b.buf) {
		if err := b.writeOut(); err != nil {
			return err
		}
	}
	b.n += copy((*b.buf)[b.n:], hdr[:])
	b.vec = append(b.vec, (*b.buf)[b.from:b.n])
	b.from = b.n
	if len(a) > 0 {
		b.vec = append(b.vec, a)
	}
	if len(p) > 0 {
		b.vec = append(b.vec, p)
	}
	return nil
}

// endVector writes out the frames whose payloads writeData referenced,
// with everything buffered before and after them, so that no reference
// to the caller's memory outlives its hold of wmu.
func (b *writeBuffer) endVector() error {
	if len(b.vec) == 0 {
		return nil
	}
	return b.writeOut()
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

// writeOut writes what is buffered (and referenced, in a single writev
// where dst allows). After an error the connection is dead: what is
// buffered is dropped.
func (b *writeBuffer) writeOut() error {
	n := b.n
	b.n = 0
	if len(b.vec) > 0 {
		return b.writeVector(n)
	}
	if n == 0 {
		return nil
	}
	_, err := b.dst.Write((*b.buf)[:n])
	return err
}

func (b *writeBuffer) writeVector(n int) error {
	if b.from < n {
		b.vec = append(b.vec, (*b.buf)[b.from:n])
	}
	b.out = b.vec
	var err error
	if w, ok := b.dst.(buffersWriter); ok {
		_, err = w.WriteBuffers(&b.out)
	} else {
		_, err = b.out.WriteTo(b.dst)
	}
	clear(b.vec)
	b.vec, b.from, b.out = b.vec[:0], 0, nil
	return err
}
