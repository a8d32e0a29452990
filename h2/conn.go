package h2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/molt-http/molt/internal/h2meta"
)

const (
	clientPreface    = http2.ClientPreface
	maxWindow        = 1<<31 - 1
	maxStreamID      = 1<<31 - 1
	initialWindow    = 65535
	closeGraceLinger = time.Second // how long a closing connection still reads

	// A connection may send floodBudget frames that make the server work
	// without serving anything (PING, SETTINGS, RST_STREAM, PRIORITY,
	// empty DATA, unknown types, refused or malformed streams); the
	// budget refills by floodRefill a second. Past it: ENHANCE_YOUR_CALM.
	floodBudget = 10000
	floodRefill = 1000
)

// drainPing is the payload of the PING that separates the two GOAWAYs of a
// graceful shutdown; keepalivePing that of a ReadIdleTimeout probe.
var (
	drainPing     = [8]byte{'m', 'o', 'l', 't', 'g', 'o', 'a', 'w'}
	keepalivePing = [8]byte{'m', 'o', 'l', 't', 'p', 'i', 'n', 'g'}
)

// errConnClosed ends the streams of a connection that is gone.
var errConnClosed = errors.New("h2: connection closed")

// errContinuationFlood is what frameMeter makes ReadFrame return once
// CONTINUATION frames have used up the flood budget.
var errContinuationFlood = errors.New("h2: flood of CONTINUATION frames")

// connError is a connection error: GOAWAY with code, then close.
type connError struct {
	code   http2.ErrCode
	reason string
}

func (e connError) Error() string {
	return fmt.Sprintf("h2: connection error %v: %s", e.code, e.reason)
}

// streamError is a stream error: RST_STREAM with code.
type streamError struct {
	id     uint32
	code   http2.ErrCode
	reason string
}

func (e streamError) Error() string {
	return fmt.Sprintf("h2: stream %d error %v: %s", e.id, e.code, e.reason)
}

// serverConn is one HTTP/2 connection. The read loop runs in ServeConn's
// goroutine; every handler runs in a goroutine of its own. Writes from
// all of them go through write (see write.go).
type serverConn struct {
	srv        *Server
	cfg        config
	c          net.Conn
	handler    http.Handler
	log        logger
	ctx        context.Context
	cancel     context.CancelFunc
	remoteAddr string
	br         readBuffer              // the connection's input; read loop only
	meter      frameMeter              // the Framer's reader, on br
	fr         *http2.Framer           // reads from meter, writes into bw
	meta       *h2meta.Decoder         // assembles the header blocks fr reads
	hf         http2.HeadersFrame      // the HEADERS frame readFrame read itself; read loop only
	wu         http2.WindowUpdateFrame // the WINDOW_UPDATE frame readFrame read itself; read loop only
	handlers   sync.WaitGroup          // the workers running handlers (stream.go)
	work       chan handlerWork        // to an idle worker; an empty one, or closing it, ends it
	lastRead   atomic.Int64            // unix nanoseconds of the last frame read
	budget     int                     // flood budget left; read loop only
	blockEnds  bool                    // the last HEADERS frame read had END_STREAM; read loop only
	metaErr    bool                    // the last read error came from meta, not fr; read loop only
	budgetAt   int64                   // when it was last refilled
	handedOff  bool                    // the reading is a tunnel's (lead.go); read loop only
	upgraded   bool                    // stream 1 is the upgrade request; set before any handler runs
	tunnels    atomic.Int32            // tunnel streams whose handler has started and not returned

	// Write side, guarded by wmu (write.go).
	wmu       sync.Mutex
	pending   atomic.Int32 // goroutines in or waiting for write
	unstarted atomic.Int32 // streams given a handler slot whose handler has not begun
	busy      atomic.Int32 // streams given a handler slot whose response has not ended
	flushOwed atomic.Bool  // a writer left its frames to handlerBegins to flush

	batching  atomic.Bool // the read loop has a whole frame more buffered
	failed    atomic.Bool // a connection error's GOAWAY has been sent
	bw        writeBuffer
	henc      *hpack.Encoder
	hbuf      bytes.Buffer
	encFields []hpack.HeaderField // encodeHeaders' scratch

	// flushOwedFn, flushAfterYieldFn and flushHeldFn are the methods as
	// func values, made once: a go statement that calls a method
	// allocates for its receiver at every call, one that calls a func
	// value with no arguments does not.
	flushOwedFn, flushAfterYieldFn, flushHeldFn func()

	// The last table-neutral header block and its fields (encodeBlock).
	encRepeatBlock  []byte
	encRepeatFields []hpack.HeaderField
	encRepeatOK     bool
	dirty           bool  // bw holds frames not yet flushed
	werr            error // the first write error; the connection is dead
	peerMaxFrame    atomic.Uint32
	vectored        bool         // c writes a net.Buffers in one call: large DATA goes in runs around bw (writeData)
	stallTimer      *time.Timer  // the read loop's write watchdog (armStall)
	stallAt         atomic.Int64 // when the read loop armed it, 0 if disarmed
	stallSet        atomic.Bool  // stallTimer is set
	stalled         atomic.Bool  // the watchdog closed the connection

	// State, guarded by mu.
	mu             sync.Mutex
	sendCond       sync.Cond // send windows changed (L is &mu)
	streams        map[uint32]*stream
	maxClientID    uint32
	resets         resetMemory   // client streams we reset lately
	running        int           // handlers that have not returned
	queued         []handlerWork // streams waiting for a handler slot (startHandler)
	connSend       int64         // connection send window
	connRecv       int64         // what the client may still send on the connection
	buffered       int64         // request body bytes held for handlers, all streams
	peerWindow     int64         // the client's SETTINGS_INITIAL_WINDOW_SIZE
	settingsAcked  bool
	settingsSent   bool   // the server preface is written: GOAWAY may follow
	drainAsked     bool   // Drain came before settingsSent
	drainPhase     int    // 0 serving, 1 first GOAWAY sent, 2 final GOAWAY sent
	lastID         uint32 // in phase 2: the last stream served
	finalSent      bool   // the final GOAWAY of a drain is written
	closing        bool   // teardown has begun
	pingOut        bool   // a keepalive PING is unanswered
	pingAt         int64  // when it was sent
	idleTimer      *time.Timer
	readIdleTimer  *time.Timer
	settingsTimer  *time.Timer
	drainTimer     *time.Timer
	workerTimer    *time.Timer // retires the workers of an idle connection
	workerTimerSet bool        // workerTimer is set
	idleSince      int64       // unix nanoseconds when the last handler returned
	lingerDeadline bool        // the read deadline has been set for closing
	hardClose      *time.Timer // closes the connection if closing cleanly hangs

	// The reading by a tunnel's handler (lead.go), guarded by mu.
	leader         *stream // the stream whose Read holds the reading; nil: the read loop does
	wantLead       *stream // a tunnel's Read that waits, and may take the reading
	leaderStepping bool    // the leader's Read or Write is in step
	leaderBlocked  bool    // ... in fill, which only an interrupt ends early
	loopBlocked    bool    // the read loop is in fill
	interrupting   bool    // a read deadline in the past ends the current fill
	leadEnded      bool    // the leader's reading ended the connection
	leadSteps      uint64  // steps the leaders have begun
	leadStepsSeen  uint64  // leadSteps when leadTimer was last set
	leadTimer      *time.Timer
	leadTimerSet   bool
	leadProbe      int8      // 1: the read deadline can be set; -1: it cannot; 0: not known yet
	sendWaiters    int       // Writes waiting on sendCond
	loopCond       sync.Cond // the reading is back (L is &mu)
}

