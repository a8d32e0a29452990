package h2

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// errStreamClosed is what writes to, and reads from, a stream that has
// been reset return.
var errStreamClosed = errors.New("h2: stream closed")

// errBodyClosed is returned by a request body's Read after Close.
var errBodyClosed = errors.New("h2: read on closed request body")

// stream is one client-initiated stream. Its state moves from open to
// half-closed (remote) when END_STREAM arrives and to half-closed (local)
// when the response's END_STREAM goes out; with both it is closed and
// leaves sc.streams. RST_STREAM either way closes it at once. Its handler
// keeps its slot (sc.running) until it returns, whatever the state.
type stream struct {
	sc   *serverConn
	id   uint32
	ctx  streamContext  // r.Context()
	rw   responseWriter // set up by newResponseWriter
	body requestBody    // req.Body, if the request has one
	url  url.URL        // the request's URL, for a plain path

	// Guarded by sc.mu.
	cond    sync.Cond // body data, end of body, read deadline (L is &sc.mu)
	send    int64     // send window
	recv    int64     // what the client may still send
	unacked int64     // read or discarded, not yet given back
	buf     []byte    // request body received and not yet read, from off
	off     int
	// A Read waiting for data with buf empty lends its buffer: the read
	// loop copies the next DATA payload into rdst (rn bytes) rather than
	// into buf, one copy fewer (a WebSocket message over HTTP/2 was
	// copied from the Framer into buf, then out of it).
	rdst          []byte
	rn            int
	declared      int64 // the request's content-length, -1 if none
	received      int64
	remoteDone    bool  // the client will send nothing more
	localDone     bool  // our END_STREAM went out
	closed        bool  // no longer in sc.streams
	bodyErr       error // what Read returns once buf is empty
	bodyClosed    bool
	needContinue  bool        // send 100 Continue on the first Read
	trailer       http.Header // the request's Trailer, filled by trailers
	writeErr      error       // set once writes must fail
	readDeadline  time.Time
	readTimer     *time.Timer
	writeDeadline time.Time
	writeTimer    *time.Timer

	settled bool // counted out of sc.busy (guarded by sc.mu)

	// A tunnel's Read waits in pw rather than on cond when few handlers
	// are busy (see pollWake and waitLocked). Guarded by sc.mu; tunnel
	// is set before the handler begins.
	tunnel     bool // a CONNECT stream: a WebSocket over HTTP/2 or another tunnel
	procs      int  // GOMAXPROCS when the first Read waited
	pw         *pollWake
	pwTried    bool // newPollWake has been called (it may have failed)
	pwWaiting  bool // a Read waits in pw
	tunnelBusy bool // counted in tunnelsBusy

	wakes uint32      // wakeLocked calls, guarded by sc.mu (lead.go)
	leads atomic.Bool // st holds the connection's reading (sc.leader is st), for its Reads and Writes

	// Guarded by sc.wmu.
	rstSent bool
	endSent bool // our END_STREAM is written
}

// tunnelsBusy counts the tunnel handlers of the process that have had
// data from their body and not waited in Read since, tunnelsPolling the
// tunnel Reads waiting in a pollWake (see waitLocked). Each has a cache
// line of its own: both change at every wait, from every core.
var tunnelsBusy, tunnelsPolling paddedCount

// paddedCount is an atomic counter alone on its cache line.
type paddedCount struct {
	atomic.Int32
	_ [60]byte
}

// wakeLocked wakes what waits for the stream's body: the Read waiting in
// pw, if one is, and those waiting on cond.
func (st *stream) wakeLocked() {
	st.wakes++
	if sc := st.sc; sc.leaderBlocked && sc.leader == st {
		sc.interruptLocked() // the Read waits in fill (lead.go)
	}
	st.cond.Broadcast()
	if st.pwWaiting {
		st.pwWaiting = false
		st.pw.wake()
	}
}

