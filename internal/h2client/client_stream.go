package h2client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// clientStream is one request/response exchange. Unless noted, its fields
// are guarded by cc.mu.
type clientStream struct {
	cc      *ClientConn
	id      uint32
	req     *http.Request
	ctx     context.Context
	isHead  bool
	stopCtx func() bool // stops the cancellation watcher
	cond    *sync.Cond  // on cc.mu; broadcast when res, buf, readErr or err change

	closeBodyOnce sync.Once // for req.Body
	tunnel        bool      // opened by Connect or ExtendedConnect; set before the stream is shared

	err          error // why the stream was aborted; nil while it is healthy
	localClosed  bool  // END_STREAM sent
	remoteClosed bool  // END_STREAM received
	sendWindow   int64
	recvAvail    int64 // bytes the server may still send on the stream
	recvUnacked  int64 // bytes consumed, not yet credited back to the stream

	res           *http.Response
	contentLength int64 // declared response body length, -1 if unknown
	gotBytes      int64
	buf           []byte // received body data, read from off on
	off           int
	readErr       error       // what Body.Read returns once buf is drained
	trailer       http.Header // received trailers, moved to res.Trailer at EOF
	bodyClosed    bool

	// For streams opened by Send: done is called once the stream ends,
	// no *http.Response is built and body data is counted, not kept.
	done        func(Result)
	completed   bool      // queued for done
	status      int       // final status code, 0 until it arrives
	headerAt    time.Time // when the final response headers arrived
	endAt       time.Time // when the stream ended
	headerBytes int64     // HEADERS and CONTINUATION payload received
	// sendStopped tells a Send stream's body sender (sendRest) that the
	// rest of the body is not to be sent: the response was complete
	// first (see endRemoteLocked), or the stream was aborted after that
	// (when err is no longer set, the Result being read).
	sendStopped bool
	answered    bool // endRemoteLocked left the stream to endAnswered
	// sentAt is when the write system call that carried the request's
	// HEADERS frame began, in nanoseconds since cc.sw.epoch plus one; 0
	// until then. Atomic: set by the writer, read by the read loop, and
	// the only order between the two is through the network.
	sentAt atomic.Int64
}

// gotFinal reports whether the final response headers have arrived.
func (cs *clientStream) gotFinal() bool { return cs.res != nil || cs.status != 0 }

// newStreamLocked registers a stream for req under id and starts watching
// req's context.
func (cc *ClientConn) newStreamLocked(req *http.Request, id uint32) *clientStream {
	cs := &clientStream{
		cc:            cc,
		id:            id,
		req:           req,
		ctx:           req.Context(),
		isHead:        req.Method == http.MethodHead,
		sendWindow:    int64(cc.peerInitWindow),
		recvAvail:     int64(cc.cfg.streamWindow),
		contentLength: -1,
	}
	cs.cond = sync.NewCond(&cc.mu)
	cc.streams.put(cs)
	cs.stopCtx = context.AfterFunc(cs.ctx, func() {
		cs.reset(http2.ErrCodeCancel, cs.ctx.Err())
	})
	return cs
}

// RoundTrip sends req on a new stream and returns the response once its
// final headers arrive; it is safe for concurrent use. It waits for the
// server's first SETTINGS frame, and for a free stream slot if the server's
// SETTINGS_MAX_CONCURRENT_STREAMS is reached.
//
// Header names are lowercased; hop-by-hop headers (Connection, Keep-Alive,
// Proxy-Connection, Transfer-Encoding, Upgrade, HTTP2-Settings, and TE
// unless "trailers") are dropped, as are Host and Content-Length, which come
// from req.Host (or req.URL.Host) and req.ContentLength. The "trailer"
// header is generated from the keys of req.Trailer, whose values are sent
// after the body. Nothing else is added: no User-Agent, no Accept-Encoding.
//
// The response body streams, returning flow-control credit as it is read;
// closing it early resets the stream. Cancelling req's context resets the
// stream and makes RoundTrip or Body.Read return the context's error.
func (cc *ClientConn) RoundTrip(req *http.Request) (*http.Response, error) {
	cs, err := cc.startStream(req)
	if err != nil {
		closeRequestBody(req)
		return nil, err
	}
	return cs.awaitResponse()
}