func newServerConn(s *Server, c net.Conn, opts *ServeConnOpts) *serverConn {
	cfg := s.config()
	sc := &serverConn{
		srv:        s,
		cfg:        cfg,
		c:          c,
		handler:    opts.Handler,
		log:        logger{cfg.log, c.RemoteAddr()},
		remoteAddr: c.RemoteAddr().String(),
		br:         readBuffer{src: c},
		streams:    make(map[uint32]*stream),
		connSend:   initialWindow,
		connRecv:   initialWindow,
		peerWindow: initialWindow,
		work:       make(chan handlerWork),
	}
	if sc.handler == nil {
		sc.handler = http.DefaultServeMux
	}
	sc.flushOwedFn, sc.flushAfterYieldFn, sc.flushHeldFn = sc.flushOwedNow, sc.flushAfterYield, sc.flushHeld
	sc.sendCond.L = &sc.mu
	sc.loopCond.L = &sc.mu
	sc.stallTimer = time.AfterFunc(time.Hour, sc.onStall)
	sc.stallTimer.Stop() // set by armStall
	sc.bw.dst = writer{sc}
	sc.meter.sc = sc
	sc.fr = http2.NewFramer(&sc.bw, &sc.meter)
	sc.fr.SetReuseFrames()
	sc.fr.SetMaxReadFrameSize(cfg.maxFrame)
	sc.fr.MaxHeaderListSize = cfg.maxHeaderList
	// Until the client acknowledges SETTINGS_HEADER_TABLE_SIZE it may use
	// the protocol's 4096 bytes; a smaller table applies after the ACK.
	sc.meta = h2meta.NewDecoder(max(cfg.decTable, DefaultHeaderTableSize), cfg.maxHeaderList)
	sc.henc = hpack.NewEncoder(&sc.hbuf)
	sc.henc.SetMaxDynamicTableSizeLimit(cfg.encTable)
	sc.peerMaxFrame.Store(16384)
	sc.vectored = vectored(c)

	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if ctx.Value(http.LocalAddrContextKey) == nil {
		ctx = context.WithValue(ctx, http.LocalAddrContextKey, c.LocalAddr())
	}
	sc.ctx, sc.cancel = context.WithCancel(ctx)
	return sc
}

// serve runs the read loop until the connection ends.
func (sc *serverConn) serve(opts *ServeConnOpts) {
	defer sc.teardown()
	sc.lastRead.Store(time.Now().UnixNano())
	upgrade := opts.UpgradeRequest != nil
	if !opts.SawPreface && !upgrade {
		if err := sc.readPreface(); err != nil {
			sc.log.debug("bad client preface", "err", err)
			return
		}
	}
	// After an upgrade, the first flight (the preamble, SETTINGS and
	// WINDOW_UPDATE) waits for stream 1's first frames: held here as
	// while batching, and flushed by firstFlight.
	sc.batching.Store(upgrade)
	sc.armStall(time.Now().UnixNano()) // a peer that never reads blocks even this first write
	err := sc.writeInitialSettings(opts.Preamble)
	sc.disarmStall()
	if err != nil {
		return
	}
	sc.mu.Lock()
	sc.settingsSent = true
	drain := sc.drainAsked
	sc.mu.Unlock()
	if drain {
		sc.startDrain()
	}
	if opts.Settings != nil {
		if err := sc.applyUpgradeSettings(opts.Settings); err != nil {
			sc.connFail(err)
			return
		}
	}
	sc.startTimers()
	if upgrade {
		sc.upgraded = true
		sc.serveUpgrade(opts.UpgradeRequest)
		sc.firstFlight()
		if !opts.SawPreface {
			if err := sc.readPreface(); err != nil {
				sc.log.debug("bad client preface", "err", err)
				return
			}
		}
	}
	for {
		if sc.handedOff && !sc.awaitLead() {
			return
		}
		if !sc.step(nil, 0) {
			return
		}
	}
}