// waitLocked waits, sc.mu held, for the next wakeLocked. The Read that
// lends its buffer (lend) on a tunnel waits in the poller (pollWake)
// while the tunnel handlers of the process that are busy or waiting in
// the poller are fewer than its Ps but one: then a P is likely idle, and
// being readied directly would wake a thread for it. Otherwise it waits
// on cond, which costs no system call (a pollWake costs three a wait:
// the eventfd's write, the read that finds it empty, the read that
// empties it): with many tunnels at work the Ps are busy, and readying
// a goroutine wakes no thread.
func (st *stream) waitLocked(lend bool) {
	st.idleLocked()
	if lend && st.tunnel {
		if st.procs == 0 {
			st.procs = runtime.GOMAXPROCS(0)
		}
		if int(tunnelsBusy.Load()+tunnelsPolling.Load()) < st.procs-1 {
			if !st.pwTried {
				st.pwTried = true
				st.pw = newPollWake()
			}
			if pw := st.pw; pw != nil {
				st.pwWaiting = true
				tunnelsPolling.Add(1)
				st.sc.mu.Unlock()
				err := pw.wait()
				st.sc.mu.Lock()
				tunnelsPolling.Add(-1)
				st.pwWaiting = false
				if err != nil && st.pw == pw {
					// Not closed by streamDone: the eventfd is of no
					// use; cond from now on.
					st.pw = nil
					pw.close()
				}
				return
			}
		} else if pw := st.pw; pw != nil {
			// This Read waits on cond (no Read of st is in pw: it is
			// the one that lends): its eventfd goes, made again at a
			// later wait in the poller, so the process holds about as
			// many as Reads wait there, not one for every tunnel that
			// ever waited there (up to MaxConcurrentStreams a
			// connection, for a client waking two at a time).
			st.pw, st.pwTried = nil, false
			pw.close()
		}
	}
	st.cond.Wait()
}

// busyLocked counts a tunnel's handler, which has just had data from its
// body, in tunnelsBusy; idleLocked takes it out again.
func (st *stream) busyLocked() {
	if st.tunnel && !st.tunnelBusy {
		st.tunnelBusy = true
		tunnelsBusy.Add(1)
	}
}

func (st *stream) idleLocked() {
	if st.tunnelBusy {
		st.tunnelBusy = false
		tunnelsBusy.Add(-1)
	}
}

// closeLocked closes st: it leaves the connection's set, its body and its
// writes fail with err, and its context ends.
func (st *stream) closeLocked(err error) {
	if st.closed {
		return
	}
	st.closed = true
	delete(st.sc.streams, st.id)
	if !st.remoteDone {
		st.remoteDone = true
		if st.bodyErr == nil {
			st.bodyErr = err
		}
	}
	if st.writeErr == nil {
		st.writeErr = err
	}
	if err != nil {
		st.ctx.cancel(nil)
	}
	st.wakeLocked()
	st.sc.sendCond.Broadcast()
}

// endRemoteLocked handles END_STREAM from the client.
func (st *stream) endRemoteLocked(trailer http.Header) {
	st.remoteDone = true
	if st.bodyErr == nil {
		st.bodyErr = io.EOF
	}
	st.wakeLocked()
	if st.localDone {
		st.closeLocked(nil)
	}
}

// endLocalLocked records that the response's END_STREAM went out.
func (st *stream) endLocalLocked() {
	st.localDone = true
	st.endSent = true
	st.settleLocked()
	if st.writeErr == nil {
		st.writeErr = errStreamClosed
	}
	if st.remoteDone {
		st.closeLocked(nil)
	}
}

// settleLocked counts st out of sc.busy, once: its response has ended,
// or its handler has returned.
func (st *stream) settleLocked() {
	if !st.settled {
		st.settled = true
		st.sc.busy.Add(-1)
	}
}

// takeCreditLocked returns the stream window increment to send, once a
// quarter of the window has been read, so that a client sending a large
// body has at least three quarters of it to send on: half a window, as
// before, left a large upload waiting for credit on a busy machine (see
// docs/engine.md, "Large transfers and the upgrade load", for the A/B
// runs), for one more WINDOW_UPDATE per 128 KiB read with molt's 256 KiB
// stream window.
func (st *stream) takeCreditLocked() int64 {
	if st.remoteDone || st.unacked < int64(st.sc.cfg.streamWindow)/4 {
		return 0
	}
	incr := st.unacked
	st.unacked = 0
	st.recv += incr
	return incr
}