// startStream opens a stream for req and writes its HEADERS. The body, if
// any, is sent by a separate goroutine.
func (cc *ClientConn) startStream(req *http.Request) (*clientStream, error) {
	fields, listSize, err := requestFields(req)
	if err != nil {
		return nil, err
	}
	endStream := outgoingLength(req) == 0 && len(req.Trailer) == 0
	cs, err := cc.openStream(req, fields, listSize, endStream, false, false)
	if err != nil {
		return nil, err
	}
	if endStream {
		cs.closeReqBody()
	} else {
		go cs.writeBody()
	}
	return cs, nil
}

// openStream reserves a stream slot, registers a stream for req under the
// next ID and writes fields as its HEADERS, with END_STREAM if endStream.
// If extended is set, the server must have enabled extended CONNECT in
// its SETTINGS (RFC 8441 §3). tunnel marks a CONNECT stream.
func (cc *ClientConn) openStream(req *http.Request, fields []hpack.HeaderField, listSize uint64, endStream, extended, tunnel bool) (*clientStream, error) {
	ctx := req.Context()
	if err := cc.reserveSlot(ctx, listSize); err != nil {
		return nil, err
	}
	if err := cc.lockWrite(ctx); err != nil {
		if ctx.Err() == nil {
			err = fmt.Errorf("%w: %v", ErrStreamRefused, err)
		}
		cc.mu.Lock()
		cc.reserved--
		cc.cond.Broadcast()
		cc.mu.Unlock()
		return nil, err
	}
	defer cc.unlockWrite()

	cc.mu.Lock()
	cc.reserved--
	err := cc.usableLocked()
	if err == nil && extended && !cc.peerConnectProtocol {
		err = ErrNoExtendedConnect
	}
	if err != nil {
		cc.cond.Broadcast()
		cc.mu.Unlock()
		return nil, err
	}
	cs := cc.newStreamLocked(req, cc.nextStreamID)
	cc.nextStreamID += 2
	cs.localClosed = endStream
	cs.tunnel = tunnel
	cc.mu.Unlock()

	err = cc.writeHeaderBlock(cs.id, fields, endStream)
	if err == nil {
		err = cc.bw.Flush()
	}
	if err != nil {
		err = fmt.Errorf("h2client: writing request headers: %w", err)
		cc.closeWithError(err)
		return nil, err
	}
	return cs, nil
}

