package h2client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/molt-http/molt/internal/h2meta"
	"golang.org/x/net/http2"
)

// readLoop reads and handles frames until the connection fails, then tears
// the connection down.
func (cc *ClientConn) readLoop() {
	cc.teardown(cc.readFrames())
}

func (cc *ClientConn) readFrames() error {
	holding := false // this loop holds a pendingWrites count
	defer func() {
		if holding {
			cc.pendingWrites.Add(-1)
		}
	}()
	for first := true; ; first = false {
		buffered := cc.frameBuffered()
		if holding && !buffered {
			// About to wait for the network: send what callbacks wrote.
			holding = false
			cc.releaseFlush()
		}
		f, fromMeta, err := cc.readFrame() // fromMeta: err comes from cc.meta, not the framer
		if !buffered {
			// Frames handled until the next network read are stamped
			// with this time, as an event loop does: one clock read
			// per batch rather than per frame.
			cc.readAt = time.Now()
		}
		if err == nil {
			if _, ok := f.(*http2.SettingsFrame); first && !ok {
				return cc.fatal(http2.ErrCodeProtocol, fmt.Errorf("first frame is %v, not SETTINGS", f.Header().Type))
			}
			f, err = cc.meta.Assemble(f) // a frame readFrame assembled passes through
			fromMeta = fromMeta || err != nil
			if err == nil && f == nil {
				continue // a header block awaiting CONTINUATION
			}
		}
		if err != nil {
			var se http2.StreamError
			var ce http2.ConnectionError
			switch {
			case errors.As(err, &se):
				if fromMeta {
					cc.meta.Release() // the block ended in its error
				}
				cc.resetStreamID(se.StreamID, se)
				continue
			case errors.As(err, &ce):
				detail := cc.fr.ErrorDetail()
				if fromMeta {
					detail = cc.meta.ErrorDetail()
				}
				if detail == nil {
					detail = err
				}
				return cc.fatal(http2.ErrCode(ce), detail)
			case errors.Is(err, http2.ErrFrameTooLarge):
				return cc.fatal(http2.ErrCodeFrameSize, err)
			}
			return err
		}
		if err := cc.processFrame(f); err != nil {
			return err
		}
		if _, meta := f.(*http2.MetaHeadersFrame); meta {
			cc.meta.Release() // a block of many fields gives its slice back
		}
		if cc.hasDone() {
			if !holding {
				holding = true
				cc.pendingWrites.Add(1)
			}
			cc.runDone()
		}
	}
}

// readFrame is cc.fr.ReadFrame, except for two frames buffered whole,
// which it reads itself into frames the read loop reuses, where the
// Framer would allocate one for each: a valid WINDOW_UPDATE (one per
// WebSocket message of 64 KiB, the server's credit for it), parsed into
// cc.wu; and a HEADERS frame that is a whole header block without padding
// or priority (every response), whose fragment h2meta decodes where it
// lies in the read buffer, into cc.hf: then it returns the
// MetaHeadersFrame, and fromMeta says whether an error is h2meta's. The
// Framer still reads the frame header, checking its size and that no
// CONTINUATION was due; any other frame, or a WINDOW_UPDATE with the
// wrong length or a zero increment, it reads and judges as before.
func (cc *ClientConn) readFrame() (f http2.Frame, fromMeta bool, err error) {
	fh, err := cc.fr.ReadFrameHeader()
	if err != nil {
		return nil, false, err
	}
	switch fh.Type {
	case http2.FrameWindowUpdate:
		p, _ := cc.br.Peek(min(4, cc.br.Buffered()))
		if inc, ok := h2meta.WindowUpdate(fh, p); ok {
			cc.br.Discard(4)
			cc.wu = http2.WindowUpdateFrame{FrameHeader: fh, Increment: inc}
			return &cc.wu, false, nil
		}
	case http2.FrameHeaders:
		n := int(fh.Length)
		if fh.StreamID == 0 || fh.Flags&(http2.FlagHeadersPadded|http2.FlagHeadersPriority) != 0 ||
			!fh.Flags.Has(http2.FlagHeadersEndHeaders) || cc.br.Buffered() < n {
			break
		}
		frag, _ := cc.br.Peek(n)
		cc.hf = http2.HeadersFrame{FrameHeader: fh}
		f, err = cc.meta.AssembleHeaders(&cc.hf, frag) // keeps no part of frag
		cc.br.Discard(n)
		return f, err != nil, err
	}
	f, err = cc.fr.ReadFrameForHeader(fh)
	return f, false, err
}

