package h2client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// ErrStreamLimit is returned by Send when the server's
// SETTINGS_MAX_CONCURRENT_STREAMS streams are already open.
var ErrStreamLimit = errors.New("h2client: server's concurrent stream limit reached")

// errNoSettings is returned by Send before the server's SETTINGS arrived.
var errNoSettings = errors.New("h2client: server SETTINGS not received yet (wait with Ping)")

// Prepared is a request without a body, validated and turned into its
// header list once, so that ClientConn.Send can write it on any
// connection any number of times. Each connection encodes it with its
// own HPACK encoder, as a browser or h2load would: the first request
// adds its fields to the dynamic table, and from then on the block is
// indexed fields only (a few bytes), which the connection keeps and
// writes again without encoding while nothing else has used its encoder.
type Prepared struct {
	fields   []hpack.HeaderField
	listSize uint64
	isHead   bool
	body     []byte // written as DATA after the HEADERS; nil for none
}

// Prepare validates req like RoundTrip does and turns its header into
// the list Send encodes. Requests with a body or trailers are refused
// (see PrepareBody): Send then writes a HEADERS frame with END_STREAM only.
func Prepare(req *http.Request) (*Prepared, error) {
	if outgoingLength(req) != 0 || len(req.Trailer) > 0 {
		return nil, errors.New("h2client: Prepare takes requests without a body or trailers (PrepareBody takes a body)")
	}
	return prepareFields(req, nil)
}

