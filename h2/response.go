package h2

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// bufferSize is how much of a response body is held before DATA goes
// out; a handler that writes less and returns gets a Content-Length.
const bufferSize = 8 << 10

var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, bufferSize); return &b }}

// responseWriter is the http.ResponseWriter of a stream. Like net/http's,
// it is for the handler's goroutine; only the request body's 100 Continue
// may come from another.
type responseWriter struct {
	st     *stream
	sc     *serverConn
	req    *http.Request
	header http.Header     // the handler's
	snap   *headerSnapshot // header as it was at WriteHeader

	hmu          sync.Mutex // orders 100 Continue before the final header
	finalStarted bool       // guarded by hmu

	status      int
	wroteHeader bool
	sentHeader  bool
	isHead      bool
	bodyAllowed bool
	declared    int64 // Content-Length set by the handler, -1 if none
	written     int64
	trailerKeys []string
	buf         *[]byte
	err         error                     // sticky write error
	done        bool                      // the handler has returned
	closeNotify atomic.Pointer[chan bool] // CloseNotify's, made at its first call
}

var (
	_ http.ResponseWriter = (*responseWriter)(nil)
	_ http.Flusher        = (*responseWriter)(nil)
	_ io.StringWriter     = (*responseWriter)(nil)
	_ http.CloseNotifier  = (*responseWriter)(nil)
)

// newResponseWriter sets up st's responseWriter, which lives inside the
// stream: one allocation less per request.
func newResponseWriter(st *stream, req *http.Request) *responseWriter {
	st.rw = responseWriter{
		st:       st,
		sc:       st.sc,
		req:      req,
		header:   make(http.Header),
		isHead:   req.Method == http.MethodHead,
		declared: -1,
	}
	return &st.rw
}

// Header returns the header map of the response.
func (rw *responseWriter) Header() http.Header { return rw.header }

// WriteHeader sends an informational (1xx) header at once, or records
// the final status; the final header goes out with the first body bytes,
// on Flush, or when the handler returns.
func (rw *responseWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic("h2: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if rw.wroteHeader || rw.done {
		rw.sc.log.debug("superfluous WriteHeader call", "stream", rw.st.id, "code", code)
		return
	}
	if code == http.StatusSwitchingProtocols {
		// HTTP/2 has no 101 (RFC 9113 section 8.6): a handler written
		// for HTTP/1.1's Upgrade took a request it cannot serve here.
		rw.sc.cfg.log.Error("h2: handler answered 101 Switching Protocols, which HTTP/2 does not have; sent 500 instead",
			"remote", rw.sc.remoteAddr, "stream", rw.st.id)
		code = http.StatusInternalServerError
	}
	if code < 200 {
		rw.hmu.Lock()
		snap := snapshot(rw.header)
		rw.sc.writeHeaders(rw.st, code, snap, nil, false)
		snap.release()
		rw.hmu.Unlock()
		if code == http.StatusContinue {
			rw.sc.mu.Lock()
			rw.st.needContinue = false
			rw.sc.mu.Unlock()
		}
		return
	}
	rw.hmu.Lock()
	rw.finalStarted = true
	rw.hmu.Unlock()
	rw.wroteHeader = true
	rw.status = code
	rw.snap = snapshot(rw.header)
	for _, v := range rw.snap.values("Trailer") {
		for _, k := range strings.Split(v, ",") {
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			if k != "" && httpguts.ValidTrailerHeader(k) {
				rw.trailerKeys = append(rw.trailerKeys, k)
			}
		}
	}
	if vv := rw.snap.values("Content-Length"); len(vv) > 0 {
		if n, err := strconv.ParseUint(vv[0], 10, 63); err == nil {
			rw.declared = int64(n)
		} else {
			rw.sc.log.debug("handler set an invalid Content-Length; dropped", "stream", rw.st.id, "value", vv[0])
			rw.snap.del("Content-Length")
		}
	}
	rw.bodyAllowed = bodyAllowedForStatus(code)
}