// frameBuffered reports whether a whole frame is buffered, so that reading
// it will not wait for the network.
func (cc *ClientConn) frameBuffered() bool {
	n := cc.br.Buffered()
	if n < 9 {
		return false
	}
	h, _ := cc.br.Peek(9)
	return n >= 9+(int(h[0])<<16|int(h[1])<<8|int(h[2]))
}

// processFrame handles one frame. A non-nil error ends the connection.
func (cc *ClientConn) processFrame(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return cc.onSettings(f)
	case *http2.PingFrame:
		if f.IsAck() {
			cc.onPingAck(f.Data)
			return nil
		}
		cc.write(context.Background(), nil, func(fr *http2.Framer) error {
			return fr.WritePing(true, f.Data)
		})
	case *http2.WindowUpdateFrame:
		return cc.onWindowUpdate(f)
	case *http2.MetaHeadersFrame:
		return cc.onHeaders(f)
	case *http2.DataFrame:
		return cc.onData(f)
	case *http2.RSTStreamFrame:
		return cc.onRSTStream(f)
	case *http2.GoAwayFrame:
		cc.onGoAway(f)
	case *http2.PushPromiseFrame:
		return cc.fatal(http2.ErrCodeProtocol, errors.New("server push is not supported"))
	}
	// PRIORITY, PRIORITY_UPDATE and unknown frame types are ignored.
	return nil
}

// streamLocked returns the open stream id, nil if id names a stream that was
// open once, or a connection error if id names an idle stream.
func (cc *ClientConn) streamLocked(id uint32) (*clientStream, error) {
	if cs := cc.streams.get(id); cs != nil {
		return cs, nil
	}
	if id%2 == 0 || id >= cc.nextStreamID {
		return nil, fmt.Errorf("frame for idle stream %d", id)
	}
	return nil, nil
}

// resetStreamID resets stream id, if open, after a stream error.
func (cc *ClientConn) resetStreamID(id uint32, se http2.StreamError) {
	cc.mu.Lock()
	cs := cc.streams.get(id)
	cc.mu.Unlock()
	if cs != nil {
		cs.reset(se.Code, se)
	}
}

func (cc *ClientConn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	var tableSize *uint32
	cc.mu.Lock()
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingMaxFrameSize:
			cc.peerMaxFrame = s.Val
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - int64(cc.peerInitWindow)
			for _, cs := range cc.streams.appendAll(nil) {
				cs.sendWindow += delta
				if cs.sendWindow > maxWindow {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
			cc.peerInitWindow = s.Val
		case http2.SettingMaxConcurrentStreams:
			cc.peerMaxStreams = s.Val
		case http2.SettingMaxHeaderListSize:
			cc.peerMaxHeaderList = s.Val
		case http2.SettingHeaderTableSize:
			tableSize = &s.Val
		case http2.SettingEnableConnectProtocol:
			// RFC 8441 §3: once 1, a server may not take it back.
			if cc.peerConnectProtocol && s.Val == 0 {
				return http2.ConnectionError(http2.ErrCodeProtocol)
			}
			cc.peerConnectProtocol = s.Val == 1
		}
		return nil
	})
	cc.seenSettings = true
	cc.cond.Broadcast()
	cc.mu.Unlock()
	if err != nil {
		var ce http2.ConnectionError
		if !errors.As(err, &ce) {
			ce = http2.ConnectionError(http2.ErrCodeProtocol)
		}
		return cc.fatal(http2.ErrCode(ce), fmt.Errorf("bad SETTINGS: %w", err))
	}
	cc.write(context.Background(), nil, func(fr *http2.Framer) error {
		if tableSize != nil {
			cc.encoderUsed()
			cc.henc.SetMaxDynamicTableSize(*tableSize)
		}
		return fr.WriteSettingsAck()
	})
	return nil
}