// step is one turn of the read loop, run by the holder of the reading
// (lead.go): the read loop, or leader's Read (wakes as in awaitFrame).
// It reads and handles the next frame, or returns having read none if
// awaitFrame says so, and reports whether the connection goes on.
func (sc *serverConn) step(leader *stream, wakes uint32) bool {
	if !sc.br.frameBuffered() {
		if leader != nil && !sc.wmuFree() {
			// A write holds wmu, perhaps blocked by a peer that does
			// not read: the frames held back go out with it, and the
			// next frame's answer would wait for it, and the Read with
			// it, deaf to its deadline: the read loop, under its
			// watchdog, reads instead (lead.go).
			sc.mu.Lock()
			sc.handBackLocked()
			sc.mu.Unlock()
			return true
		}
		// Every frame already received whole has been handled: send
		// what was held back, in one write, before a read that may
		// block (even for the rest of a frame begun in the buffer). A
		// leader's Read does not wait in that write, which a peer that
		// does not read would block (lead.go): a goroutine makes it.
		sc.batching.Store(false)
		if leader != nil {
			sc.flushSoon()
		} else {
			sc.armStall(time.Now().UnixNano())
			sc.flushHeld()
			sc.disarmStall()
		}
		sc.br.release(sc.idle) // wait for the next bytes holding no buffer
		if !sc.awaitFrame(leader, wakes) {
			return true
		}
	}
	ownData := leader != nil && sc.br.dataFor(leader.id)
	if leader != nil && !ownData && !sc.answerRoom() {
		// A write holds wmu (even for its flush) or waits for it,
		// perhaps blocked by a peer that does not read, or the buffer
		// holds so much that an answer could have to flush it: the next
		// frame may need an answer, and a Read waiting for that write
		// could not be woken (by its read deadline, Close); the read
		// loop handles it (lead.go).
		sc.mu.Lock()
		sc.handBackLocked()
		sc.mu.Unlock()
		return true
	}
	f, err := sc.readFrame()
	if sc.br.frameBuffered() || leader != nil && !ownData && !isWindowUpdate(f) {
		// Answers are held for one write before the next wait for
		// input; a leader's always are, as it never flushes them
		// itself. Its own DATA needs none, nor does a valid
		// WINDOW_UPDATE, the frame a Write waiting for window reads,
		// whose DATA holding back would delay (an invalid one's answer
		// is flushed under the watchdog, as the read loop's are).
		sc.batching.Store(true)
	}
	if f == nil && err == nil {
		return true // a header block that CONTINUATION frames complete
	}
	now := time.Now().UnixNano()
	sc.armStall(now)
	defer sc.disarmStall()
	if err != nil {
		if sc.metaErr {
			sc.meta.Release() // the block ended in its error
		}
		return sc.readError(err)
	}
	ok := sc.handleFrame(f, now)
	if _, meta := f.(*http2.MetaHeadersFrame); meta {
		sc.meta.Release() // the request is built: its fields may go
	}
	return ok
}

// firstFlight sends what an upgraded connection's read loop has held
// back since it began (serve), before its first read: the flush is left
// to stream 1's handler as it begins, the way write leaves a handler's
// flush to streams not begun yet (handlerBegins), so that a handler that
// answers at once sends its response in the same write as the preamble
// and SETTINGS, and one that does not holds them back no longer than the
// scheduler takes to run the flush goroutine.
func (sc *serverConn) firstFlight() {
	sc.batching.Store(false)
	sc.flushOwed.Store(true)
	if sc.unstarted.Load() == 0 {
		// Stream 1's handler has begun (or waits for a slot): flush here.
		sc.armStall(time.Now().UnixNano())
		sc.flushHeld()
		sc.disarmStall()
	}
}

// idle reports whether the connection has no open stream.
func (sc *serverConn) idle() bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return len(sc.streams) == 0
}

// handleFrame handles one frame the read loop has read at now (unix
// nanoseconds), and reports whether the loop goes on.
func (sc *serverConn) handleFrame(f http2.Frame, now int64) bool {
	sc.lastRead.Store(now)
	if isJunk(f) && !sc.spend(now) {
		sc.connFail(connError{http2.ErrCodeEnhanceYourCalm, "flood of frames that serve nothing"})
		return false
	}
	err := sc.processFrame(f)
	if err == nil {
		return true
	}
	var se streamError
	if !errors.As(err, &se) {
		sc.connFail(err)
		return false
	}
	if !sc.spend(now) {
		sc.connFail(connError{http2.ErrCodeEnhanceYourCalm, "flood of stream errors"})
		return false
	}
	sc.resetStreamID(se.id, se.code, se.reason)
	return true
}

// isJunk reports whether f is a frame that costs the server work without
// serving a request, which floods are made of.
func isJunk(f http2.Frame) bool {
	switch f := f.(type) {
	case *http2.PingFrame:
		return !f.IsAck()
	case *http2.SettingsFrame:
		return !f.IsAck()
	case *http2.RSTStreamFrame, *http2.PriorityFrame, *http2.UnknownFrame:
		return true
	case *http2.DataFrame:
		return f.Length == 0 && !f.StreamEnded()
	}
	return false
}

// frameMeter is the Framer's reader: it passes the connection's bytes on
// and follows the frame boundaries in them, to spend the flood budget on
// every CONTINUATION frame. The Framer reads a header block's
// CONTINUATION frames within one ReadFrame, out of the read loop's sight,
// and decodes each fragment as it comes (the HPACK decoder copies what it
// has saved of an unfinished field every time): without a budget, a
// flood of empty CONTINUATION frames, or of one byte of header block
// each, costs the server work without limit, and quadratic work within
// MaxHeaderListSize (the CONTINUATION flood of CVE-2023-45288, the empty
// frames of CVE-2019-9518). A header block of 1 MiB in 16 KiB frames
// needs 64.
type frameMeter struct {
	sc    *serverConn
	hdr   [9]byte // of the current frame; hdr[3] is its type
	nhdr  int     // bytes of the current frame header seen
	left  uint32  // bytes of the current frame's payload still to come
	flood bool
}