// writeContinue sends 100 Continue for a body read before the final
// header is chosen.
func (rw *responseWriter) writeContinue() {
	rw.hmu.Lock()
	defer rw.hmu.Unlock()
	if !rw.finalStarted {
		rw.sc.writeHeaders(rw.st, http.StatusContinue, nil, nil, false)
	}
}

// Write writes body bytes, sending the header first if needed.
func (rw *responseWriter) Write(p []byte) (int, error) { return rw.write(p, "") }

// WriteString is Write for a string, without a copy into a []byte.
func (rw *responseWriter) WriteString(s string) (int, error) { return rw.write(nil, s) }

func (rw *responseWriter) write(p []byte, s string) (int, error) {
	if rw.done {
		return 0, errStreamClosed
	}
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if !rw.bodyAllowed {
		return 0, http.ErrBodyNotAllowed
	}
	n := len(p) + len(s)
	if rw.declared >= 0 && rw.written+int64(n) > rw.declared {
		return 0, http.ErrContentLength
	}
	if rw.err != nil {
		return 0, rw.err
	}
	rw.written += int64(n)
	if rw.isHead || n == 0 {
		return n, nil
	}
	if rw.buf == nil {
		rw.buf = bufferPool.Get().(*[]byte)
	}
	b := *rw.buf
	if len(b)+n <= cap(b) {
		b = append(b, p...)
		*rw.buf = append(b, s...)
		return n, nil
	}
	if err := rw.flushBuffer(); err != nil {
		return 0, err
	}
	if n < cap(b) {
		b = append((*rw.buf)[:0], p...)
		*rw.buf = append(b, s...)
		return n, nil
	}
	if p == nil {
		p = []byte(s)
	}
	if err := rw.sendHeader(p, false, false); err != nil {
		return 0, err
	}
	if err := rw.sendData(p, false); err != nil {
		return 0, err
	}
	return n, nil
}

// flushBuffer sends the header and whatever body is buffered.
func (rw *responseWriter) flushBuffer() error {
	var b []byte
	if rw.buf != nil {
		b = *rw.buf
	}
	if err := rw.sendHeader(b, false, false); err != nil {
		return err
	}
	if len(b) > 0 {
		*rw.buf = b[:0]
		return rw.sendData(b, false)
	}
	return nil
}

// sendHeader sends the final header once; first is the start of the
// body, for sniffing, and final says the handler has returned, so the
// whole body is known.
func (rw *responseWriter) sendHeader(first []byte, final, endStream bool) error {
	if rw.sentHeader {
		return rw.err
	}
	rw.sentHeader = true
	var extra [3]hpack.HeaderField
	return rw.fail(rw.sc.writeHeaders(rw.st, rw.status, rw.snap, rw.headerFields(extra[:0], first, final), endStream))
}

// headerFields appends to fields the header fields the server adds to the
// handler's: Date, a sniffed Content-Type and, once the whole body is
// known (final), Content-Length.
func (rw *responseWriter) headerFields(fields []hpack.HeaderField, first []byte, final bool) []hpack.HeaderField {
	h := rw.snap
	if _, ok := h.get("Date"); !ok {
		fields = append(fields, hpack.HeaderField{Name: "date", Value: httpDate()})
	}
	if _, ok := h.get("Content-Type"); !ok && rw.bodyAllowed && len(first) > 0 {
		fields = append(fields, hpack.HeaderField{Name: "content-type", Value: http.DetectContentType(first)})
	}
	if final && rw.declared < 0 && rw.bodyAllowed && len(rw.trailers()) == 0 &&
		(rw.written > 0 || !rw.isHead) && len(h.values("Transfer-Encoding")) == 0 {
		fields = append(fields, hpack.HeaderField{Name: "content-length", Value: strconv.FormatInt(rw.written, 10)})
	}
	return fields
}