func (cc *ClientConn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	incr := int64(f.Increment)
	cc.mu.Lock()
	if f.StreamID == 0 {
		ok := cc.sendWindow+incr <= maxWindow
		if ok {
			cc.sendWindow += incr
			cc.cond.Broadcast()
		}
		cc.mu.Unlock()
		if !ok {
			return cc.fatal(http2.ErrCodeFlowControl, errors.New("connection send window overflow"))
		}
		return nil
	}
	cs, err := cc.streamLocked(f.StreamID)
	overflow := cs != nil && cs.sendWindow+incr > maxWindow
	if cs != nil && !overflow {
		cs.sendWindow += incr
		cc.cond.Broadcast()
	}
	cc.mu.Unlock()
	switch {
	case err != nil:
		return cc.fatal(http2.ErrCodeProtocol, err)
	case overflow:
		cs.reset(http2.ErrCodeFlowControl, errors.New("h2client: stream send window overflow"))
	}
	return nil
}

func (cc *ClientConn) onHeaders(f *http2.MetaHeadersFrame) error {
	cc.mu.Lock()
	cs, err := cc.streamLocked(f.StreamID)
	if err != nil {
		cc.mu.Unlock()
		return cc.fatal(http2.ErrCodeProtocol, err)
	}
	if cs == nil {
		cc.mu.Unlock()
		return nil
	}
	cs.headerBytes += int64(f.HeadersFrame.Header().Length)
	code, err := cs.headersLocked(f)
	early := cs.takeAnsweredLocked()
	cc.mu.Unlock()
	if early {
		cs.endAnswered()
	}
	if err != nil {
		cs.reset(http2.ErrCodeProtocol, err)
		return nil
	}
	if code == 0 {
		return nil
	}
	// An informational response.
	h := make(textproto.MIMEHeader)
	for _, hf := range f.RegularFields() {
		k := textproto.CanonicalMIMEHeaderKey(hf.Name)
		h[k] = append(h[k], hf.Value)
	}
	if err := got1xx(cs.ctx, code, h); err != nil {
		cs.reset(http2.ErrCodeCancel, err)
	}
	return nil
}

// got1xx reports an informational response to the httptrace.ClientTrace of
// ctx: to Got100Continue for a 100, and to Got1xxResponse.
func got1xx(ctx context.Context, code int, h textproto.MIMEHeader) error {
	trace := httptrace.ContextClientTrace(ctx)
	if trace == nil {
		return nil
	}
	if code == http.StatusContinue && trace.Got100Continue != nil {
		trace.Got100Continue()
	}
	if trace.Got1xxResponse != nil {
		return trace.Got1xxResponse(code, h)
	}
	return nil
}

// headersLocked applies a header block received on cs. For a 1xx response it
// returns the status code, which the caller reports without holding the lock.
func (cs *clientStream) headersLocked(f *http2.MetaHeadersFrame) (informational int, err error) {
	switch {
	case f.Truncated:
		return 0, errors.New("h2client: response header list too large")
	case cs.remoteClosed:
		return 0, errors.New("h2client: HEADERS after END_STREAM")
	case cs.gotFinal(): // trailers
		if !f.StreamEnded() {
			return 0, errors.New("h2client: trailers without END_STREAM")
		}
		if len(f.PseudoFields()) > 0 {
			return 0, errors.New("h2client: pseudo-header in trailers")
		}
		cs.trailer = make(http.Header)
		for _, hf := range f.RegularFields() {
			k := http.CanonicalHeaderKey(hf.Name)
			cs.trailer[k] = append(cs.trailer[k], hf.Value)
		}
		cs.endRemoteLocked()
		return 0, nil
	}
	status := f.PseudoValue("status")
	code, err := strconv.Atoi(status)
	if err != nil || len(status) != 3 || code < 100 {
		return 0, fmt.Errorf("h2client: malformed :status %q", status)
	}
	if code < 200 {
		if code == http.StatusSwitchingProtocols || f.StreamEnded() {
			return 0, fmt.Errorf("h2client: invalid informational response %d", code)
		}
		return code, nil
	}
	if cs.done != nil {
		cs.status = code
		cs.headerAt = cs.cc.readAt
	} else {
		cs.res = cs.newResponse(code, f)
	}
	if f.StreamEnded() {
		cs.endRemoteLocked()
	}
	cs.cond.Broadcast()
	return 0, nil
}