func (m *frameMeter) Read(p []byte) (int, error) {
	if m.flood {
		return 0, errContinuationFlood
	}
	n, err := m.sc.br.Read(p)
	for b := p[:n]; len(b) > 0; {
		if m.left > 0 {
			k := min(uint32(len(b)), m.left)
			m.left -= k
			b = b[k:]
			continue
		}
		k := copy(m.hdr[m.nhdr:], b)
		m.nhdr += k
		b = b[k:]
		if m.nhdr < len(m.hdr) {
			continue
		}
		m.nhdr = 0
		m.left = uint32(m.hdr[0])<<16 | uint32(m.hdr[1])<<8 | uint32(m.hdr[2])
		if http2.FrameType(m.hdr[3]) == http2.FrameContinuation && !m.sc.spend(time.Now().UnixNano()) {
			m.flood = true // the next Read fails: io.ReadFull drops an error that comes with all it asked for
		}
	}
	return n, err
}

// whole reports whether the last frame read so far arrived whole: its
// header and all its payload.
func (m *frameMeter) whole() bool { return m.nhdr == 0 && m.left == 0 }

// resetMemory holds the IDs of the last client streams the server reset
// while the client could still send on them, as a ring: what the client
// sent on them before it saw our RST_STREAM must be ignored (RFC 9113
// section 5.1, "closed"), and beyond this many resets "shortly after" is
// over. The rule is narrow, so that a client's own errors are still
// answered however the timing falls: an ID is forgotten once the client
// has ended the stream itself (END_STREAM or RST_STREAM), and only what
// a correct client may send in flight is ignored (DATA, and trailers:
// HEADERS with END_STREAM and no pseudo-header field). With each ID it
// keeps the stream's flow-control window at the reset: DATA within it
// is what a correct client can have in flight, and spends no flood
// budget (take). It costs 2 KiB a connection, allocated at the first
// reset: a connection that never resets a stream the client may still
// send on (most do not) holds 8 bytes for it, which keeps serverConn in
// a smaller size class.
type resetMemory struct {
	ring *[256]resetEntry
	next int
}

// resetEntry is one stream of a resetMemory.
type resetEntry struct {
	id   uint32
	left int32 // DATA bytes the client may still send: the window at the reset, less what came
}

// add remembers id, whose flow-control window (what the client may send
// on it) is window.
func (r *resetMemory) add(id uint32, window int64) {
	if r.ring == nil {
		r.ring = new([256]resetEntry)
	}
	r.ring[r.next] = resetEntry{id, int32(min(max(window, 0), 1<<31-1))}
	r.next = (r.next + 1) % len(r.ring)
}

// forget drops id: the client has ended the stream itself, so from now
// on it can have nothing in flight there.
func (r *resetMemory) forget(id uint32) {
	if r.ring == nil {
		return
	}
	for i := range r.ring {
		if r.ring[i].id == id {
			r.ring[i] = resetEntry{}
		}
	}
}

func (r *resetMemory) has(id uint32) bool {
	return r.find(id) != nil
}

func (r *resetMemory) find(id uint32) *resetEntry {
	if r.ring == nil || id == 0 {
		return nil
	}
	for i := range r.ring {
		if r.ring[i].id == id {
			return &r.ring[i]
		}
	}
	return nil
}

// take charges n bytes of DATA on id against the window id had at its
// reset, and reports whether id is remembered and they fit: then they
// are what a correct client had in flight.
func (r *resetMemory) take(id uint32, n int64) bool {
	e := r.find(id)
	if e == nil || n > int64(e.left) {
		return false
	}
	e.left -= int32(n)
	return true
}

// newStreamWindow is the flow-control window a new stream has for the
// client: the initial window of the server's SETTINGS, or the protocol's
// default (65,535) if the client has not seen them yet, whichever is
// larger.
func (sc *serverConn) newStreamWindow() int64 {
	return max(int64(sc.cfg.streamWindow), 65535)
}

// idleLocked reports whether id, not in sc.streams, names an idle stream:
// the server opens none (no push), so even IDs always do.
func (sc *serverConn) idleLocked(id uint32) bool {
	return id%2 == 0 || id > sc.maxClientID
}

// ignoredLocked reports whether frames on id, a closed stream, are to be
// ignored: the server reset it lately, or it came after the final GOAWAY
// of a drain.
func (sc *serverConn) ignoredLocked(id uint32) bool {
	return sc.resets.has(id) || sc.drainPhase == 2 && id > sc.lastID
}

// ignored answers a frame that is ignored: it serves nothing, so it
// spends the flood budget.
func (sc *serverConn) ignored() error {
	if !sc.spend(time.Now().UnixNano()) {
		return connError{http2.ErrCodeEnhanceYourCalm, "flood of frames on closed streams"}
	}
	return nil
}

// spend takes one unit of the flood budget, refilled with time, and
// reports whether any was left.
func (sc *serverConn) spend(now int64) bool {
	if sc.budgetAt == 0 {
		sc.budget, sc.budgetAt = floodBudget, now
	}
	if secs := (now - sc.budgetAt) / int64(time.Second); secs > 0 {
		sc.budget = int(min(int64(floodBudget), int64(sc.budget)+secs*floodRefill))
		sc.budgetAt = now
	}
	sc.budget--
	return sc.budget >= 0
}

// isWindowUpdate reports whether f is a WINDOW_UPDATE frame.
func isWindowUpdate(f http2.Frame) bool {
	_, ok := f.(*http2.WindowUpdateFrame)
	return ok
}

// readPreface reads and checks the client preface, within the settings
// timeout.
func (sc *serverConn) readPreface() error {
	if d := sc.cfg.settingsTimeout; d > 0 {
		if hook := sc.srv.testHookPrefaceDeadline; hook != nil {
			hook()
		}
		sc.setPrefaceDeadline(time.Now().Add(d))
		defer sc.setPrefaceDeadline(time.Time{})
	}
	var buf [len(clientPreface)]byte
	if _, err := io.ReadFull(&sc.br, buf[:]); err != nil {
		return err
	}
	if string(buf[:]) != clientPreface {
		return errors.New("h2: invalid client preface")
	}
	return nil
}