func (sc *serverConn) processHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return connError{http2.ErrCodeProtocol, "HEADERS on an even stream ID"}
	}
	sc.mu.Lock()
	if st := sc.streams[id]; st != nil {
		err := st.trailersLocked(f)
		sc.mu.Unlock()
		return err
	}
	if id <= sc.maxClientID {
		ignored := sc.ignoredLocked(id)
		trailers := f.StreamEnded() && len(f.PseudoFields()) == 0
		if ignored {
			sc.resets.forget(id) // the client ends the stream with this frame either way
		}
		sc.mu.Unlock()
		switch {
		case ignored && trailers:
			return sc.ignored() // the Framer has decoded the block: HPACK stays in step
		case ignored:
			// Not trailers a request could have in flight: the client's
			// own error, answered as on an open stream.
			return streamError{id, http2.ErrCodeProtocol, "malformed trailers on a stream the server reset"}
		}
		return connError{http2.ErrCodeProtocol, "HEADERS on a closed stream"}
	}
	sc.maxClientID = id
	switch {
	case sc.drainPhase == 2:
		sc.mu.Unlock()
		return nil // past the final GOAWAY: ignored
	case f.HasPriority() && f.Priority.StreamDep == id:
		sc.refuseLocked(id, f)
		sc.mu.Unlock()
		return streamError{id, http2.ErrCodeProtocol, "stream depends on itself"}
	case uint32(len(sc.streams)) >= sc.cfg.maxStreams:
		sc.refuseLocked(id, f)
		sc.mu.Unlock()
		return streamError{id, http2.ErrCodeRefusedStream, "too many concurrent streams"}
	case uint32(sc.running) >= sc.cfg.maxStreams && uint32(len(sc.queued)) >= sc.cfg.maxStreams:
		sc.refuseLocked(id, f)
		sc.mu.Unlock()
		return streamError{id, http2.ErrCodeRefusedStream, "too many handlers running and waiting"}
	}
	sc.mu.Unlock()

	handler := sc.handler
	st := new(stream) // the request's URL lives in it
	// The request is built on the stack: the handler gets the copy that
	// WithContext makes, the only one on the heap.
	var built http.Request
	req, declared, err := sc.newRequest(f, st, &built)
	if f.Truncated {
		req, declared, err = sc.bareRequest(), -1, nil
		handler = http.HandlerFunc(headerListTooLarge)
	}
	if err != nil {
		sc.mu.Lock()
		sc.refuseLocked(id, f)
		sc.mu.Unlock()
		return streamError{id, http2.ErrCodeProtocol, err.Error()}
	}
	sc.addStream(st, id, declared, f.StreamEnded())
	if req.Body != http.NoBody {
		st.body = requestBody{st: st}
		req.Body = &st.body
		st.needContinue = httpguts.HeaderValuesContainsToken(req.Header["Expect"], "100-continue")
	}
	if req.Trailer != nil {
		st.trailer = req.Trailer
	}
	sc.startHandler(st, req.WithContext(&st.ctx), handler)
	return nil
}

// refuseLocked notes that the server resets new stream id, opened by f,
// without serving it: if f left the stream open, the client may have
// DATA in flight on it, which is to be ignored (resetMemory).
func (sc *serverConn) refuseLocked(id uint32, f *http2.MetaHeadersFrame) {
	if !f.StreamEnded() {
		sc.resets.add(id, sc.newStreamWindow())
	}
}

// newStream adds an open (or half-closed remote) stream.
func (sc *serverConn) newStream(id uint32, declared int64, remoteDone bool) *stream {
	st := new(stream)
	sc.addStream(st, id, declared, remoteDone)
	return st
}

// addStream sets up st, allocated by the caller (and holding the request
// newRequest built in it), as an open (or half-closed remote) stream.
func (sc *serverConn) addStream(st *stream, id uint32, declared int64, remoteDone bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	st.sc = sc
	st.id = id
	st.send = sc.peerWindow
	st.recv = int64(sc.cfg.streamWindow)
	st.declared = declared
	st.remoteDone = remoteDone
	if remoteDone {
		st.bodyErr = io.EOF
	}
	st.cond.L = &sc.mu
	st.ctx.parent = sc.ctx
	sc.streams[id] = st
}