// PrepareBody is Prepare for a request whose body is body, the same bytes
// every time: req's own Body is ignored, and its content-length is
// len(body). Send writes the body as DATA frames right after the HEADERS,
// as much as the server's flow-control windows allow at once; the rest
// waits for the server's credit on a goroutine of its own. If the
// response is complete before the whole body was sent, the rest is not
// sent: the stream is reset with NO_ERROR (RFC 9113 section 8.1) before
// done is called, so that its slot is free for a Send from done. The
// slice is kept and must not change. Trailers are refused.
func PrepareBody(req *http.Request, body []byte) (*Prepared, error) {
	if len(req.Trailer) > 0 {
		return nil, errors.New("h2client: PrepareBody takes requests without trailers")
	}
	r := *req // shallow: only Body and ContentLength differ
	r.Body, r.ContentLength = http.NoBody, 0
	if len(body) > 0 {
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	return prepareFields(&r, body)
}

func prepareFields(req *http.Request, body []byte) (*Prepared, error) {
	fields, size, err := requestFields(req)
	if err != nil {
		return nil, err
	}
	p := &Prepared{fields: fields, listSize: size, isHead: req.Method == http.MethodHead}
	if len(body) > 0 {
		p.body = body
	}
	return p, nil
}

// preparedBlock returns p's header block for this connection: the one
// kept from the last Send of p if nothing has used the encoder since,
// or else p's fields encoded now. A block made only of indexed fields
// leaves both ends' dynamic tables as they were, so while the encoder
// is not used for anything else (another request's fields, a new table
// size from the server's SETTINGS), writing the same bytes again is
// what encoding the fields again would produce. The write lock must be
// held; the block is valid until it is released.
func (cc *ClientConn) preparedBlock(p *Prepared) []byte {
	if cc.indexedFor == p {
		return cc.indexedBlock
	}
	cc.hbuf.Reset()
	for _, f := range p.fields {
		cc.henc.WriteField(f) // writes to a bytes.Buffer cannot fail
	}
	block := cc.hbuf.Bytes()
	cc.indexedFor = nil
	if onlyIndexed(block) {
		cc.indexedFor = p
		cc.indexedBlock = append(cc.indexedBlock[:0], block...)
	}
	return block
}

// encoderUsed forgets the kept block of preparedBlock: the encoder's
// dynamic table is about to change. The write lock must be held.
func (cc *ClientConn) encoderUsed() { cc.indexedFor = nil }

// onlyIndexed reports whether block is made only of indexed header field
// representations (RFC 7541 section 6.1), which change no dynamic table.
func onlyIndexed(block []byte) bool {
	for len(block) > 0 {
		if block[0]&0x80 == 0 {
			return false // a literal or a table size update
		}
		n := 1
		if block[0]&0x7f == 0x7f { // the index goes on in 7-bit groups
			for n < len(block) && block[n]&0x80 != 0 {
				n++
			}
			if n == len(block) {
				return false
			}
			n++
		}
		block = block[n:]
	}
	return true
}

// Result is the outcome of a request sent with Send.
type Result struct {
	// Status is the final response's status code, 0 if none arrived.
	Status int
	// SentAt is when the request left the client: the start of the
	// write system call that carried the end of its HEADERS frame (one
	// clock read per write, shared by the requests it carries). Zero if
	// the request was never written.
	SentAt time.Time
	// HeaderAt is when the final response headers arrived (zero if they
	// did not), and EndAt when the stream ended. Both are the time of
	// the network read that brought the frame: the read loop reads the
	// clock once per read, not per frame.
	HeaderAt, EndAt time.Time
	// HeaderBytes is the payload length of the response's HEADERS
	// frames, the compressed header blocks.
	HeaderBytes int64
	// BodyBytes is the number of response body bytes received (padding
	// excluded). The data itself is discarded.
	BodyBytes int64
	// Err is why the stream failed, nil if the response was complete:
	// a reset by the server (http2.StreamError, ErrStreamRefused for
	// REFUSED_STREAM and streams above a GOAWAY's last-stream-id), the
	// error given to CancelStream, or the connection's failure.
	Err error
}

// Send is RoundTrip for load generators: it opens a stream for p (and
// writes p's body, if PrepareBody gave it one, waiting for flow-control
// credit on a goroutine of its own when the windows are short) and
// returns at once with the stream's ID. done is called exactly once when
// the stream ends, on the connection's read loop or on the goroutine that
// ended it, with no lock held, so done may call Send again; it must not
// block. No *http.Response is built and the body is discarded as it
// arrives, returning its flow-control credit at once.
//
// Send does not wait: before the server's first SETTINGS frame has been
// processed (see Ping) it fails, and when the server's concurrent stream
// limit is reached it returns ErrStreamLimit. If Send returns an error,
// done is not called. Writes are coalesced: a Send called from a done
// callback, or while another Send is writing, leaves its HEADERS frame to
// the write that follows it, so that a batch of requests goes out in one
// write system call.
func (cc *ClientConn) Send(p *Prepared, done func(Result)) (uint32, error) {
	if done == nil {
		return 0, errors.New("h2client: Send needs a done callback")
	}
	// Counted before waiting for the write lock, so that the writer
	// ahead leaves its flush to this one.
	cc.pendingWrites.Add(1)
	if err := cc.lockWrite(context.Background()); err != nil {
		cc.pendingWrites.Add(-1) // the connection is gone: nothing to flush
		return 0, fmt.Errorf("%w: %v", ErrStreamRefused, err)
	}
	defer cc.unlockWrite()
	// Under the write lock, the checks and the stream's registration need
	// one hold of cc.mu: no slot is reserved across the two locks.
	cc.mu.Lock()
	err := cc.usableLocked()
	switch {
	case err != nil:
	case !cc.seenSettings:
		err = errNoSettings
	case cc.peerMaxHeaderList != 0 && p.listSize > uint64(cc.peerMaxHeaderList):
		err = fmt.Errorf("h2client: request header list of %d bytes exceeds the server's limit of %d", p.listSize, cc.peerMaxHeaderList)
	case uint64(cc.streams.len()+cc.reserved) >= uint64(cc.peerMaxStreams):
		err = ErrStreamLimit
	}
	if err != nil {
		cc.mu.Unlock()
		if cc.pendingWrites.Add(-1) == 0 {
			// Writers that counted on this one to flush left frames.
			if ferr := cc.bw.Flush(); ferr != nil {
				cc.closeWithError(fmt.Errorf("h2client: write: %w", ferr))
			}
		}
		return 0, err
	}
	id := cc.nextStreamID
	cc.nextStreamID += 2
	endStream := len(p.body) == 0
	cs := &clientStream{
		cc:            cc,
		id:            id,
		ctx:           context.Background(),
		isHead:        p.isHead,
		stopCtx:       noStop,
		cond:          cc.noopCond,
		localClosed:   endStream,
		sendWindow:    int64(cc.peerInitWindow),
		recvAvail:     int64(cc.cfg.streamWindow),
		contentLength: -1,
		done:          done,
	}
	// cs.req is nil: closeReqBody has nothing to close (and firing the
	// sync.Once here would take its slow path, a mutex, per request).
	cc.streams.put(cs)
	maxFrame := int(cc.peerMaxFrame)
	cc.mu.Unlock()

	err = cc.writeBlock(id, cc.preparedBlock(p), endStream, maxFrame)
	if err == nil {
		cc.sw.queue(cs, cc.sw.written+int64(cc.bw.Buffered()))
	}
	var rest []byte // body bytes that wait for credit
	if err == nil && !endStream {
		rest, err = cs.writeBodyNow(p.body, maxFrame)
	}
	if cc.pendingWrites.Add(-1) == 0 && err == nil {
		err = cc.bw.Flush()
	}
	if err != nil {
		// The stream is registered: the teardown this starts calls done.
		cc.closeWithError(fmt.Errorf("h2client: writing request headers: %w", err))
	} else if rest != nil {
		go cs.sendRest(rest)
	}
	return id, nil
}

// writeBodyNow writes as much of body as the stream's and the
// connection's send windows allow now, as DATA frames of at most maxFrame
// bytes, the last with END_STREAM if all of body went. It returns the
// bytes left (nil if none). The write lock must be held.
func (cs *clientStream) writeBodyNow(body []byte, maxFrame int) ([]byte, error) {
	cc := cs.cc
	cc.mu.Lock()
	n := min(int64(len(body)), cs.sendWindow, cc.sendWindow)
	if n < 0 {
		n = 0
	}
	cs.sendWindow -= n
	cc.sendWindow -= n
	cc.mu.Unlock()
	now, rest := body[:n], body[n:]
	for len(now) > 0 {
		k := min(len(now), maxFrame)
		if err := cc.fr.WriteData(cs.id, len(rest) == 0 && k == len(now), now[:k]); err != nil {
			return nil, err
		}
		now = now[k:]
	}
	if len(rest) > 0 {
		return rest, nil
	}
	cs.endLocalSend()
	return nil, nil
}

// endLocalSend records that the request's END_STREAM is written.
func (cs *clientStream) endLocalSend() {
	cc := cs.cc
	cc.mu.Lock()
	cs.localClosed = true
	if cs.remoteClosed {
		cc.forgetLocked(cs)
	}
	cc.mu.Unlock()
}

// sendRest sends the rest of a Send stream's body as the server's credit
// arrives, then ends the stream. It runs on a goroutine of its own, and
// ends when the stream or the connection does, or when the response is
// complete first (sendStopped): the rest of the body is then not sent.
func (cs *clientStream) sendRest(rest []byte) {
	cc := cs.cc
	_, err := cs.writeData(rest, true)
	if err == nil {
		cs.endLocalSend()
		return
	}
	cc.mu.Lock()
	completed, stopped := cs.completed, cs.sendStopped
	if completed {
		// The response was complete and handed to done before the body
		// could be sent (the server answered early, then reset the
		// stream, or the connection ended): nothing is left to report.
		cc.forgetLocked(cs)
	}
	cc.mu.Unlock()
	// A body stopped by a complete response is the read loop's to end
	// (endAnswered), even if it has not queued the stream for done yet.
	if !completed && !stopped {
		cs.reset(http2.ErrCodeCancel, fmt.Errorf("h2client: sending the request body: %w", err))
	}
}

func noStop() bool { return false }

// CancelStream resets stream id, opened by Send, with CANCEL; its done
// callback gets err. It does nothing if the stream has ended already.
func (cc *ClientConn) CancelStream(id uint32, err error) {
	cc.mu.Lock()
	cs := cc.streams.get(id)
	cc.mu.Unlock()
	if cs != nil && cs.done != nil {
		cs.reset(http2.ErrCodeCancel, err)
	}
}

// PeerMaxConcurrentStreams returns the server's
// SETTINGS_MAX_CONCURRENT_STREAMS (math.MaxUint32 if it set none), and
// whether the server's first SETTINGS frame has been processed yet.
func (cc *ClientConn) PeerMaxConcurrentStreams() (n uint32, known bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.peerMaxStreams, cc.seenSettings
}

// queueDoneLocked queues a Send stream that ended at for its callback.
func (cs *clientStream) queueDoneLocked(at time.Time) {
	if cs.done == nil || cs.completed {
		return
	}
	cs.completed = true
	cs.endAt = at
	cs.cc.doneQ = append(cs.cc.doneQ, cs)
	cs.cc.doneN.Add(1)
}

// hasDone reports whether callbacks are queued.
func (cc *ClientConn) hasDone() bool { return cc.doneN.Load() > 0 }

// runDone calls the queued callbacks without the lock, taking the whole
// queue at once.
func (cc *ClientConn) runDone() {
	for {
		cc.mu.Lock()
		q := cc.doneQ
		if len(q) == 0 {
			cc.mu.Unlock()
			return
		}
		cc.doneQ = cc.doneSpare[:0]
		cc.doneSpare = nil
		cc.doneN.Store(0)
		cc.mu.Unlock()
		// A queued stream is no longer changed by anybody: it is
		// complete and out of cc.streams, or aborted.
		for _, cs := range q {
			cs.done(Result{Status: cs.status, SentAt: cc.sw.sentTime(cs), HeaderAt: cs.headerAt, EndAt: cs.endAt, HeaderBytes: cs.headerBytes, BodyBytes: cs.gotBytes, Err: cs.err})
		}
		clear(q)
		cc.mu.Lock()
		if cc.doneSpare == nil {
			cc.doneSpare = q[:0]
		}
		cc.mu.Unlock()
	}
}

// releaseFlush drops a pendingWrites count and, if it was the last,
// flushes what the writers that skipped their flush left in bw.
func (cc *ClientConn) releaseFlush() {
	if cc.pendingWrites.Add(-1) != 0 {
		return
	}
	if cc.lockWrite(context.Background()) != nil {
		return
	}
	err := cc.bw.Flush()
	cc.unlockWrite()
	if err != nil {
		cc.closeWithError(fmt.Errorf("h2client: write: %w", err))
	}
}