// setPrefaceDeadline sets the read deadline of the preface read (or,
// with the zero time, lifts it), unless the connection has set its own:
// after an upgrade, stream 1's handler runs while the preface is awaited,
// so a drain (maybeClose's linger) or a connection error (connFail's
// wake-up) may already be closing the connection on a deadline that the
// preface's must not replace.
func (sc *serverConn) setPrefaceDeadline(t time.Time) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if !sc.lingerDeadline && !sc.failed.Load() {
		sc.c.SetReadDeadline(t)
	}
}

// readError handles an error from ReadFrame and reports whether the read
// loop goes on.
func (sc *serverConn) readError(err error) bool {
	var se http2.StreamError
	var ce http2.ConnectionError
	switch {
	case errors.As(err, &se) && se.Cause == nil && http2.FrameType(sc.meter.hdr[3]) == http2.FrameHeaders:
		// The Framer refused the HEADERS frame itself (padding longer
		// than the frame) and decoded no header block: the client's HPACK
		// state and ours would differ from here on, which only a
		// connection error answers (RFC 9113 sections 4.3 and 6.2).
		sc.connFail(connError{http2.ErrCodeProtocol, "HEADERS padding longer than the frame"})
	case errors.As(err, &se):
		// A stream error found by the Framer: a HEADERS frame that failed
		// validation (its header block has been decoded) or a
		// WINDOW_UPDATE with no increment.
		typ := http2.FrameType(sc.meter.hdr[3])
		if typ == http2.FrameContinuation {
			typ = http2.FrameHeaders // the meter saw the block's last frame
		}
		sc.mu.Lock()
		var cerr error
		if sc.streams[se.StreamID] == nil {
			switch {
			case typ != http2.FrameHeaders && sc.idleLocked(se.StreamID):
				// RFC 9113 section 5.1: only HEADERS and PRIORITY may
				// arrive on an idle stream.
				cerr = connError{http2.ErrCodeProtocol, typ.String() + " on an idle stream"}
			case typ != http2.FrameHeaders:
			case se.StreamID%2 == 0:
				cerr = connError{http2.ErrCodeProtocol, "HEADERS on an even stream ID"}
			case se.StreamID > sc.maxClientID:
				sc.maxClientID = se.StreamID // the frame used its stream ID
				ends := sc.blockEnds         // of the HEADERS a CONTINUATION completed
				if http2.FrameType(sc.meter.hdr[3]) == http2.FrameHeaders {
					ends = http2.Flags(sc.meter.hdr[4])&http2.FlagHeadersEndStream != 0
				}
				if !ends {
					sc.resets.add(se.StreamID, sc.newStreamWindow()) // refused while DATA may follow
				}
			case sc.ignoredLocked(se.StreamID):
				// Malformed, so not a request's trailers in flight: the
				// stream error is answered (the block has been decoded,
				// HPACK stays in step), and the client has ended the
				// stream with it.
				sc.resets.forget(se.StreamID)
			default:
				cerr = connError{http2.ErrCodeProtocol, "HEADERS on a closed stream"}
			}
		}
		sc.mu.Unlock()
		if cerr != nil {
			sc.connFail(cerr)
			return false
		}
		if !sc.spend(time.Now().UnixNano()) {
			sc.connFail(connError{http2.ErrCodeEnhanceYourCalm, "flood of stream errors"})
			return false
		}
		reason := "invalid frame"
		if se.Cause != nil {
			reason = se.Cause.Error()
		}
		sc.resetStreamID(se.StreamID, se.Code, reason)
		return true
	case errors.As(err, &ce):
		reason := "invalid frame"
		if d := sc.fr.ErrorDetail(); d != nil {
			reason = d.Error()
		} else if d := sc.meta.ErrorDetail(); d != nil && sc.metaErr {
			reason = d.Error()
		}
		sc.connFail(connError{http2.ErrCode(ce), reason})
	case errors.Is(err, io.ErrUnexpectedEOF) && sc.meter.whole():
		// The frame arrived whole, but the Framer ran out of it reading
		// the fields its flags announce (Pad Length, the priority
		// fields): too short for its mandatory fields, FRAME_SIZE_ERROR
		// (RFC 9113 section 4.2), a connection error for the frames
		// concerned (HEADERS, DATA), which carry header blocks or count
		// against the connection window.
		sc.connFail(connError{http2.ErrCodeFrameSize, http2.FrameType(sc.meter.hdr[3]).String() + " frame too short for its fields"})
	case errors.Is(err, errContinuationFlood):
		sc.connFail(connError{http2.ErrCodeEnhanceYourCalm, "flood of CONTINUATION frames"})
	case errors.Is(err, http2.ErrFrameTooLarge):
		sc.connFail(connError{http2.ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE"})
	default:
		sc.mu.Lock()
		quiet := sc.closing || sc.lingerDeadline || sc.failed.Load()
		sc.mu.Unlock()
		if !quiet && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				sc.log.debug("connection timed out", "err", err)
			} else {
				sc.log.debug("read failed", "err", err)
			}
		}
	}
	return false
}

// processFrame handles one frame. It returns a streamError or a
// connection error.
func (sc *serverConn) processFrame(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return sc.processSettings(f)
	case *http2.MetaHeadersFrame:
		return sc.processHeaders(f)
	case *http2.DataFrame:
		return sc.processData(f)
	case *http2.WindowUpdateFrame:
		return sc.processWindowUpdate(f)
	case *http2.PingFrame:
		return sc.processPing(f)
	case *http2.RSTStreamFrame:
		return sc.processReset(f)
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			return streamError{f.StreamID, http2.ErrCodeProtocol, "stream depends on itself"}
		}
		return nil
	case *http2.GoAwayFrame:
		if f.ErrCode != http2.ErrCodeNo {
			sc.log.debug("client sent GOAWAY", "code", f.ErrCode, "debug", string(f.DebugData()))
		}
		sc.startDrain()
		return nil
	case *http2.PushPromiseFrame:
		return connError{http2.ErrCodeProtocol, "PUSH_PROMISE from a client"}
	}
	return nil // unknown frame types are ignored (RFC 9113 section 5.5)
}