// newResponse builds the final response from its header block.
func (cs *clientStream) newResponse(code int, f *http2.MetaHeadersFrame) *http.Response {
	regular := f.RegularFields()
	header := make(http.Header, len(regular))
	for _, hf := range regular {
		k := http.CanonicalHeaderKey(hf.Name)
		header[k] = append(header[k], hf.Value)
	}
	res := &http.Response{
		Status:        strings.TrimSpace(strconv.Itoa(code) + " " + http.StatusText(code)),
		StatusCode:    code,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        header,
		ContentLength: -1,
		Request:       cs.req,
	}
	if cl := header["Content-Length"]; len(cl) == 1 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			res.ContentLength = n
		}
	} else if len(cl) == 0 && f.StreamEnded() && !cs.isHead {
		res.ContentLength = 0
	}
	for _, v := range header["Trailer"] {
		for key := range strings.SplitSeq(v, ",") {
			if key = textproto.TrimString(key); key != "" {
				if res.Trailer == nil {
					res.Trailer = make(http.Header)
				}
				res.Trailer[http.CanonicalHeaderKey(key)] = nil
			}
		}
	}
	if cs.isHead || f.StreamEnded() {
		res.Body = http.NoBody
	} else {
		res.Body = clientBody{cs}
		cs.contentLength = res.ContentLength
	}
	return res
}

func (cc *ClientConn) onData(f *http2.DataFrame) error {
	n := int64(f.Length) // flow control counts padding too
	data := f.Data()
	cc.mu.Lock()
	if n > cc.recvAvail {
		cc.mu.Unlock()
		return cc.fatal(http2.ErrCodeFlowControl, errors.New("connection receive window exceeded"))
	}
	cc.recvAvail -= n
	cs, err := cc.streamLocked(f.StreamID)
	if err != nil {
		cc.mu.Unlock()
		return cc.fatal(http2.ErrCodeProtocol, err)
	}
	if cs == nil { // a stream we reset: credit the connection right away
		connIncr := cc.consumedLocked(n)
		cc.mu.Unlock()
		cc.sendWindowUpdates(0, 0, connIncr)
		return nil
	}
	code, err := cs.dataLocked(n, data, f.StreamEnded())
	var streamIncr, connIncr uint32
	if err == nil {
		// Padding is consumed as soon as it arrives, and so is all of
		// the data of a Send stream.
		consumed := n - int64(len(data))
		if cs.done != nil {
			consumed = n
		}
		streamIncr, connIncr = cs.consumedLocked(consumed)
	} else {
		connIncr = cc.consumedLocked(n)
	}
	early := cs.takeAnsweredLocked()
	cc.mu.Unlock()
	if err != nil {
		cs.reset(code, err)
	}
	cc.sendWindowUpdates(cs.id, streamIncr, connIncr)
	if early {
		cs.endAnswered()
	}
	return nil
}

// dataLocked buffers a DATA frame of flow-controlled length n for the body
// reader. On a stream error it returns the code to reset the stream with.
func (cs *clientStream) dataLocked(n int64, data []byte, endStream bool) (http2.ErrCode, error) {
	switch {
	case n > cs.recvAvail:
		return http2.ErrCodeFlowControl, errors.New("h2client: stream receive window exceeded")
	case cs.remoteClosed:
		return http2.ErrCodeStreamClosed, errors.New("h2client: DATA after END_STREAM")
	case !cs.gotFinal():
		return http2.ErrCodeProtocol, errors.New("h2client: DATA before response HEADERS")
	case cs.isHead && len(data) > 0:
		return http2.ErrCodeProtocol, errors.New("h2client: DATA in response to HEAD")
	}
	cs.recvAvail -= n
	cs.gotBytes += int64(len(data))
	if cs.contentLength >= 0 && cs.gotBytes > cs.contentLength {
		return http2.ErrCodeProtocol, fmt.Errorf("h2client: response body longer than content-length %d", cs.contentLength)
	}
	if len(data) > 0 && cs.done == nil {
		// One buffer for the stream, reused once drained (flow control
		// bounds it by the stream window), so that a steady stream of
		// DATA costs no allocation per frame.
		if cs.off > 0 && len(cs.buf)+len(data) > cap(cs.buf) {
			// Move the unread bytes to the front rather than grow: a
			// reader that never quite drains the buffer keeps it within
			// twice the stream window.
			k := copy(cs.buf, cs.buf[cs.off:])
			cs.buf, cs.off = cs.buf[:k], 0
		}
		cs.buf = append(cs.buf, data...)
		cs.cond.Broadcast()
	}
	if endStream {
		cs.endRemoteLocked()
	}
	return 0, nil
}

