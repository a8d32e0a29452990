package h2

import (
	"errors"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/molt-http/molt/internal/h2meta"
)

// The write path. Every goroutine that sends frames (the read loop and
// the handlers) encodes them itself into one shared buffered writer under
// wmu; there is no writer goroutine and no hand-off. Flush rule: the
// goroutine that leaves wmu with nobody else waiting for it flushes, so
// frames of many streams that queue up behind a write go out together in
// one system call, and no stream waits behind another's flush. While the
// read loop handles input that is already buffered, whole frames of it
// (batching), nobody flushes: the read loop flushes once, before any read
// that may block, so every frame received is handled before the answers
// go out.

// The read loop writes too (SETTINGS and PING ACKs, RST_STREAM,
// WINDOW_UPDATE), synchronously: it queues nothing beyond the one
// buffered writer (bufSize), so a peer that never reads cannot
// make it hold more. But a write to such a peer blocks, and the read
// loop with it. So every write the read loop makes, and its flush, runs
// under a watchdog (armStall): past WriteByteTimeout (the write's own
// deadline), or peerStallTimeout if that is off, the connection is
// closed with a log line, which fails the write and ends the read loop.

// peerStallTimeout bounds how long the read loop waits for a write when
// WriteByteTimeout is off; a variable for the tests.
var peerStallTimeout = DefaultPeerStallTimeout

// armStall starts the watchdog before the read loop handles a frame
// (which may write) or flushes, now being the time in unix nanoseconds;
// disarmStall stops it. Read loop only. Arming and disarming cost an
// atomic store each, not a timer operation: the timer, once set, stays
// set while the read loop keeps arming it, and when it fires it checks
// how long the current armed period has lasted and sets itself again for
// the rest (onStall).
func (sc *serverConn) armStall(now int64) {
	sc.stallAt.Store(now)
	if sc.stallSet.CompareAndSwap(false, true) {
		sc.stallTimer.Reset(sc.stallLimit())
	}
}

func (sc *serverConn) disarmStall() { sc.stallAt.Store(0) }

// onStall closes a connection whose read loop has been armed for longer
// than stallLimit: it has waited too long for a write, so the peer does
// not read. Closing fails the blocked write, and every other, and the
// read loop ends. If the read loop is not armed, or not for that long,
// the timer is set again for what is left, or left unset until the next
// armStall.
func (sc *serverConn) onStall() {
	limit := sc.stallLimit()
	at := sc.stallAt.Load()
	if at == 0 {
		sc.stallSet.Store(false)
		// armStall may have stored its time just before: whoever wins
		// stallSet sets the timer.
		if sc.stallAt.Load() == 0 || !sc.stallSet.CompareAndSwap(false, true) {
			return
		}
		at = sc.stallAt.Load()
	}
	if waited := time.Duration(time.Now().UnixNano() - at); at == 0 || waited < limit {
		sc.stallTimer.Reset(limit - max(waited, 0))
		return
	}
	sc.log.debug("closing connection: the peer has accepted no bytes for too long, and the read loop cannot write its answers", "limit", limit)
	sc.stalled.Store(true)
	sc.c.Close()
}

// stallLimit is how long the read loop waits for a write. With
// WriteByteTimeout on, the write's own deadline ends it first; the
// watchdog, at twice that, also bounds the wait for wmu behind a
// handler's write.
func (sc *serverConn) stallLimit() time.Duration {
	if d := sc.cfg.writeTimeout; d > 0 {
		return 2 * d
	}
	return peerStallTimeout
}

// writer is what the buffered writer writes to: the connection, within
// WriteByteTimeout.
type writer struct{ sc *serverConn }

func (w writer) Write(p []byte) (int, error) {
	if d := w.sc.cfg.writeTimeout; d > 0 {
		w.sc.c.SetWriteDeadline(time.Now().Add(d))
	}
	return w.sc.c.Write(p)
}

// WriteBuffers writes bufs in one writev system call where the
// connection supports it: a TCP connection, or a wrapper with a
// WriteBuffers method of its own (molt's server connections have one);
// other connections get one Write per buffer.
func (w writer) WriteBuffers(bufs *net.Buffers) (int64, error) {
	if d := w.sc.cfg.writeTimeout; d > 0 {
		w.sc.c.SetWriteDeadline(time.Now().Add(d))
	}
	if bw, ok := w.sc.c.(buffersWriter); ok {
		return bw.WriteBuffers(bufs)
	}
	return bufs.WriteTo(w.sc.c)
}