// reserveSlot waits until the server's MAX_CONCURRENT_STREAMS allows one
// more stream and reserves it. Until the server's first SETTINGS frame has
// been processed its limits are unknown, so that is waited for too.
func (cc *ClientConn) reserveSlot(ctx context.Context, headerListSize uint64) error {
	stop := context.AfterFunc(ctx, func() {
		cc.mu.Lock()
		cc.cond.Broadcast()
		cc.mu.Unlock()
	})
	defer stop()
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for {
		if err := cc.usableLocked(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !cc.seenSettings {
			cc.cond.Wait()
			continue
		}
		if cc.peerMaxHeaderList != 0 && headerListSize > uint64(cc.peerMaxHeaderList) {
			return fmt.Errorf("h2client: request header list of %d bytes exceeds the server's limit of %d", headerListSize, cc.peerMaxHeaderList)
		}
		if uint64(cc.streams.len()+cc.reserved) < uint64(cc.peerMaxStreams) {
			cc.reserved++
			return nil
		}
		cc.cond.Wait()
	}
}

// awaitResponse waits for the final response headers or the stream's end.
func (cs *clientStream) awaitResponse() (*http.Response, error) {
	cs.cc.mu.Lock()
	defer cs.cc.mu.Unlock()
	for cs.res == nil && cs.err == nil {
		cs.cond.Wait()
	}
	if cs.res != nil {
		return cs.res, nil
	}
	return nil, cs.err
}

// writeBody sends the request body and trailers, then ends the stream. It
// runs in its own goroutine.
func (cs *clientStream) writeBody() {
	defer cs.closeReqBody()
	if err := cs.sendBody(); err != nil {
		cs.reset(http2.ErrCodeCancel, err) // no-op if the stream already ended
	}
}

func (cs *clientStream) sendBody() error {
	req := cs.req
	declared := outgoingLength(req)
	if declared != 0 {
		buf := make([]byte, 32<<10)
		var sent int64
		for {
			n, rerr := req.Body.Read(buf)
			sent += int64(n)
			if declared > 0 && sent > declared {
				return fmt.Errorf("h2client: request body longer than ContentLength %d", declared)
			}
			if _, err := cs.writeData(buf[:n], false); err != nil {
				return err
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return rerr
			}
		}
		if declared > 0 && sent != declared {
			return fmt.Errorf("h2client: request body has %d bytes, ContentLength %d", sent, declared)
		}
	}

	trailers, err := trailerFields(req.Trailer)
	if err != nil {
		return err
	}
	err = cs.cc.write(cs.ctx, cs, func(fr *http2.Framer) error {
		if len(trailers) == 0 {
			return fr.WriteData(cs.id, true, nil)
		}
		return cs.cc.writeHeaderBlock(cs.id, trailers, true)
	})
	if err != nil {
		return err
	}
	cs.cc.mu.Lock()
	cs.localClosed = true
	if cs.remoteClosed {
		cs.cc.forgetLocked(cs)
	}
	cs.cc.mu.Unlock()
	return nil
}

// writeData sends p as DATA frames within the peer's frame size limit and
// the stream's and the connection's send windows, waiting for credit as
// needed: each run of frames that the windows allow at once goes in one
// write. With end, the last frame carries END_STREAM (an empty p sends
// an empty frame with it). It returns how many bytes of p went.
func (cs *clientStream) writeData(p []byte, end bool) (int, error) {
	cc := cs.cc
	if len(p) == 0 {
		if !end {
			return 0, nil
		}
		return 0, cc.write(cs.ctx, cs, func(fr *http2.Framer) error { return fr.WriteData(cs.id, true, nil) })
	}
	sent := 0
	for sent < len(p) {
		n, maxFrame, err := cs.awaitSendWindow(len(p) - sent)
		if err != nil {
			return sent, err
		}
		run, last := p[sent:sent+n], end && sent+n == len(p)
		err = cc.write(cs.ctx, cs, func(fr *http2.Framer) error {
			if len(run) > maxFrame {
				return cc.writeDataRun(cs.id, run, maxFrame, last)
			}
			return fr.WriteData(cs.id, last, run)
		})
		if err != nil {
			// Nothing was sent (or the write failed, which ends the
			// connection): give the window back.
			cc.mu.Lock()
			cc.sendWindow += int64(n)
			cs.sendWindow += int64(n)
			cc.cond.Broadcast()
			cc.mu.Unlock()
			return sent, err
		}
		sent += n
	}
	return sent, nil
}

// writeDataRun writes run as DATA frames of stream id of at most
// maxFrame bytes each, the last with END_STREAM if end, in one vectored
// write after what bw holds: the Framer would copy every frame into its
// buffer, and bw, smaller than a frame, would then write each with a
// system call of its own (a 64 KiB WebSocket message took five). The
// write lock must be held.
func (cc *ClientConn) writeDataRun(id uint32, run []byte, maxFrame int, end bool) error {
	if !cc.vectored {
		// net.Buffers would write each header and payload on its own.
		for {
			k := min(len(run), maxFrame)
			if err := cc.fr.WriteData(id, end && k == len(run), run[:k]); err != nil {
				return err
			}
			if run = run[k:]; len(run) == 0 {
				return nil
			}
		}
	}
	if err := cc.bw.Flush(); err != nil {
		return err
	}
	frames := (len(run) + maxFrame - 1) / maxFrame
	if cap(cc.dataHeads) < frames*frameHeaderLen {
		cc.dataHeads = make([]byte, frames*frameHeaderLen)
	}
	heads, vec := cc.dataHeads[:frames*frameHeaderLen], cc.dataVec[:0]
	for len(run) > 0 {
		k := min(len(run), maxFrame)
		var flags http2.Flags
		if end && k == len(run) {
			flags = http2.FlagDataEndStream
		}
		h := heads[:frameHeaderLen:frameHeaderLen]
		heads = heads[frameHeaderLen:]
		h[0], h[1], h[2], h[3], h[4] = byte(k>>16), byte(k>>8), byte(k), byte(http2.FrameData), byte(flags)
		binary.BigEndian.PutUint32(h[5:], id&(1<<31-1))
		vec = append(vec, h, run[:k])
		run = run[k:]
	}
	cc.dataVec = vec[:0] // WriteTo consumes its copy; the array is reused
	_, err := cc.sw.writeBuffers(&vec)
	return err
}

// frameHeaderLen is the size of a frame header (RFC 9113 section 4.1).
const frameHeaderLen = 9

// dataRunMax bounds a run of DATA frames (beyond one frame of the peer's
// size): the write lock is held for a run, and other streams' frames and
// the read loop's answers (PING and SETTINGS acknowledgements) wait
// behind it.
const dataRunMax = 64 << 10

// awaitSendWindow waits until some of want bytes may be sent and takes
// them (as many as both windows allow, up to a run: dataRunMax, or one
// frame of the peer's if larger) from the stream and connection send
// windows; it also returns the peer's frame size limit.
func (cs *clientStream) awaitSendWindow(want int) (n, maxFrame int, err error) {
	cc := cs.cc
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for {
		if cs.err != nil {
			return 0, 0, cs.err
		}
		if cs.sendStopped {
			return 0, 0, errSendStopped
		}
		if n := min(int64(want), cs.sendWindow, cc.sendWindow, max(int64(cc.peerMaxFrame), dataRunMax)); n > 0 {
			cs.sendWindow -= n
			cc.sendWindow -= n
			return int(n), int(cc.peerMaxFrame), nil
		}
		cc.cond.Wait()
	}
}

// reset aborts the stream with err and, if it is still open on the wire,
// sends RST_STREAM with code.
func (cs *clientStream) reset(code http2.ErrCode, err error) { cs.end(err, true, code) }

// fail aborts the stream with err without sending RST_STREAM, because the
// server already considers it closed.
func (cs *clientStream) fail(err error) { cs.end(err, false, 0) }

func (cs *clientStream) end(err error, rst bool, code http2.ErrCode) {
	cc := cs.cc
	cc.mu.Lock()
	live, connIncr := cs.abortLocked(err)
	cc.mu.Unlock()
	cs.closeReqBody()
	defer cc.runDone()
	if !live || !rst {
		cc.sendWindowUpdates(0, 0, connIncr)
		return
	}
	cc.write(context.Background(), nil, func(fr *http2.Framer) error {
		if connIncr > 0 {
			if err := fr.WriteWindowUpdate(0, connIncr); err != nil {
				return err
			}
		}
		return fr.WriteRSTStream(cs.id, code)
	})
}

// abortLocked ends the stream with err unless it was aborted before. Data
// still buffered is discarded unless the response was complete. It reports
// whether the stream was open on the wire, and the connection WINDOW_UPDATE
// increment due for discarded data.
func (cs *clientStream) abortLocked(err error) (live bool, connIncr uint32) {
	if cs.err != nil || cs.completed {
		// Aborted before, or a Send stream already handed to its
		// callback, which reads it without the lock; a body still
		// being sent on it stops.
		if !cs.localClosed {
			cs.sendStopped = true
			cs.cc.cond.Broadcast()
		}
		return false, 0
	}
	cs.err = err
	if !cs.remoteClosed {
		connIncr = cs.cc.consumedLocked(cs.discardLocked())
		if cs.readErr == nil {
			cs.readErr = err
		}
	}
	live = cs.cc.streams.get(cs.id) == cs
	cs.cc.forgetLocked(cs)
	cs.cond.Broadcast()
	cs.cc.cond.Broadcast()
	if cs.done != nil && !cs.completed {
		cs.queueDoneLocked(time.Now())
	}
	return live, connIncr
}

// forgetLocked removes a stream that is closed on the wire.
func (cc *ClientConn) forgetLocked(cs *clientStream) {
	if cc.streams.get(cs.id) != cs {
		return
	}
	cc.streams.remove(cs.id)
	cs.stopCtx()
	cc.cond.Broadcast()
}

func (cs *clientStream) closeReqBody() {
	cs.closeBodyOnce.Do(func() { closeRequestBody(cs.req) })
}

func closeRequestBody(req *http.Request) {
	if req != nil && req.Body != nil {
		req.Body.Close()
	}
}

// outgoingLength returns the number of body bytes req will send, or -1 if
// that is unknown (the convention of http.Request.ContentLength for clients).
func outgoingLength(req *http.Request) int64 {
	if req.Body == nil || req.Body == http.NoBody {
		return 0
	}
	if req.ContentLength != 0 {
		return req.ContentLength
	}
	return -1
}

// errSendStopped is why a Send stream's body stops waiting for credit
// once its response was complete.
var errSendStopped = errors.New("h2client: stream ended before its request body was sent")

// errBodyClosed is returned by reads from a closed response body.
var errBodyClosed = errors.New("h2client: response body closed")

// trailerFields returns the request trailers that have values, lowercased.
func trailerFields(trailer http.Header) ([]hpack.HeaderField, error) {
	var fields []hpack.HeaderField
	for _, k := range sortedKeys(trailer) {
		if err := validTrailerName(k); err != nil {
			return nil, err
		}
		for _, v := range trailer[k] {
			if err := validFieldValue(k, v); err != nil {
				return nil, err
			}
			fields = append(fields, hpack.HeaderField{Name: strings.ToLower(k), Value: v})
		}
	}
	return fields, nil
}
