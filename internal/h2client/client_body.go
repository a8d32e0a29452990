package h2client

import (
	"io"
	"net/http"

	"golang.org/x/net/http2"
)

// clientBody is a response body streaming from a clientStream.
type clientBody struct{ cs *clientStream }

// Read returns buffered response data, crediting the flow-control windows as
// the data is consumed. After the last byte it returns io.EOF and fills
// res.Trailer with the trailers received.
func (b clientBody) Read(p []byte) (int, error) {
	cs := b.cs
	cc := cs.cc
	if len(p) == 0 {
		return 0, nil
	}
	cc.mu.Lock()
	for cs.off == len(cs.buf) && cs.readErr == nil {
		cs.cond.Wait()
	}
	if cs.off == len(cs.buf) {
		err, res, trailer := cs.readErr, cs.res, cs.trailer
		cs.trailer = nil
		cc.mu.Unlock()
		if err == io.EOF && trailer != nil {
			if res.Trailer == nil {
				res.Trailer = make(http.Header, len(trailer))
			}
			for k, vv := range trailer {
				res.Trailer[k] = vv
			}
		}
		return 0, err
	}
	n := copy(p, cs.buf[cs.off:])
	cs.off += n
	if cs.off == len(cs.buf) {
		cs.buf, cs.off = cs.buf[:0], 0
		if cap(cs.buf) > maxKeptBuffer {
			cs.buf = nil // grown by a burst: not kept for the stream's life
		}
	}
	streamIncr, connIncr := cs.consumedLocked(int64(n))
	cc.mu.Unlock()
	cc.sendWindowUpdates(cs.id, streamIncr, connIncr)
	return n, nil
}

// Close discards unread data, returning its credit to the connection. If the
// response is still arriving, the stream is reset with CANCEL.
func (b clientBody) Close() error {
	cs := b.cs
	cc := cs.cc
	cc.mu.Lock()
	if cs.bodyClosed {
		cc.mu.Unlock()
		return nil
	}
	cs.bodyClosed = true
	connIncr := cc.consumedLocked(cs.discardLocked())
	cs.readErr = errBodyClosed
	cs.cond.Broadcast()
	cc.mu.Unlock()
	cc.sendWindowUpdates(0, 0, connIncr)
	cs.reset(http2.ErrCodeCancel, errBodyClosed)
	return nil
}

// discardLocked drops buffered body data and returns its length.
func (cs *clientStream) discardLocked() int64 {
	n := int64(len(cs.buf) - cs.off)
	cs.buf, cs.off = nil, 0
	return n
}

// maxKeptBuffer is the largest receive buffer a stream keeps once it has
// been drained.
const maxKeptBuffer = 1 << 20

// consumedLocked records n bytes of the stream's data as consumed and returns
// the stream and connection WINDOW_UPDATE increments now due. Stream credit
// is returned in batches of half the stream window, and only while the server
// may still send.
func (cs *clientStream) consumedLocked(n int64) (streamIncr, connIncr uint32) {
	connIncr = cs.cc.consumedLocked(n)
	if cs.remoteClosed || cs.err != nil {
		return 0, connIncr
	}
	cs.recvUnacked += n
	if cs.recvUnacked == 0 || cs.recvUnacked < int64(cs.cc.cfg.streamWindow)/2 {
		return 0, connIncr
	}
	streamIncr = uint32(cs.recvUnacked)
	cs.recvAvail += cs.recvUnacked
	cs.recvUnacked = 0
	return streamIncr, connIncr
}