// sendWhole sends the final header and body, the whole response, in one
// write (and so, usually, one system call), if the send windows have
// room for the body now, and reports whether it did.
func (rw *responseWriter) sendWhole(body []byte) (bool, error) {
	st, sc := rw.st, rw.sc
	if len(body) > framerMaxFrame || !st.takeSend(len(body)) {
		return false, nil
	}
	rw.sentHeader = true
	var extra [3]hpack.HeaderField
	fields := rw.headerFields(extra[:0], body, true)
	sent := false
	err := sc.write(st, func() error {
		if err := sc.encodeHeaders(st, rw.status, rw.snap, fields, false); err != nil {
			return err
		}
		sent = true
		if err := sc.fr.WriteData(st.id, true, body); err != nil {
			return err
		}
		sc.mu.Lock()
		st.endLocalLocked()
		sc.mu.Unlock()
		return nil
	})
	if !sent {
		sc.giveBackSend(len(body))
	}
	return true, rw.fail(err)
}

// sendData sends p as DATA frames within both send windows, a run of
// frames at a time (awaitSend, writeBuffer.writeData).
func (rw *responseWriter) sendData(p []byte, end bool) error {
	st, sc := rw.st, rw.sc
	for {
		n, err := st.awaitSend(len(p))
		if err != nil {
			return rw.fail(err)
		}
		chunk := p[:n]
		p = p[n:]
		last := end && len(p) == 0
		sent := false
		err = sc.write(st, func() error {
			sent = true
			var err error
			if len(chunk) >= directData && sc.vectored {
				err = sc.bw.writeData(st.id, chunk, int(sc.peerMaxFrame.Load()), last)
			} else {
				err = sc.fr.WriteData(st.id, last, chunk)
			}
			if err != nil {
				return err
			}
			if last {
				sc.mu.Lock()
				st.endLocalLocked()
				sc.mu.Unlock()
			}
			return nil
		})
		if !sent {
			sc.giveBackSend(n)
		}
		if err != nil {
			return rw.fail(err)
		}
		if len(p) == 0 {
			return nil
		}
	}
}

func (rw *responseWriter) fail(err error) error {
	if err != nil && rw.err == nil {
		rw.err = err
	}
	return err
}

// awaitSend takes up to want bytes of send window, a run's worth (dataRun,
// or one frame if the peer's MAX_FRAME_SIZE is larger; one frame on a
// connection that is not vectored), blocking until some is available.
func (st *stream) awaitSend(want int) (int, error) {
	if want == 0 {
		return 0, nil
	}
	sc := st.sc
	sc.mu.Lock()
	defer func() {
		if st.leads.Load() {
			sc.doneStepping(st) // this Write read, or one of its Reads did
		}
	}()
	defer sc.mu.Unlock()
	for {
		if st.writeErr != nil {
			return 0, st.writeErr
		}
		run := int64(framerMaxFrame) // one frame through the Framer
		if sc.vectored {
			// Runs around the Framer (writeData), in frames of the
			// client's size.
			run = max(int64(sc.peerMaxFrame.Load()), dataRun)
		}
		n := min(int64(want), st.send, sc.connSend, run)
		if n > 0 {
			st.send -= n
			sc.connSend -= n
			return int(n), nil
		}
		// The WINDOW_UPDATE must be read (lead.go): by this Write if
		// its stream holds the reading, or by the read loop.
		if sc.leader == st && !sc.leaderStepping && len(sc.streams) == 1 && !sc.closing {
			sc.leadLocked(st)
			continue
		}
		sc.handBackIdleLocked()
		sc.sendWaiters++
		sc.sendCond.Wait()
		sc.sendWaiters--
	}
}

// giveBackSend returns to the connection's send window n bytes taken for
// DATA that was not sent (the stream was reset first), so that the other
// streams can use them; the stream's own window no longer matters.
func (sc *serverConn) giveBackSend(n int) {
	if n == 0 {
		return
	}
	sc.mu.Lock()
	sc.connSend += int64(n)
	sc.sendCond.Broadcast()
	sc.mu.Unlock()
}