// serveUpgrade serves the request of an h2c upgrade as stream 1,
// half-closed (remote).
func (sc *serverConn) serveUpgrade(req *http.Request) {
	sc.mu.Lock()
	sc.maxClientID = 1
	sc.mu.Unlock()
	st := sc.newStream(1, req.ContentLength, true)
	sc.startHandler(st, req.WithContext(&st.ctx), sc.handler)
}

// trailersLocked handles a second HEADERS frame on a stream: the
// request's trailers.
func (st *stream) trailersLocked(f *http2.MetaHeadersFrame) error {
	switch {
	case st.remoteDone:
		return streamError{st.id, http2.ErrCodeStreamClosed, "HEADERS on a half-closed stream"}
	case !f.StreamEnded():
		return streamError{st.id, http2.ErrCodeProtocol, "trailers without END_STREAM"}
	case len(f.PseudoFields()) > 0:
		return streamError{st.id, http2.ErrCodeProtocol, "pseudo-header field in trailers"}
	case st.declared >= 0 && st.received != st.declared:
		return streamError{st.id, http2.ErrCodeProtocol, "request body shorter than its content-length"}
	}
	for _, hf := range f.RegularFields() {
		k := canonicalHeader(hf.Name)
		if !httpguts.ValidTrailerHeader(k) {
			return streamError{st.id, http2.ErrCodeProtocol, "invalid trailer field " + hf.Name}
		}
		if st.trailer != nil {
			st.trailer[k] = append(st.trailer[k], hf.Value)
		}
	}
	st.endRemoteLocked(nil)
	return nil
}

// newRequest builds the request of a HEADERS frame in req the way
// net/http does, checking the rules of RFC 9113 section 8.3. It returns
// req and the declared content-length, -1 if none.
func (sc *serverConn) newRequest(f *http2.MetaHeadersFrame, st *stream, req *http.Request) (*http.Request, int64, error) {
	var method, scheme, authority, path, protocol string
	for _, hf := range f.PseudoFields() {
		switch hf.Name {
		case ":method":
			method = hf.Value
		case ":scheme":
			scheme = hf.Value
		case ":authority":
			authority = hf.Value
		case ":path":
			path = hf.Value
		case ":protocol":
			protocol = hf.Value
		}
	}
	isConnect := method == http.MethodConnect
	switch {
	case protocol != "" && (!sc.cfg.extendedConnect || !isConnect):
		return nil, 0, errors.New(":protocol outside an extended CONNECT")
	case isConnect && protocol == "":
		if path != "" || scheme != "" || authority == "" {
			return nil, 0, errors.New("CONNECT with :path or :scheme, or without :authority")
		}
	case method == "" || path == "" || (scheme != "http" && scheme != "https"):
		return nil, 0, errors.New("missing or invalid :method, :scheme or :path")
	}

	fields := f.RegularFields()
	header := make(http.Header, len(fields))
	vals := make([]string, len(fields)) // one value each, in one allocation
	var cookies []string
	for i, hf := range fields {
		switch {
		case isConnectionSpecific(hf.Name):
			return nil, 0, errors.New("connection-specific field " + hf.Name)
		case hf.Name == "te" && hf.Value != "trailers":
			return nil, 0, errors.New(`te other than "trailers"`)
		case hf.Name == "cookie":
			cookies = append(cookies, hf.Value)
			continue
		}
		k := canonicalHeader(hf.Name)
		if vv, ok := header[k]; ok {
			header[k] = append(vv, hf.Value) // vv's capacity ends at its length: a copy
			continue
		}
		vals[i] = hf.Value
		header[k] = vals[i : i+1 : i+1]
	}
	if len(cookies) > 0 {
		// RFC 9113 section 8.2.3: crumbs are joined into one field.
		header["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
	if authority == "" {
		authority = header.Get("Host")
	}
	if protocol != "" {
		header[":protocol"] = []string{protocol}
	}

	var u *url.URL
	var requestURI string
	if isConnect && protocol == "" {
		u, requestURI = &url.URL{Host: authority}, authority
	} else {
		if plainPath(path) {
			// What url.ParseRequestURI makes of it, without allocating.
			st.url = url.URL{Path: path}
			u = &st.url
		} else {
			var err error
			if u, err = url.ParseRequestURI(path); err != nil {
				return nil, 0, errors.New("invalid :path")
			}
		}
		requestURI = path
	}

	var trailer http.Header
	for _, v := range header["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			k = http.CanonicalHeaderKey(textprotoTrim(k))
			if k != "" && httpguts.ValidTrailerHeader(k) {
				if trailer == nil {
					trailer = make(http.Header)
				}
				trailer[k] = nil
			}
		}
	}

	declared := int64(-1)
	if vv := header["Content-Length"]; len(vv) > 0 {
		for _, v := range vv[1:] {
			if v != vv[0] {
				return nil, 0, errors.New("conflicting content-length fields")
			}
		}
		n, err := strconv.ParseUint(vv[0], 10, 63)
		if err != nil {
			return nil, 0, errors.New("invalid content-length")
		}
		declared = int64(n)
	}
	*req = http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     header,
		Host:       authority,
		RemoteAddr: sc.remoteAddr,
		RequestURI: requestURI,
		Trailer:    trailer,
		Body:       http.NoBody,
	}
	if f.StreamEnded() {
		if declared > 0 {
			return nil, 0, errors.New("content-length with no body")
		}
		declared = 0
	} else {
		req.Body = nil // set by the caller
	}
	req.ContentLength = declared
	return req, declared, nil
}