// vectored reports whether c writes a net.Buffers in one call: it has a
// WriteBuffers method, or is a connection of package net, which
// net.Buffers.WriteTo writes with writev. Any other connection (a
// *tls.Conn) would write each piece on its own, a frame's 9-byte header
// apart from its payload, so its DATA goes through the buffer.
func vectored(c net.Conn) bool {
	switch c.(type) {
	case buffersWriter, *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// dataRun is the most DATA a handler's write takes of the send windows
// at once (or one frame of the peer's MAX_FRAME_SIZE, if larger). A run
// of directData bytes or more goes straight to the connection in one
// system call, in frames of MAX_FRAME_SIZE (writeBuffer.writeData), with
// whatever is buffered in front of it; a smaller one is one frame through
// the buffer, under the flush rule. The run is bounded so that a stream
// with a large body holds wmu for one write of at most dataRun bytes,
// and its neighbours' frames go out in between.
const (
	dataRun    = 64 << 10
	directData = 16 << 10
)

// framerMaxFrame is the largest frame the server writes through the
// Framer (HEADERS, CONTINUATION, and DATA that does not go around it):
// the Framer builds each frame in a buffer of its own that keeps, for the
// life of the connection, the size of the largest frame it ever built.
// Frames of the client's SETTINGS_MAX_FRAME_SIZE, up to 16 MiB, would
// have an idle connection hold that much after one large response (on a
// connection without vectored writes, such as TLS, every DATA frame goes
// through the Framer); 16 KiB is the least every peer accepts (RFC 9113
// section 4.2) and the largest TLS record. Large DATA on a connection
// with vectored writes goes around the Framer in frames of the client's
// size (writeData).
const framerMaxFrame = 16384

// write runs fn, which writes frames with sc.fr, under wmu. If st is not
// nil and the server has already reset it, fn is skipped: nothing may
// follow our RST_STREAM on a stream.
func (sc *serverConn) write(st *stream, fn func() error) error {
	sc.pending.Add(1)
	sc.wmu.Lock()
	return sc.writeLocked(st, fn)
}

// writeLocked is write with wmu held and counted in pending; it unlocks
// wmu.
func (sc *serverConn) writeLocked(st *stream, fn func() error) error {
	err := sc.werr
	switch {
	case err != nil:
	case st != nil && st.rstSent:
		err = errStreamClosed
	default:
		err = fn()
		sc.dirty = true
		if err != nil && err != errStreamClosed {
			sc.failWriteLocked(err)
		}
	}
	// While the read loop works through input already buffered, it
	// flushes for everyone once it is done (flushHeld); batching is
	// cleared before that flush takes wmu, so no frame is left behind.
	if sc.pending.Add(-1) != 0 || sc.batching.Load() {
		sc.wmu.Unlock()
		return err
	}
	if st == nil || sc.unstarted.Load() == 0 {
		if st != nil && st.endSent && sc.busy.Load() > 0 {
			// This stream's response has ended, and other handlers have
			// begun but not ended theirs: with two or more Ps they run
			// beside this one, and a flush now would go out without
			// what they are about to write (under h2load -c 8 -m 32
			// unpinned, that made 0.15 writes per request where one P
			// makes 0.03). The flush goes to a goroutine that yields
			// once first, never waiting for a handler (flushAfterYield);
			// one is on its way already if a flush is owed.
			owed := sc.flushOwed.Swap(true)
			sc.wmu.Unlock()
			if !owed {
				go sc.flushAfterYieldFn()
			}
			return err
		}
		sc.flushLocked()
		sc.wmu.Unlock()
		return err
	}
	// Streams the read loop has handed to workers whose handlers have not
	// begun yet: they are runnable, so they begin soon, and usually write
	// at once. The flush is owed to the last of them to begin
	// (handlerBegins), which has it made by a goroutine that runs as soon
	// as the scheduler can, never after what a handler does: no stream
	// waits for another's handler. flushOwed is stored before unstarted is
	// read again, and handlerBegins counts down before it reads
	// flushOwed: one of the two sees the other, so the flush is never
	// lost.
	sc.flushOwed.Store(true)
	if sc.unstarted.Load() == 0 {
		sc.flushLocked()
	}
	sc.wmu.Unlock()
	return err
}

// handlerBegins is called by a worker as it begins a stream's handler:
// the last one of those the read loop handed out has the flush that
// writers have left to it (write) made by a goroutine of its own, which
// the scheduler runs next on this P, once the handler blocks or returns
// (or sooner, on another P): a handler that writes at once, the common
// case, has its own frames in that flush (its write flushes them all, and
// the goroutine finds nothing left), and a handler that blocks first
// holds nothing back.
func (sc *serverConn) handlerBegins() {
	if sc.unstarted.Add(-1) != 0 || !sc.flushOwed.Load() {
		return
	}
	go sc.flushOwedFn()
}

// flushOwedNow is handlerBegins' flush. It may run after teardown, when
// flushLocked does nothing. If a writer is waiting for wmu, or the read
// loop is batching, the flush is no longer owed to anyone: that writer,
// or the read loop's flushHeld, decides it anew.
func (sc *serverConn) flushOwedNow() {
	sc.wmu.Lock()
	if sc.pending.Load() == 0 && !sc.batching.Load() {
		sc.flushLocked()
	} else {
		sc.flushOwed.Store(false)
	}
	sc.wmu.Unlock()
}

// flushAfterYield is the flush a writer whose response has ended leaves
// while other handlers of the connection are still producing theirs
// (write): it yields once (runtime.Gosched, to the global run queue), so
// that a handler running on another P at that moment usually has its
// frames in, and then flushes. What it waits for is the scheduler, never
// a handler: one that blocks, or runs on, holds nothing back. It costs a
// goroutine and a yield per flush, where a flush is a system call.
func (sc *serverConn) flushAfterYield() {
	runtime.Gosched()
	sc.flushOwedNow()
}

// creditFromRead writes a WINDOW_UPDATE of incr that a handler's Read
// gives (st's credit, or with st nil the connection's), as write does,
// but never waits for wmu: a write that holds it may be blocked by a
// peer that does not read, for as long as the peer likes, and the Read
// with it, deaf to its deadline and to Close (net/http's Read, and
// x/net's, never wait for a write). If wmu is held or waited for, a
// goroutine writes the frame behind the holder (that closure is the only
// allocation, and only then); only that goroutine waits, as a handler's
// Write would. st's reset still drops the frame (write).
func (sc *serverConn) creditFromRead(st *stream, incr uint32) {
	var id uint32
	if st != nil {
		id = st.id
	}
	if sc.pending.Load() > 0 || !sc.wmu.TryLock() {
		go sc.write(st, func() error { return sc.fr.WriteWindowUpdate(id, incr) })
		return
	}
	sc.pending.Add(1)
	sc.writeLocked(st, func() error { return sc.fr.WriteWindowUpdate(id, incr) })
}

// flushSoon has the frames held in the buffer flushed by a goroutine of
// its own, for a Read that holds the reading (lead.go) and must not wait
// in the flush. If wmu is held, the goroutine waits for it and flushes
// (flushHeld): its holder may have decided not to flush while batching
// was still on, so it cannot be left to flush as it leaves.
func (sc *serverConn) flushSoon() {
	if !sc.wmu.TryLock() {
		go sc.flushHeldFn()
		return
	}
	dirty := sc.dirty && sc.werr == nil
	owed := !dirty || sc.pending.Load() != 0 || sc.flushOwed.Swap(true)
	sc.wmu.Unlock()
	if !owed {
		go sc.flushOwedFn()
	}
}

// flushHeld flushes frames the read loop held back.
func (sc *serverConn) flushHeld() {
	sc.wmu.Lock()
	if sc.pending.Load() == 0 {
		sc.flushLocked()
	}
	sc.wmu.Unlock()
}

func (sc *serverConn) flushLocked() {
	sc.flushOwed.Store(false)
	if !sc.dirty || sc.werr != nil {
		return
	}
	sc.dirty = false
	if err := sc.bw.Flush(); err != nil {
		sc.failWriteLocked(err)
	}
}

// failWriteLocked records the first write error and closes the
// connection, which ends the read loop.
func (sc *serverConn) failWriteLocked(err error) {
	if sc.werr == nil {
		sc.werr = err
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			sc.log.debug("closing connection: the peer accepted no bytes within WriteByteTimeout", "limit", sc.cfg.writeTimeout)
		case sc.stalled.Load():
		default:
			sc.log.debug("write failed", "err", err)
		}
		sc.c.Close()
	}
}

// writeInitialSettings sends preamble (see ServeConnOpts.Preamble), the
// server's SETTINGS and the connection window beyond the default.
func (sc *serverConn) writeInitialSettings(preamble []byte) error {
	c := sc.cfg
	settings := []http2.Setting{
		{ID: http2.SettingMaxFrameSize, Val: c.maxFrame},
		{ID: http2.SettingMaxConcurrentStreams, Val: c.maxStreams},
		{ID: http2.SettingMaxHeaderListSize, Val: c.maxHeaderList},
		{ID: http2.SettingInitialWindowSize, Val: uint32(c.streamWindow)},
		{ID: http2.SettingEnablePush, Val: 0},
	}
	if c.decTable != DefaultHeaderTableSize {
		settings = append(settings, http2.Setting{ID: http2.SettingHeaderTableSize, Val: c.decTable})
	}
	if c.extendedConnect {
		settings = append(settings, http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1})
	}
	sc.mu.Lock()
	extra := int64(c.connWindow) - initialWindow
	sc.connRecv += extra
	sc.mu.Unlock()
	return sc.write(nil, func() error {
		if _, err := sc.bw.Write(preamble); err != nil {
			return err
		}
		if err := sc.fr.WriteSettings(settings...); err != nil {
			return err
		}
		if extra > 0 {
			return sc.fr.WriteWindowUpdate(0, uint32(extra))
		}
		return nil
	})
}