// takeSend takes n bytes of send window if both windows have them now.
func (st *stream) takeSend(n int) bool {
	sc := st.sc
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if st.writeErr != nil || st.send < int64(n) || sc.connSend < int64(n) {
		return false
	}
	st.send -= int64(n)
	sc.connSend -= int64(n)
	return true
}

// trailers returns the trailer fields the handler has set: declared ones
// and those named with http.TrailerPrefix.
func (rw *responseWriter) trailers() []hpack.HeaderField {
	var fields []hpack.HeaderField
	for _, k := range rw.trailerKeys {
		name, ok := lowerHeader(k)
		if !ok {
			continue
		}
		for _, v := range rw.header[k] {
			fields = append(fields, hpack.HeaderField{Name: name, Value: v})
		}
	}
	for k, vv := range rw.header {
		if !strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		name, ok := lowerHeader(strings.TrimPrefix(k, http.TrailerPrefix))
		if !ok || isConnectionSpecific(name) {
			continue
		}
		for _, v := range vv {
			fields = append(fields, hpack.HeaderField{Name: name, Value: v})
		}
	}
	return fields
}

// finish completes the response after the handler has returned.
func (rw *responseWriter) finish() {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	defer rw.release()
	rw.done = true
	if rw.err != nil {
		return
	}
	if rw.declared >= 0 && rw.written < rw.declared && !rw.isHead {
		rw.sc.log.debug("handler wrote less than its Content-Length", "stream", rw.st.id, "declared", rw.declared, "written", rw.written)
		rw.flushBuffer()
		rw.sc.resetStream(rw.st, http2.ErrCodeInternal)
		return
	}
	var b []byte
	if rw.buf != nil {
		b = *rw.buf
	}
	trailers := rw.trailers()
	hasBody := len(b) > 0
	if !rw.sentHeader && hasBody && len(trailers) == 0 {
		if sent, _ := rw.sendWhole(b); sent {
			return
		}
	}
	if !rw.sentHeader {
		if rw.sendHeader(b, true, !hasBody && len(trailers) == 0) != nil {
			return
		}
		if !hasBody && len(trailers) == 0 {
			return
		}
	}
	if hasBody || len(trailers) == 0 {
		// With no body left, this is an empty DATA frame carrying END_STREAM.
		if rw.sendData(b, len(trailers) == 0) != nil {
			return
		}
	}
	if len(trailers) > 0 {
		rw.sc.writeHeaders(rw.st, 0, nil, trailers, true)
	}
}

func (rw *responseWriter) release() {
	if rw.buf != nil {
		*rw.buf = (*rw.buf)[:0]
		bufferPool.Put(rw.buf)
		rw.buf = nil
	}
	if rw.snap != nil {
		rw.snap.release()
		rw.snap = nil
	}
}

// headerSnapshot is a copy of a header as it was at WriteHeader, in
// storage that is reused (snapshotPool holds them): its fields sorted by
// key, each with a copy of its values, as http.Header.Clone copies them
// (a nil value stays nil: it suppresses Date). A slice of a few fields is
// cheaper to fill and to look up than a map, and in sorted order the same
// header gives the same header block, which encodeHeaders can then reuse.
type headerSnapshot struct {
	fields []snapField
	vals   []string // every value of fields
}

// snapField is one field of a headerSnapshot.
type snapField struct {
	key string
	vv  []string
}

var snapshotPool = sync.Pool{New: func() any { return new(headerSnapshot) }}

// snapshot copies h into a headerSnapshot from the pool.
func snapshot(h http.Header) *headerSnapshot {
	s := snapshotPool.Get().(*headerSnapshot)
	n := 0
	for _, vv := range h {
		n += len(vv)
	}
	if cap(s.vals) < n {
		s.vals = make([]string, 0, n)
	}
	vals := s.vals[:0]
	fields := s.fields[:0]
	for k, vv := range h {
		f := snapField{key: k}
		if vv != nil {
			start := len(vals)
			vals = append(vals, vv...) // within capacity: earlier values stay put
			f.vv = vals[start:len(vals):len(vals)]
		}
		// Insertion in key order: a response header has a few fields.
		i := len(fields)
		fields = append(fields, f)
		for ; i > 0 && fields[i-1].key > k; i-- {
			fields[i] = fields[i-1]
		}
		fields[i] = f
	}
	s.vals, s.fields = vals, fields
	return s
}