func textprotoTrim(s string) string { return strings.Trim(s, " \t") }

// plainPath reports whether path is an absolute path of characters that
// url.ParseRequestURI takes as they are, with no query, fragment or
// escape: its URL is then just {Path: path}.
func plainPath(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '/' || c == '-' || c == '.' || c == '_' || c == '~':
		default:
			return false
		}
	}
	return true
}

// bareRequest stands in for a request whose header list was too large.
func (sc *serverConn) bareRequest() *http.Request {
	return &http.Request{
		Method: http.MethodGet, URL: &url.URL{Path: "/"}, RequestURI: "/",
		Proto: "HTTP/2.0", ProtoMajor: 2, Header: make(http.Header),
		RemoteAddr: sc.remoteAddr, Body: http.NoBody,
	}
}

func headerListTooLarge(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusRequestHeaderFieldsTooLarge)
	io.WriteString(w, "431 request header fields too large\n")
}

// startHandler runs h for st in a goroutine of its own, or, when every
// handler slot is taken (MaxConcurrentStreams handlers are running, some
// for streams that are closed for the client: answered, with the handler
// still returning, or reset), queues it until a handler returns, as x/net
// does: a client that keeps within MaxConcurrentStreams is never refused
// for a handler the server has not finished yet. The queue holds at most
// MaxConcurrentStreams streams (processHeaders refuses beyond).
func (sc *serverConn) startHandler(st *stream, req *http.Request, h http.Handler) {
	if req.Body == nil {
		st.body = requestBody{st: st}
		req.Body = &st.body
	}
	st.tunnel = req.Method == http.MethodConnect
	if st.tunnel {
		sc.tunnels.Add(1)
	}
	rw := newResponseWriter(st, req)
	if b, ok := req.Body.(*requestBody); ok {
		b.rw = rw
	}
	w := handlerWork{st, rw, req, h}
	sc.mu.Lock()
	if uint32(sc.running) >= sc.cfg.maxStreams {
		sc.queued = append(sc.queued, w)
		sc.mu.Unlock()
		return
	}
	sc.claimLocked(st)
	sc.mu.Unlock()
	select {
	case sc.work <- w: // a worker of this connection is idle: one hand-off
	default:
		sc.handlers.Add(1)
		go sc.worker(w)
	}
}