// resetStreamID answers a stream error: RST_STREAM, and the stream, if it
// is open, ends.
func (sc *serverConn) resetStreamID(id uint32, code http2.ErrCode, reason string) {
	sc.log.debug("stream error", "stream", id, "code", code, "reason", reason)
	sc.mu.Lock()
	st := sc.streams[id]
	sc.mu.Unlock()
	if st != nil {
		sc.resetStream(st, code)
		return
	}
	sc.write(nil, func() error { return sc.fr.WriteRSTStream(id, code) })
}

// resetStream sends RST_STREAM on st once and closes it. Taken under wmu,
// so no frame of st can follow the reset.
func (sc *serverConn) resetStream(st *stream, code http2.ErrCode) {
	sc.write(st, func() error {
		st.rstSent = true
		sc.mu.Lock()
		if !st.remoteDone {
			sc.resets.add(st.id, st.recv) // the client may have frames in flight
		}
		st.closeLocked(errStreamClosed)
		sc.mu.Unlock()
		return sc.fr.WriteRSTStream(st.id, code)
	})
}

// writeHeaders encodes and sends a response header block (or trailers,
// with status 0) on st, split into HEADERS and CONTINUATION frames.
func (sc *serverConn) writeHeaders(st *stream, status int, h *headerSnapshot, extra []hpack.HeaderField, endStream bool) error {
	return sc.write(st, func() error { return sc.encodeHeaders(st, status, h, extra, endStream) })
}