// get returns the values of key k, and whether k is in the snapshot (a
// nil value counts).
func (s *headerSnapshot) get(k string) ([]string, bool) {
	if s == nil {
		return nil, false
	}
	for _, f := range s.fields {
		if f.key == k {
			return f.vv, true
		}
	}
	return nil, false
}

// values returns the values of key k.
func (s *headerSnapshot) values(k string) []string {
	vv, _ := s.get(k)
	return vv
}

// del removes key k.
func (s *headerSnapshot) del(k string) {
	for i, f := range s.fields {
		if f.key == k {
			s.fields = append(s.fields[:i], s.fields[i+1:]...)
			s.fields[len(s.fields):cap(s.fields)][0] = snapField{}
			return
		}
	}
}

func (s *headerSnapshot) release() {
	clear(s.fields[:cap(s.fields)]) // hold no strings of the response
	s.fields = s.fields[:0]
	clear(s.vals) // hold no strings of the response
	s.vals = s.vals[:0]
	if cap(s.vals) > 256 {
		s.vals = nil // a huge header is not kept for every later one
	}
	if cap(s.fields) > 64 {
		s.fields = nil
	}
	snapshotPool.Put(s)
}

// Flush sends the header and buffered body at once.
func (rw *responseWriter) Flush() { rw.FlushError() }

// FlushError is Flush that reports an error; http.ResponseController
// uses it.
func (rw *responseWriter) FlushError() error {
	if rw.done {
		return errStreamClosed
	}
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	return rw.flushBuffer()
}

// SetReadDeadline sets the deadline for reading the request body; see
// http.ResponseController.
func (rw *responseWriter) SetReadDeadline(t time.Time) error {
	rw.st.setReadDeadline(t)
	return nil
}

// SetWriteDeadline sets the deadline for writing the response; past it
// the stream is reset. See http.ResponseController.
func (rw *responseWriter) SetWriteDeadline(t time.Time) error {
	rw.st.setWriteDeadline(t)
	return nil
}

// CloseNotify implements the deprecated http.CloseNotifier, for
// handlers and middleware written against it: the channel receives true
// once the request's context ends (the stream reset, the connection
// gone, or the handler returned). Every call returns the same channel.
// New code uses r.Context().
func (rw *responseWriter) CloseNotify() <-chan bool {
	if ch := rw.closeNotify.Load(); ch != nil {
		return *ch
	}
	ch := make(chan bool, 1)
	if !rw.closeNotify.CompareAndSwap(nil, &ch) {
		return *rw.closeNotify.Load() // another goroutine's call came first
	}
	context.AfterFunc(rw.req.Context(), func() { ch <- true })
	return ch
}

// EnableFullDuplex does nothing: HTTP/2 streams are always full duplex.
func (rw *responseWriter) EnableFullDuplex() error { return nil }

// bodyAllowedForStatus reports whether a response with status code may
// carry a body (RFC 9110 section 6.4.1).
func bodyAllowedForStatus(code int) bool {
	switch {
	case code >= 100 && code <= 199, code == http.StatusNoContent, code == http.StatusNotModified:
		return false
	}
	return true
}

type dateEntry struct {
	sec int64
	s   string
}

var dateCache atomic.Pointer[dateEntry]

// httpDate returns the Date field value for now, formatted once a second.
func httpDate() string {
	now := time.Now()
	sec := now.Unix()
	if e := dateCache.Load(); e != nil && e.sec == sec {
		return e.s
	}
	s := now.UTC().Format(http.TimeFormat)
	dateCache.Store(&dateEntry{sec, s})
	return s
}