// claimLocked gives st's handler a slot.
func (sc *serverConn) claimLocked(st *stream) {
	sc.unstarted.Add(1)
	sc.busy.Add(1)
	sc.running++
	if sc.running == 1 && sc.idleTimer != nil {
		sc.idleTimer.Stop()
	}
}

// nextQueued takes the oldest queued stream if a slot is free, for the
// worker whose handler has just returned to serve it. A stream that ended
// while it waited (reset by the client or the server, or its connection
// gone) is not served: its handler never runs, as x/net's does not, so
// that streams reset as soon as they are queued cost no handler's work
// (rapid reset behind a full set of slots); its slot is taken and given
// back at once, and the next one is looked at.
func (sc *serverConn) nextQueued() (handlerWork, bool) {
	for {
		sc.mu.Lock()
		if len(sc.queued) == 0 || uint32(sc.running) >= sc.cfg.maxStreams {
			sc.mu.Unlock()
			return handlerWork{}, false
		}
		w := sc.queued[0]
		sc.queued[0] = handlerWork{}
		sc.queued = sc.queued[1:]
		if len(sc.queued) == 0 {
			sc.queued = nil
		}
		sc.claimLocked(w.st)
		ended := w.st.closed
		sc.mu.Unlock()
		if !ended {
			return w, true
		}
		sc.handlerBegins() // counts it out of unstarted, and flushes if that was owed to it
		sc.streamDone(w.st)
	}
}

// handlerWork is one stream for a worker to serve.
type handlerWork struct {
	st  *stream
	rw  *responseWriter
	req *http.Request
	h   http.Handler
}

// worker serves streams of one connection, one after another, so that
// handlers run on warm stacks; it waits for more while the connection
// lives, until the connection has been idle for workerLinger.
func (sc *serverConn) worker(w handlerWork) {
	defer sc.handlers.Done()
	for {
		sc.runHandler(w.st, w.rw, w.req, w.h)
		if next, ok := sc.nextQueued(); ok {
			w = next
			continue
		}
		w = handlerWork{} // hold nothing of the stream while waiting
		// A plain receive, not a select (which locks every channel it
		// waits on): retireWorkers sends an empty handlerWork, and
		// teardown closes the channel.
		w = <-sc.work
		if w.st == nil {
			return
		}
	}
}

// workerLinger is how long the workers of a connection with no handler
// running wait for another stream before they end, giving their stacks
// back: an idle connection then holds only its read loop's.
const workerLinger = time.Second

// retireWorkers ends the workers waiting for a stream once the
// connection has been idle for workerLinger; called by workerTimer. If a
// handler runs, the timer is left unset until the connection is idle
// again; if it has been idle for less, the timer is set for the rest.
func (sc *serverConn) retireWorkers() {
	sc.mu.Lock()
	if sc.running > 0 || sc.closing {
		sc.workerTimerSet = false
		sc.mu.Unlock()
		return
	}
	if idle := time.Duration(time.Now().UnixNano() - sc.idleSince); idle < workerLinger {
		sc.workerTimer.Reset(workerLinger - idle)
		sc.mu.Unlock()
		return
	}
	sc.workerTimerSet = false
	// Under mu, which teardown holds as it closes sc.work.
	defer sc.mu.Unlock()
	for {
		select {
		case sc.work <- handlerWork{}:
		default:
			return // no worker is waiting
		}
	}
}

// runHandler serves one stream. A panic resets the stream with
// INTERNAL_ERROR (http.ErrAbortHandler without a log line).
func (sc *serverConn) runHandler(st *stream, rw *responseWriter, req *http.Request, h http.Handler) {
	sc.handlerBegins()
	panicked := true
	defer func() {
		if panicked {
			if e := recover(); e != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				sc.cfg.log.Error("h2: panic serving stream", "remote", sc.remoteAddr, "stream", st.id, "panic", e, "stack", string(buf))
			}
			sc.resetStream(st, http2.ErrCodeInternal)
		}
		sc.streamDone(st)
	}()
	h.ServeHTTP(rw, req)
	rw.finish()
	panicked = false
}