// encodeHeaders is writeHeaders under wmu.
func (sc *serverConn) encodeHeaders(st *stream, status int, h *headerSnapshot, extra []hpack.HeaderField, endStream bool) error {
	sc.mu.Lock()
	closed := st.closed || st.localDone
	sc.mu.Unlock()
	if closed {
		return errStreamClosed // encode nothing: the HPACK state stays in step
	}
	fields := sc.encFields[:0]
	if status != 0 {
		fields = append(fields, hpack.HeaderField{Name: ":status", Value: statusString(status)})
	}
	fields = append(fields, extra...)
	if h != nil {
		for _, f := range h.fields {
			name, ok := lowerHeader(f.key)
			if !ok || isConnectionSpecific(name) {
				continue
			}
			for _, v := range f.vv {
				fields = append(fields, hpack.HeaderField{Name: name, Value: v})
			}
		}
	}
	sc.encFields = fields
	block := sc.encodeBlock(fields)
	clear(fields) // hold no strings of the response
	max := framerMaxFrame
	first := true
	for first || len(block) > 0 {
		frag := block
		if len(frag) > max {
			frag = frag[:max]
		}
		block = block[len(frag):]
		var err error
		if first {
			err = sc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: st.id, BlockFragment: frag, EndStream: endStream, EndHeaders: len(block) == 0})
		} else {
			err = sc.fr.WriteContinuation(st.id, len(block) == 0, frag)
		}
		if err != nil {
			return err
		}
		first = false
	}
	if endStream {
		sc.mu.Lock()
		st.endLocalLocked()
		sc.mu.Unlock()
	}
	return nil
}