func (sc *serverConn) processSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		if sc.cfg.decTable < DefaultHeaderTableSize {
			sc.meta.SetAllowedMaxDynamicTableSize(sc.cfg.decTable)
		}
		sc.mu.Lock()
		sc.settingsAcked = true
		if sc.settingsTimer != nil {
			sc.settingsTimer.Stop()
		}
		sc.mu.Unlock()
		return nil
	}
	if f.NumSettings() > maxSettings {
		return connError{http2.ErrCodeEnhanceYourCalm, "too many settings in one frame"}
	}
	// The settings are applied and the ACK queued under one hold of wmu:
	// a handler woken by a larger window takes wmu after this, so every
	// frame that uses the new settings follows the ACK on the wire, as a
	// peer that waits for the ACK before it reads on expects.
	var bad error
	err := sc.write(nil, func() error {
		if bad = f.ForeachSetting(sc.applySettingWriteLocked); bad != nil {
			return nil
		}
		return sc.fr.WriteSettingsAck()
	})
	if bad != nil {
		return bad
	}
	return err
}

// applyUpgradeSettings applies the HTTP2-Settings of an upgrade.
func (sc *serverConn) applyUpgradeSettings(p []byte) error {
	if err := sc.srv.CheckUpgradeSettings(p); err != nil {
		return connError{http2.ErrCodeProtocol, err.Error()}
	}
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	for ; len(p) > 0; p = p[6:] {
		if err := sc.applySettingWriteLocked(parseSetting(p)); err != nil {
			return err
		}
	}
	return nil
}

// applySettingWriteLocked applies one of the client's settings; repeats
// of a setting in one frame are applied in order (RFC 9113 section
// 6.5.3). wmu must be held.
func (sc *serverConn) applySettingWriteLocked(s http2.Setting) error {
	if err := checkSetting(s); err != nil {
		return err
	}
	switch s.ID {
	case http2.SettingHeaderTableSize:
		sc.henc.SetMaxDynamicTableSize(s.Val)
		sc.encRepeatOK = false // the next block starts with a table size update
	case http2.SettingMaxFrameSize:
		sc.peerMaxFrame.Store(s.Val)
	case http2.SettingInitialWindowSize:
		sc.mu.Lock()
		defer sc.mu.Unlock()
		delta := int64(s.Val) - sc.peerWindow
		sc.peerWindow = int64(s.Val)
		for _, st := range sc.streams {
			st.send += delta
			if st.send > maxWindow {
				return connError{http2.ErrCodeFlowControl, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window"}
			}
		}
		sc.sendCond.Broadcast()
	}
	return nil
}

func (sc *serverConn) processPing(f *http2.PingFrame) error {
	if !f.IsAck() {
		return sc.write(nil, func() error { return sc.fr.WritePing(true, f.Data) })
	}
	switch f.Data {
	case drainPing:
		sc.finalGoAway()
	case keepalivePing:
		sc.mu.Lock()
		sc.pingOut = false
		sc.mu.Unlock()
	}
	return nil
}

func (sc *serverConn) processWindowUpdate(f *http2.WindowUpdateFrame) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		sc.connSend += inc
		if sc.connSend > maxWindow {
			return connError{http2.ErrCodeFlowControl, "connection window above 2^31-1"}
		}
		sc.sendCond.Broadcast()
		return nil
	}
	st := sc.streams[f.StreamID]
	if st == nil {
		if sc.idleLocked(f.StreamID) {
			return connError{http2.ErrCodeProtocol, "WINDOW_UPDATE on an idle stream"}
		}
		return nil // a closed stream
	}
	st.send += inc
	if st.send > maxWindow {
		return streamError{f.StreamID, http2.ErrCodeFlowControl, "stream window above 2^31-1"}
	}
	sc.sendCond.Broadcast()
	return nil
}

func (sc *serverConn) processReset(f *http2.RSTStreamFrame) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	st := sc.streams[f.StreamID]
	if st == nil {
		if sc.idleLocked(f.StreamID) {
			return connError{http2.ErrCodeProtocol, "RST_STREAM on an idle stream"}
		}
		sc.resets.forget(f.StreamID) // ended by the client too: nothing more in flight
		return nil
	}
	st.closeLocked(fmt.Errorf("h2: stream reset by client (%v)", f.ErrCode))
	return nil
}