// streamDone ends a stream whose handler has returned.
func (sc *serverConn) streamDone(st *stream) {
	st.ctx.cancel(nil)
	sc.mu.Lock()
	if st.tunnel {
		sc.tunnels.Add(-1)
	}
	if sc.leader == st {
		// A Read of st in step, from another goroutine, hands it back
		// as it returns (doneStepping), woken below.
		sc.handBackIdleLocked()
	}
	st.settleLocked()
	remoteOpen := !st.remoteDone
	for _, t := range []*time.Timer{st.readTimer, st.writeTimer} {
		if t != nil {
			t.Stop()
		}
	}
	// The body goes with its handler: what it did not read is released.
	unread := len(st.buf) - st.off
	held := sc.connCreditHeldLocked()
	sc.buffered -= int64(unread)
	st.buf, st.off, st.bodyClosed = nil, 0, true
	st.idleLocked()
	st.wakeLocked() // a Read still waiting, from another goroutine, fails
	pw := st.pw
	st.pw = nil
	sc.mu.Unlock()
	if pw != nil {
		pw.close()
	}
	if held && unread > 0 {
		sc.giveBackConn()
	}
	if remoteOpen {
		// RFC 9113 section 8.1: the response is complete, so ask the
		// client to stop sending.
		sc.resetStream(st, http2.ErrCodeNo)
	}
	sc.mu.Lock()
	sc.running--
	if sc.tunnels.Load() > 0 {
		sc.offerLeadLocked() // a tunnel left alone may read (lead.go)
	}
	idle := sc.running == 0 && len(sc.queued) == 0 // a queued stream is about to start
	if idle && sc.idleTimer != nil && sc.drainPhase == 0 && !sc.closing {
		sc.idleTimer.Reset(sc.cfg.idle)
	}
	if idle && !sc.closing {
		// Not a timer operation per request: the timer, once set, stays
		// set, and checks when it fires how long the connection has
		// been idle (retireWorkers).
		sc.idleSince = time.Now().UnixNano()
		if !sc.workerTimerSet {
			sc.workerTimerSet = true
			if sc.workerTimer == nil {
				sc.workerTimer = time.AfterFunc(workerLinger, sc.retireWorkers)
			} else {
				sc.workerTimer.Reset(workerLinger)
			}
		}
	}
	sc.mu.Unlock()
	if idle {
		sc.maybeClose()
	}
}

// requestBody is a stream's request body: data buffered by the read loop.
type requestBody struct {
	st *stream
	rw *responseWriter
}

// creditReadUnlock counts n bytes the handler has just read towards the
// stream's credit, unlocks sc.mu, and sends the stream's WINDOW_UPDATE if
// one is due; held (connCreditHeldLocked, taken before the read changed
// what is buffered) says the connection's credit was held back and may
// be given back now.
func (st *stream) creditReadUnlock(n int, held bool) {
	sc := st.sc
	st.unacked += int64(n)
	incr := st.takeCreditLocked()
	if (incr > 0 || held) && sc.leader == st && !sc.leaderStepping && !sc.wmuFree() {
		// The credit's write would wait for one that holds wmu,
		// perhaps blocked by a peer that does not read, with this Read
		// holding the reading: nobody would read the connection (its
		// PINGs, RST_STREAM, GOAWAY), and no watchdog would end it.
		// The read loop takes the reading back first (lead.go).
		sc.handBackLocked()
	}
	sc.mu.Unlock()
	if incr > 0 {
		sc.creditFromRead(st, uint32(incr))
	}
	if held {
		sc.giveBackConnFromRead()
	}
}

func (b *requestBody) Read(p []byte) (int, error) {
	n, err := b.read(p)
	if b.st.leads.Load() {
		b.st.sc.doneStepping(b.st)
	}
	return n, err
}