// encodeBlock HPACK-encodes fields and returns the block, valid until the
// next call. wmu must be held. A block that left the encoder's dynamic
// table alone (h2meta.TableNeutral: indexed fields and literals without
// indexing only) is kept with its fields, up to maxEncRepeat bytes: the
// same fields encoded again, with nothing in between that may have
// changed the table, give the same bytes, so they are copied rather than
// encoded (a server answers the same response again and again; with the
// snapshot's sorted keys the fields come in the same order).
func (sc *serverConn) encodeBlock(fields []hpack.HeaderField) []byte {
	if sc.encRepeatOK && slices.Equal(fields, sc.encRepeatFields) {
		return sc.encRepeatBlock
	}
	sc.hbuf.Reset()
	for _, f := range fields {
		sc.henc.WriteField(f)
	}
	block := sc.hbuf.Bytes()
	switch {
	case !h2meta.TableNeutral(block):
		sc.encRepeatOK = false // the table changed: the kept block may encode differently now
	case len(block) <= maxEncRepeat:
		sc.encRepeatBlock = append(sc.encRepeatBlock[:0], block...)
		sc.encRepeatFields = append(sc.encRepeatFields[:0], fields...)
		sc.encRepeatOK = true
	}
	return block
}

// maxEncRepeat is the largest header block encodeBlock keeps: a repeated
// response is tens of bytes, and the block and the strings of its fields
// stay with the connection.
const maxEncRepeat = 512

var statusStrings [600]string

func init() {
	for i := 100; i < len(statusStrings); i++ {
		statusStrings[i] = strconv.Itoa(i)
	}
}

func statusString(code int) string {
	if code < len(statusStrings) {
		return statusStrings[code]
	}
	return strconv.Itoa(code)
}

// commonLower maps canonical names of common header fields to their wire
// form, so that writing them allocates nothing.
var commonLower = map[string]string{}

// commonCanonical maps wire names of common request fields to their
// canonical form.
var commonCanonical = map[string]string{}

func init() {
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Access-Control-Allow-Origin", "Age", "Allow", "Authorization", "Cache-Control",
		"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
		"Content-Location", "Content-Range", "Content-Type", "Cookie", "Date", "Etag",
		"Expect", "Expires", "From", "Host", "If-Match", "If-Modified-Since", "If-None-Match",
		"If-Range", "If-Unmodified-Since", "Last-Modified", "Link", "Location", "Max-Forwards",
		"Origin", "Proxy-Authenticate", "Proxy-Authorization", "Range", "Referer", "Refresh",
		"Retry-After", "Sec-Websocket-Extensions", "Sec-Websocket-Key", "Sec-Websocket-Protocol",
		"Sec-Websocket-Version", "Server", "Set-Cookie", "Strict-Transport-Security", "Te",
		"Trailer", "User-Agent", "Vary", "Via", "Www-Authenticate", "X-Content-Type-Options",
		"X-Forwarded-For", "X-Forwarded-Proto", "X-Request-Id", "Traceparent",
	} {
		l := strings.ToLower(k)
		commonLower[k] = l
		commonCanonical[l] = k
	}
}

// lowerHeader returns the wire name of header key k, and false for a key
// that is not a valid field name.
func lowerHeader(k string) (string, bool) {
	if l, ok := commonLower[k]; ok {
		return l, true
	}
	for i := 0; i < len(k); i++ {
		if !validNameByte(k[i]) {
			return "", false
		}
	}
	return strings.ToLower(k), k != ""
}

func validNameByte(b byte) bool {
	return b < 0x80 && b > ' ' && b != ':' && b != '(' && b != ')' && b != '<' && b != '>' &&
		b != '@' && b != ',' && b != ';' && b != '\\' && b != '"' && b != '/' && b != '[' &&
		b != ']' && b != '?' && b != '=' && b != '{' && b != '}' && b != 0x7f
}

// canonicalHeader returns the canonical key of a wire field name.
func canonicalHeader(name string) string {
	if k, ok := commonCanonical[name]; ok {
		return k
	}
	return http.CanonicalHeaderKey(name)
}

// isConnectionSpecific reports whether name is a field that HTTP/2
// forbids (RFC 9113 section 8.2.2); te is checked by its value.
func isConnectionSpecific(name string) bool {
	switch name {
	case "connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade":
		return true
	}
	return false
}