func (sc *serverConn) processData(f *http2.DataFrame) error {
	id := f.StreamID
	n := int64(f.Length) // padding included: it counts against flow control
	data := f.Data()
	sc.mu.Lock()
	if n > sc.connRecv {
		sc.mu.Unlock()
		return connError{http2.ErrCodeFlowControl, "DATA beyond the connection window"}
	}
	sc.connRecv -= n
	st := sc.streams[id]
	var err error
	switch {
	case st == nil && sc.idleLocked(id):
		err = connError{http2.ErrCodeProtocol, "DATA on an idle stream"}
	case st == nil && sc.ignoredLocked(id):
		// Sent before the client saw our RST_STREAM: ignored, its
		// connection credit given back. A frame that carries data
		// within the window the stream had at the reset is what a
		// correct client can have in flight, and spends no flood
		// budget: a client uploading to handlers that answer without
		// reading has many such frames in flight at every reset, and
		// budgeting them cut such clients off. A frame without data,
		// or beyond that window, spends, as the empty frames of
		// CVE-2019-9518 do.
		inFlight := len(data) > 0 && sc.resets.take(id, n)
		if f.StreamEnded() {
			sc.resets.forget(id)
		}
		sc.mu.Unlock()
		sc.giveBackConn()
		if inFlight {
			return nil
		}
		return sc.ignored()
	case st == nil || st.remoteDone:
		err = streamError{id, http2.ErrCodeStreamClosed, "DATA on a closed stream"}
	case n > st.recv:
		err = streamError{id, http2.ErrCodeFlowControl, "DATA beyond the stream window"}
	}
	if err != nil {
		sc.mu.Unlock()
		sc.giveBackConn()
		return err
	}
	st.recv -= n
	st.received += int64(len(data))
	if st.declared >= 0 && st.received > st.declared {
		sc.mu.Unlock()
		sc.giveBackConn()
		return streamError{id, http2.ErrCodeProtocol, "request body longer than its content-length"}
	}
	// Connection credit comes back once the data is buffered (see
	// giveBackConn): a stream whose handler does not read holds at most
	// its own window.
	streamBack := n - int64(len(data)) // padding
	if st.bodyClosed {
		streamBack = n
	} else if len(data) > 0 {
		if st.rn < len(st.rdst) && len(st.buf) == st.off {
			// A Read is waiting with nothing buffered: straight into its
			// buffer (see stream.rdst).
			k := copy(st.rdst[st.rn:], data)
			st.rn += k
			data = data[k:]
		}
		if len(data) > 0 {
			if st.off > 0 && len(st.buf)+len(data) > cap(st.buf) {
				// Move the unread bytes to the front rather than grow: a
				// handler that never quite drains the buffer would
				// otherwise grow it without bound.
				k := copy(st.buf, st.buf[st.off:])
				st.buf, st.off = st.buf[:k], 0
			}
			st.buf = append(st.buf, data...)
			sc.buffered += int64(len(data))
		}
		st.wakeLocked()
	}
	st.unacked += streamBack
	var streamIncr int64
	if !f.StreamEnded() {
		streamIncr = st.takeCreditLocked()
	}
	var endErr error
	if f.StreamEnded() {
		if st.declared >= 0 && st.received != st.declared {
			endErr = streamError{id, http2.ErrCodeProtocol, "request body shorter than its content-length"}
		} else {
			st.endRemoteLocked(nil)
		}
	}
	sc.mu.Unlock()
	if streamIncr > 0 {
		sc.write(st, func() error { return sc.fr.WriteWindowUpdate(id, uint32(streamIncr)) })
	}
	sc.giveBackConn()
	return endErr
}

// giveBackConn sends a connection WINDOW_UPDATE once a quarter of the
// connection window can come back. Credit comes back as soon as data is
// buffered, not when it is read, so that a stream whose handler does not
// read never blocks its neighbours; but what the client may still send
// and what the server holds unread together stay within twice the
// connection window. Beyond that, which takes many streams that are not
// read, credit waits for handlers to read (requestBody.Read), as it
// always does in x/net: memory per connection stays bounded, however many
// streams there are.
func (sc *serverConn) giveBackConn() {
	if incr := sc.takeConnCredit(); incr > 0 {
		sc.write(nil, func() error { return sc.fr.WriteWindowUpdate(0, incr) })
	}
}

// giveBackConnFromRead is giveBackConn for a handler's Read, which never
// waits in a write (creditFromRead).
func (sc *serverConn) giveBackConnFromRead() {
	if incr := sc.takeConnCredit(); incr > 0 {
		sc.creditFromRead(nil, incr)
	}
}

// takeConnCredit returns the connection credit due, if enough is, and
// counts it as given.
func (sc *serverConn) takeConnCredit() uint32 {
	w := int64(sc.cfg.connWindow)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	incr := min(w, 2*w-sc.buffered) - sc.connRecv
	if incr < w/4 {
		return 0
	}
	sc.connRecv += incr
	return uint32(incr)
}

// connCreditHeldLocked reports whether so much is buffered that
// giveBackConn holds connection credit back until handlers read.
func (sc *serverConn) connCreditHeldLocked() bool {
	return sc.buffered > int64(sc.cfg.connWindow)
}

// startTimers arms the idle, keepalive and settings timers.
func (sc *serverConn) startTimers() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if d := sc.cfg.idle; d > 0 {
		sc.idleTimer = time.AfterFunc(d, sc.onIdle)
	}
	if d := sc.cfg.readIdle; d > 0 {
		sc.readIdleTimer = time.AfterFunc(d, sc.onReadIdle)
	}
	if d := sc.cfg.settingsTimeout; d > 0 && !sc.settingsAcked {
		sc.settingsTimer = time.AfterFunc(d, sc.onSettingsTimeout)
	}
}

func (sc *serverConn) onIdle() {
	sc.mu.Lock()
	idle := sc.running == 0 && !sc.closing
	sc.mu.Unlock()
	if idle {
		sc.log.debug("closing idle connection")
		sc.closeSoon()
		sc.goAwayNow(http2.ErrCodeNo, "idle")
	}
}

func (sc *serverConn) onSettingsTimeout() {
	sc.mu.Lock()
	acked := sc.settingsAcked || sc.closing
	sc.mu.Unlock()
	if !acked {
		sc.connFail(connError{http2.ErrCodeSettingsTimeout, "SETTINGS not acknowledged in time"})
	}
}

func (sc *serverConn) onReadIdle() {
	now := time.Now().UnixNano()
	last := sc.lastRead.Load()
	sc.mu.Lock()
	if sc.closing {
		sc.mu.Unlock()
		return
	}
	switch {
	case sc.pingOut && last < sc.pingAt:
		sc.mu.Unlock()
		sc.log.debug("no answer to PING; closing connection")
		sc.c.Close()
		return
	case now-last < int64(sc.cfg.readIdle):
		sc.pingOut = false
		sc.readIdleTimer.Reset(time.Duration(int64(sc.cfg.readIdle) - (now - last)))
		sc.mu.Unlock()
		return
	}
	sc.pingOut, sc.pingAt = true, now
	sc.readIdleTimer.Reset(sc.cfg.pingTimeout)
	sc.mu.Unlock()
	sc.write(nil, func() error { return sc.fr.WritePing(false, keepalivePing) })
}