func (b *requestBody) read(p []byte) (int, error) {
	st := b.st
	sc := st.sc
	sc.mu.Lock()
	if st.needContinue && !st.bodyClosed {
		st.needContinue = false
		sc.mu.Unlock()
		b.rw.writeContinue()
		sc.mu.Lock()
	}
	lent := false // the read loop has put st.rn bytes into p
	for {
		switch {
		case st.bodyClosed:
			sc.mu.Unlock()
			return 0, errBodyClosed
		case lent:
			// Delivered into p by the read loop (processData).
			n := st.rn
			st.rdst, st.rn = nil, 0
			st.busyLocked()
			st.creditReadUnlock(n, sc.connCreditHeldLocked())
			return n, nil
		case st.off < len(st.buf):
			n := copy(p, st.buf[st.off:])
			st.off += n
			if st.off == len(st.buf) {
				st.buf, st.off = st.buf[:0], 0
			}
			held := sc.connCreditHeldLocked()
			sc.buffered -= int64(n)
			st.busyLocked()
			st.creditReadUnlock(n, held)
			return n, nil
		case st.bodyErr != nil:
			err := st.bodyErr
			sc.mu.Unlock()
			return 0, err
		case !st.readDeadline.IsZero() && !time.Now().Before(st.readDeadline):
			sc.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		case len(p) == 0:
			sc.mu.Unlock()
			return 0, nil
		}
		// Lend p unless another Read of the body, waiting too, has lent
		// its own: the bytes put there are that Read's to return.
		lend := st.rdst == nil
		if lend {
			st.rdst = p
		}
		if lend && sc.leader == st && !sc.leaderStepping {
			sc.leadLocked(st) // read the connection (lead.go)
		} else {
			if lend && sc.leadableLocked(st) {
				// The read loop hands the reading over before it waits
				// for input, or at once if it waits already.
				sc.wantLead = st
				if sc.loopBlocked {
					sc.interruptLocked()
				}
			}
			st.waitLocked(lend)
			if sc.wantLead == st {
				sc.wantLead = nil
			}
		}
		if lend {
			st.rdst = nil
			lent = st.rn > 0
		}
	}
}

// Close discards what the body still holds; data arriving later is
// discarded too, its flow-control credit given back.
func (b *requestBody) Close() error {
	st := b.st
	sc := st.sc
	sc.mu.Lock()
	if st.bodyClosed {
		sc.mu.Unlock()
		return nil
	}
	st.bodyClosed = true
	unread := len(st.buf) - st.off
	// Bytes delivered into a waiting Read's buffer were never counted
	// in sc.buffered; that Read now fails, so they are discarded here.
	st.unacked += int64(st.rn)
	st.rdst, st.rn = nil, 0
	held := sc.connCreditHeldLocked()
	st.unacked += int64(unread)
	sc.buffered -= int64(unread)
	st.buf, st.off = nil, 0
	incr := st.takeCreditLocked()
	st.wakeLocked()
	sc.mu.Unlock()
	if incr > 0 {
		sc.creditFromRead(st, uint32(incr))
	}
	if held && unread > 0 {
		sc.giveBackConnFromRead()
	}
	return nil
}

// setReadDeadline makes body reads fail with os.ErrDeadlineExceeded from
// t on.
func (st *stream) setReadDeadline(t time.Time) {
	sc := st.sc
	sc.mu.Lock()
	defer sc.mu.Unlock()
	st.readDeadline = t
	if st.readTimer != nil {
		st.readTimer.Stop()
	}
	if !t.IsZero() {
		st.readTimer = time.AfterFunc(time.Until(t), func() {
			sc.mu.Lock()
			st.wakeLocked()
			sc.mu.Unlock()
		})
	}
	st.wakeLocked()
}

// setWriteDeadline resets the stream with INTERNAL_ERROR at t, as x/net
// does; writes then fail with os.ErrDeadlineExceeded.
func (st *stream) setWriteDeadline(t time.Time) {
	sc := st.sc
	sc.mu.Lock()
	defer sc.mu.Unlock()
	st.writeDeadline = t
	if st.writeTimer != nil {
		st.writeTimer.Stop()
	}
	if t.IsZero() {
		return
	}
	st.writeTimer = time.AfterFunc(time.Until(t), func() {
		sc.mu.Lock()
		if st.writeDeadline != t || st.closed {
			sc.mu.Unlock()
			return
		}
		if st.writeErr == nil {
			st.writeErr = os.ErrDeadlineExceeded
		}
		sc.mu.Unlock()
		sc.resetStream(st, http2.ErrCodeInternal)
	})
}