// endRemoteLocked handles END_STREAM from the server.
func (cs *clientStream) endRemoteLocked() {
	cs.remoteClosed = true
	if cs.readErr == nil {
		cs.readErr = io.EOF
		if cs.contentLength >= 0 && cs.gotBytes != cs.contentLength {
			cs.readErr = fmt.Errorf("h2client: response body has %d bytes, content-length %d", cs.gotBytes, cs.contentLength)
		}
	}
	cs.cond.Broadcast()
	if cs.localClosed {
		cs.cc.forgetLocked(cs)
	} else if cs.done != nil {
		// A Send stream whose body still waits for credit: the
		// response is complete, so the rest of the body is not sent
		// (RFC 9113 section 8.1; x/net's Transport does the same) and
		// the stream is reset with NO_ERROR. It leaves cc.streams now,
		// and goes to its callback once the RST_STREAM is written
		// (endAnswered), so that a Send made from the callback finds
		// the stream's slot free, here and on the server.
		cs.sendStopped = true
		cs.answered = true
		cs.cc.cond.Broadcast()
		cs.cc.forgetLocked(cs)
		return
	}
	cs.queueDoneLocked(cs.cc.readAt) // on the read loop
}

// takeAnsweredLocked reports, once, whether endRemoteLocked left cs to
// endAnswered.
func (cs *clientStream) takeAnsweredLocked() bool {
	a := cs.answered
	cs.answered = false
	return a
}

// endAnswered ends a Send stream whose response was complete before its
// body was sent (endRemoteLocked): it writes RST_STREAM(NO_ERROR), unless
// the body's END_STREAM went meanwhile, then queues the stream for its
// callback. It runs on the read loop.
func (cs *clientStream) endAnswered() {
	cc := cs.cc
	cc.write(context.Background(), nil, func(fr *http2.Framer) error {
		cc.mu.Lock()
		sent := cs.localClosed
		cc.mu.Unlock()
		if sent {
			return nil
		}
		return fr.WriteRSTStream(cs.id, http2.ErrCodeNo)
	})
	cc.mu.Lock()
	cs.queueDoneLocked(cc.readAt)
	cc.mu.Unlock()
}

func (cc *ClientConn) onRSTStream(f *http2.RSTStreamFrame) error {
	cc.mu.Lock()
	cs, err := cc.streamLocked(f.StreamID)
	cc.mu.Unlock()
	if err != nil {
		return cc.fatal(http2.ErrCodeProtocol, err)
	}
	if cs == nil {
		return nil
	}
	err = http2.StreamError{StreamID: f.StreamID, Code: f.ErrCode, Cause: errors.New("reset by server")}
	if f.ErrCode == http2.ErrCodeRefusedStream {
		err = fmt.Errorf("%w: %w", ErrStreamRefused, err)
	}
	if cs.tunnel {
		cs.failKeepingData(err)
	} else {
		cs.fail(err)
	}
	return nil
}

func (cc *ClientConn) onGoAway(f *http2.GoAwayFrame) {
	cc.mu.Lock()
	cc.goAway = true
	cc.goAwayID = f.LastStreamID
	cc.goAwayCode = f.ErrCode
	var refused []*clientStream
	for _, cs := range cc.streams.appendAll(nil) {
		if cs.id > f.LastStreamID {
			refused = append(refused, cs)
		}
	}
	cc.cond.Broadcast()
	cc.mu.Unlock()
	for _, cs := range refused {
		cs.fail(fmt.Errorf("%w: stream %d is above GOAWAY last-stream-id %d (%v)", ErrStreamRefused, cs.id, f.LastStreamID, f.ErrCode))
	}
}