// startDrain begins the two-phase graceful shutdown: GOAWAY with the
// largest stream ID and a PING; the PING's answer (or PingTimeout) sends
// the final GOAWAY.
func (sc *serverConn) startDrain() {
	sc.mu.Lock()
	if sc.drainPhase != 0 || sc.closing {
		sc.mu.Unlock()
		return
	}
	if !sc.settingsSent {
		// The server preface (SETTINGS) must come first: serve drains
		// once it is written.
		sc.drainAsked = true
		sc.mu.Unlock()
		return
	}
	sc.drainPhase = 1
	sc.drainTimer = time.AfterFunc(sc.cfg.pingTimeout, sc.finalGoAway)
	sc.mu.Unlock()
	sc.write(nil, func() error {
		if err := sc.fr.WriteGoAway(maxStreamID, http2.ErrCodeNo, nil); err != nil {
			return err
		}
		return sc.fr.WritePing(false, drainPing)
	})
}

// finalGoAway sends the GOAWAY that names the last stream served.
func (sc *serverConn) finalGoAway() {
	sc.mu.Lock()
	if sc.drainPhase != 1 {
		sc.mu.Unlock()
		return
	}
	sc.drainTimer.Stop()
	sc.mu.Unlock()
	sc.goAwayNow(http2.ErrCodeNo, "")
}

// goAwayNow sends the final GOAWAY; the connection closes once no handler
// runs.
func (sc *serverConn) goAwayNow(code http2.ErrCode, debug string) {
	sc.mu.Lock()
	if sc.drainPhase == 2 || sc.closing {
		sc.mu.Unlock()
		return
	}
	sc.drainPhase = 2
	sc.lastID = sc.maxClientID
	last := sc.lastID
	sc.mu.Unlock()
	sc.write(nil, func() error { return sc.fr.WriteGoAway(last, code, []byte(debug)) })
	sc.mu.Lock()
	sc.finalSent = true
	sc.mu.Unlock()
	sc.maybeClose()
}

// maybeClose closes a connection that has sent its final GOAWAY once no
// handler runs. It keeps reading for a moment, so the client sees the
// last frames instead of a TCP reset.
func (sc *serverConn) maybeClose() {
	sc.mu.Lock()
	done := sc.finalSent && sc.running == 0 && len(sc.queued) == 0 && !sc.lingerDeadline && !sc.closing
	if done {
		sc.lingerDeadline = true
	}
	sc.mu.Unlock()
	if done {
		sc.closeSoon()
		sc.closeWrite()
		sc.c.SetReadDeadline(time.Now().Add(closeGraceLinger))
	}
}

// closeSoon makes sure a connection that is closing ends even if a write
// hangs (a peer that does not read, with no WriteByteTimeout): the
// connection is closed outright 2s later.
func (sc *serverConn) closeSoon() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.hardClose == nil {
		sc.hardClose = time.AfterFunc(2*closeGraceLinger, func() { sc.c.Close() })
	}
}

// closeWrite flushes what is buffered, ends all writing and, where the
// connection allows it (*net.TCPConn), shuts down its sending side, so
// the client sees the end at once while the server still reads.
func (sc *serverConn) closeWrite() {
	sc.wmu.Lock()
	if sc.werr == nil {
		sc.flushLocked()
		if sc.werr == nil {
			sc.werr = errConnClosed
		}
	}
	sc.wmu.Unlock()
	if cw, ok := sc.c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// connFail sends GOAWAY for a connection error and closes the connection.
func (sc *serverConn) connFail(err error) {
	code, reason := http2.ErrCodeInternal, err.Error()
	var ce connError
	if errors.As(err, &ce) {
		code, reason = ce.code, ce.reason
	}
	sc.mu.Lock()
	if sc.closing {
		sc.mu.Unlock()
		return
	}
	sc.drainPhase = 2
	last := sc.maxClientID
	sc.mu.Unlock()
	sc.log.debug("connection error", "code", code, "reason", reason)
	sc.closeSoon()
	sc.write(nil, func() error { return sc.fr.WriteGoAway(last, code, []byte(reason)) })
	sc.mu.Lock() // ordered with setPrefaceDeadline
	sc.failed.Store(true)
	sc.c.SetReadDeadline(time.Now()) // wakes the read loop, which tears down
	sc.mu.Unlock()
}

// teardown ends every stream, waits for the handlers and closes the
// connection.
func (sc *serverConn) teardown() {
	sc.closeSoon()
	sc.mu.Lock()
	sc.closing = true
	for _, t := range []*time.Timer{sc.idleTimer, sc.readIdleTimer, sc.settingsTimer, sc.drainTimer, sc.workerTimer, sc.stallTimer, sc.leadTimer} {
		if t != nil {
			t.Stop()
		}
	}
	for _, st := range sc.streams {
		st.closeLocked(errConnClosed)
	}
	sc.sendCond.Broadcast()
	close(sc.work) // ends the waiting workers; the read loop sends no more
	linger := sc.failed.Load() && !sc.lingerDeadline
	sc.mu.Unlock()
	sc.wmu.Lock()
	if sc.werr != nil {
		linger = false
	}
	sc.wmu.Unlock()
	sc.closeWrite()
	if linger {
		// Read what the client still sends for a moment: closing with
		// unread input would reset the connection and lose the GOAWAY.
		sc.c.SetReadDeadline(time.Now().Add(closeGraceLinger))
		io.Copy(io.Discard, io.LimitReader(&sc.br, 1<<20))
	}
	sc.c.Close()
	sc.cancel()
	sc.handlers.Wait()
	sc.mu.Lock()
	sc.hardClose.Stop()
	sc.mu.Unlock()
}

// logger adds the peer's address to debug lines.
type logger struct {
	l    *slog.Logger
	peer net.Addr
}

func (l logger) debug(msg string, args ...any) {
	l.l.Debug("h2: "+msg, append(args, "remote", l.peer)...)
}
