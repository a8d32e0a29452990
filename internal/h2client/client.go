package h2client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/molt-http/molt/internal/h2meta"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const (
	// maxWindow is the largest legal flow-control window (RFC 9113 §6.9.1).
	maxWindow = 1<<31 - 1
	// maxStreamID is the largest legal stream identifier.
	maxStreamID = 1<<31 - 1
	// Protocol defaults that hold until SETTINGS say otherwise.
	defaultWindow       = 65535
	defaultMaxFrameSize = 16384
	defaultTableSize    = 4096
)

// ErrStreamRefused is wrapped by errors for requests the server provably did
// not process: the stream ID was above a GOAWAY's last-stream-id, the server
// reset the stream with REFUSED_STREAM, or the connection was closed or going
// away before the request was written. A client may retry such requests.
var ErrStreamRefused = errors.New("h2client: stream refused, request not processed")

var errClientConnClosed = errors.New("h2client: ClientConn closed")

// defaultSettings are sent when ClientOptions.Settings is nil.
var defaultSettings = []http2.Setting{
	{ID: http2.SettingEnablePush, Val: 0},
	{ID: http2.SettingInitialWindowSize, Val: 4 << 20},
}

// ClientOptions configures a ClientConn.
type ClientOptions struct {
	// Settings are sent in the client's SETTINGS frame and, for Upgrade, in
	// the HTTP2-Settings header. nil means ENABLE_PUSH=0 and
	// INITIAL_WINDOW_SIZE=4MiB. The client does not support server push:
	// a PUSH_PROMISE is treated as a connection error.
	Settings []http2.Setting

	// ConnWindow is the extra connection-level receive window announced
	// with a WINDOW_UPDATE right after the preface. 0 means a window of
	// 16 MiB in total; a negative value sends no WINDOW_UPDATE, leaving the
	// protocol default of 65,535 bytes.
	ConnWindow int32

	// ExpectContinueTimeout is how long Upgrade waits for a 100 Continue
	// before sending a request body announced with "Expect: 100-continue".
	// 0 means 1s.
	ExpectContinueTimeout time.Duration
}

// clientConfig is ClientOptions resolved and validated.
type clientConfig struct {
	settings          []http2.Setting
	streamWindow      uint32 // our SETTINGS_INITIAL_WINDOW_SIZE
	maxFrameSize      uint32 // our SETTINGS_MAX_FRAME_SIZE
	headerTableSize   uint32 // our SETTINGS_HEADER_TABLE_SIZE
	maxHeaderListSize uint32 // our SETTINGS_MAX_HEADER_LIST_SIZE, 0 if unset
	connExtra         uint32 // connection WINDOW_UPDATE sent after the preface
	expectTimeout     time.Duration
}

func (o ClientOptions) config() (clientConfig, error) {
	cfg := clientConfig{
		settings:        o.Settings,
		streamWindow:    defaultWindow,
		maxFrameSize:    defaultMaxFrameSize,
		headerTableSize: defaultTableSize,
		expectTimeout:   o.ExpectContinueTimeout,
	}
	if cfg.settings == nil {
		cfg.settings = defaultSettings
	}
	for _, s := range cfg.settings {
		if err := s.Valid(); err != nil {
			return cfg, fmt.Errorf("h2client: invalid setting %v: %w", s, err)
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			cfg.streamWindow = s.Val
		case http2.SettingMaxFrameSize:
			cfg.maxFrameSize = s.Val
		case http2.SettingHeaderTableSize:
			cfg.headerTableSize = s.Val
		case http2.SettingMaxHeaderListSize:
			cfg.maxHeaderListSize = s.Val
		}
	}
	switch {
	case o.ConnWindow == 0:
		cfg.connExtra = 16<<20 - defaultWindow
	case o.ConnWindow > maxWindow-defaultWindow:
		return cfg, fmt.Errorf("h2client: ConnWindow %d makes the connection window exceed 2^31-1", o.ConnWindow)
	case o.ConnWindow > 0:
		cfg.connExtra = uint32(o.ConnWindow)
	}
	if cfg.expectTimeout == 0 {
		cfg.expectTimeout = time.Second
	}
	return cfg, nil
}

// ClientConn is one HTTP/2 connection. Its methods are safe for concurrent
// use.
type ClientConn struct {
	conn net.Conn
	cfg  clientConfig

	// wsem is held (a token sent into it) while using bw, fr's write side,
	// henc and hbuf. It is a channel so that waiting can honour contexts.
	wsem chan struct{}
	bw   *bufio.Writer
	sw   *stampWriter // what bw writes to: stamps Send streams with their write's time
	fr   *http2.Framer
	henc *hpack.Encoder
	hbuf bytes.Buffer
	// indexedBlock is the header block that preparedBlock last encoded
	// for indexedFor, kept while it is all indexed fields and nothing
	// else has used henc since (encoderUsed).
	indexedFor   *Prepared
	indexedBlock []byte
	// DATA runs written past the Framer (writeDataRun), when the
	// connection writes vectors in one system call (vectored): their
	// frame headers, and the vector of headers and payloads.
	vectored  bool
	dataHeads []byte
	dataVec   net.Buffers

	br       *bufio.Reader           // what fr reads frames from
	meta     *h2meta.Decoder         // assembles header blocks; read loop only
	wu       http2.WindowUpdateFrame // readFrame's, reused; read loop only
	hf       http2.HeadersFrame      // readFrame's, reused; read loop only
	readDone chan struct{}           // closed once the read loop has failed every stream

	// pendingWrites counts writers that will flush bw: Send skips its
	// flush when another writer is due to flush after it, and the read
	// loop holds a count while it handles frames already buffered, so the
	// requests sent from Send callbacks leave in one write.
	pendingWrites atomic.Int32

	mu sync.Mutex
	// cond is broadcast when send windows grow, streams end, or the
	// connection stops taking requests.
	cond         *sync.Cond
	streams      streamTable // streams open on the wire
	nextStreamID uint32
	reserved     int   // RoundTrips holding a concurrency slot without a stream yet
	closeErr     error // why the connection is being closed locally
	err          error // terminal error, set when the read loop ends
	goAway       bool
	goAwayID     uint32
	goAwayCode   http2.ErrCode
	pings        map[[8]byte]chan struct{} // Pings awaiting their ACK
	pingSeq      uint64

	seenSettings      bool // the server's first SETTINGS frame was processed
	peerMaxFrame      uint32
	peerInitWindow    uint32
	peerMaxStreams    uint32
	peerMaxHeaderList uint32 // 0 means unlimited
	// peerConnectProtocol is SETTINGS_ENABLE_CONNECT_PROTOCOL=1 (RFC 8441).
	peerConnectProtocol bool

	doneQ     []*clientStream // Send streams that ended, awaiting their callback
	doneSpare []*clientStream // an empty queue to swap in, kept to save allocations
	doneN     atomic.Int32    // len(doneQ), read without the lock
	readAt    time.Time       // when the read loop last read from the network; read loop only
	noopCond  *sync.Cond      // the cond of Send streams: nobody waits on it

	sendWindow  int64 // connection-level send window
	recvAvail   int64 // bytes the peer may still send on the connection
	recvUnacked int64 // bytes consumed by the application, not yet credited back
}

// NewClientConn starts an HTTP/2 connection with prior knowledge over c: it
// writes the client preface, SETTINGS and the connection WINDOW_UPDATE, and
// starts reading frames. If it returns an error, c has been closed.
func NewClientConn(c net.Conn, opts ClientOptions) (*ClientConn, error) {
	cfg, err := opts.config()
	if err != nil {
		c.Close()
		return nil, err
	}
	cc, _, err := newClientConn(c, c, cfg, nil)
	return cc, err
}

// newClientConn starts a connection reading frames from r. If upgradeReq is
// not nil, stream 1 is created for it in state half-closed (local) and
// returned. On error c is closed.
func newClientConn(c net.Conn, r io.Reader, cfg clientConfig, upgradeReq *http.Request) (*ClientConn, *clientStream, error) {
	sw := &stampWriter{w: c, epoch: time.Now()}
	cc := &ClientConn{
		conn:           c,
		vectored:       writesVectors(c),
		cfg:            cfg,
		wsem:           make(chan struct{}, 1),
		bw:             bufio.NewWriter(sw),
		sw:             sw,
		readDone:       make(chan struct{}),
		nextStreamID:   1,
		peerMaxFrame:   defaultMaxFrameSize,
		peerInitWindow: defaultWindow,
		peerMaxStreams: math.MaxUint32,
		sendWindow:     defaultWindow,
		recvAvail:      defaultWindow + int64(cfg.connExtra),
	}
	cc.cond = sync.NewCond(&cc.mu)
	cc.noopCond = sync.NewCond(&cc.mu)
	cc.henc = hpack.NewEncoder(&cc.hbuf)
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 32<<10)
	}
	cc.br = br
	cc.fr = http2.NewFramer(cc.bw, br)
	cc.fr.SetReuseFrames() // DATA payloads are copied before the next read
	cc.fr.SetMaxReadFrameSize(cfg.maxFrameSize)
	cc.fr.MaxHeaderListSize = cfg.maxHeaderListSize
	// Header blocks are assembled by h2meta (ReadMetaHeaders stays nil),
	// which reuses its frame, field slice and decoder callback from one
	// block to the next.
	cc.meta = h2meta.NewDecoder(defaultTableSize, cfg.maxHeaderListSize)
	cc.meta.SetAllowedMaxDynamicTableSize(cfg.headerTableSize)

	// Nobody else can see cc yet, so the preface needs no write lock.
	cc.bw.WriteString(http2.ClientPreface)
	cc.fr.WriteSettings(cfg.settings...)
	if cfg.connExtra > 0 {
		cc.fr.WriteWindowUpdate(0, cfg.connExtra)
	}
	if err := cc.bw.Flush(); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("h2client: writing preface: %w", err)
	}

	var cs *clientStream
	if upgradeReq != nil {
		cc.mu.Lock()
		cs = cc.newStreamLocked(upgradeReq, 1)
		cs.localClosed = true
		cs.closeBodyOnce.Do(func() {}) // the upgrade handshake owns req.Body
		cc.nextStreamID = 3
		cc.mu.Unlock()
	}
	go cc.readLoop()
	return cc, cs, nil
}

// CanTakeNewRequest reports whether RoundTrip may open a new stream: it is
// false after a GOAWAY, after the connection closed, or once stream IDs are
// exhausted.
func (cc *ClientConn) CanTakeNewRequest() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.usableLocked() == nil
}

// usableLocked returns why no new stream can be opened, or nil.
func (cc *ClientConn) usableLocked() error {
	switch {
	case cc.err != nil:
		return fmt.Errorf("%w: connection closed: %v", ErrStreamRefused, cc.err)
	case cc.closeErr != nil:
		return fmt.Errorf("%w: connection closing: %v", ErrStreamRefused, cc.closeErr)
	case cc.goAway:
		return fmt.Errorf("%w: connection received GOAWAY (%v)", ErrStreamRefused, cc.goAwayCode)
	case cc.nextStreamID > maxStreamID:
		return fmt.Errorf("%w: stream IDs exhausted", ErrStreamRefused)
	}
	return nil
}

// GoAwayReceived reports the last-stream-id and error code of the most recent
// GOAWAY frame from the server; ok is false if none was received.
func (cc *ClientConn) GoAwayReceived() (lastStreamID uint32, code http2.ErrCode, ok bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.goAwayID, cc.goAwayCode, cc.goAway
}

// Close closes the connection, failing all its streams, and waits until its
// read loop has stopped.
func (cc *ClientConn) Close() error {
	cc.closeWithError(errClientConnClosed)
	<-cc.readDone
	return nil
}

// isClosed reports whether the connection has shut down completely.
func (cc *ClientConn) isClosed() bool {
	select {
	case <-cc.readDone:
		return true
	default:
		return false
	}
}

// closeWithError closes the network connection, recording err as the reason
// unless one was recorded before. The read loop then tears everything down.
func (cc *ClientConn) closeWithError(err error) {
	cc.mu.Lock()
	if cc.closeErr == nil {
		cc.closeErr = err
	}
	cc.mu.Unlock()
	cc.conn.Close()
}

// fatal reports a connection error to the peer with GOAWAY and closes the
// connection. It returns the error for the read loop to end with.
func (cc *ClientConn) fatal(code http2.ErrCode, cause error) error {
	err := fmt.Errorf("h2client: connection error %v: %w", code, cause)
	cc.write(context.Background(), nil, func(fr *http2.Framer) error {
		return fr.WriteGoAway(0, code, nil)
	})
	cc.closeWithError(err)
	return err
}

// teardown runs when the read loop ends: it fails every open stream and
// releases everybody waiting on the connection.
func (cc *ClientConn) teardown(readErr error) {
	cc.conn.Close() // unblocks a writer stuck in conn.Write
	cc.mu.Lock()
	err := cc.closeErr
	if err == nil {
		err = readErr
		if cc.goAway {
			err = fmt.Errorf("%w (after GOAWAY %v)", err, cc.goAwayCode)
		}
	}
	cc.err = err
	streamErr := fmt.Errorf("h2client: connection lost: %w", err)
	var failed []*clientStream
	failed = cc.streams.appendAll(failed)
	for _, cs := range failed {
		cs.abortLocked(streamErr)
	}
	cc.cond.Broadcast()
	cc.mu.Unlock()
	close(cc.readDone)
	for _, cs := range failed {
		cs.closeReqBody()
	}
	cc.runDone()
}

// lockWrite acquires the write lock, giving up when ctx is done or the
// connection is gone.
func (cc *ClientConn) lockWrite(ctx context.Context) error {
	// The lock is mostly free: take it without a blocking select, whose
	// selectgo was 7% of molt bench's CPU against h2o. A connection that
	// has ended, or a context that has, refuses it, which the select
	// below leaves to chance.
	select {
	case cc.wsem <- struct{}{}:
		select {
		case <-cc.readDone:
			<-cc.wsem
			return fmt.Errorf("h2client: connection closed: %w", cc.err)
		default:
		}
		if err := ctx.Err(); err != nil {
			<-cc.wsem
			return err
		}
		return nil
	default:
	}
	select {
	case cc.wsem <- struct{}{}:
		return nil
	case <-cc.readDone:
		return fmt.Errorf("h2client: connection closed: %w", cc.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (cc *ClientConn) unlockWrite() { <-cc.wsem }

// write runs fn under the write lock and flushes. If cs is not nil and has
// been aborted, or its body stopped (sendStopped), nothing is written and
// cs's error (or errSendStopped) is returned. An error from fn or the
// flush is fatal to the connection.
func (cc *ClientConn) write(ctx context.Context, cs *clientStream, fn func(*http2.Framer) error) error {
	if err := cc.lockWrite(ctx); err != nil {
		return err
	}
	defer cc.unlockWrite()
	if cs != nil {
		cc.mu.Lock()
		err := cs.err
		if err == nil && cs.sendStopped {
			err = errSendStopped
		}
		cc.mu.Unlock()
		if err != nil {
			return err
		}
	}
	err := fn(cc.fr)
	if err == nil {
		err = cc.bw.Flush()
	}
	if err != nil {
		err = fmt.Errorf("h2client: write: %w", err)
		cc.closeWithError(err)
	}
	return err
}

// writeHeaderBlock HPACK-encodes fields and writes them as a HEADERS frame
// followed by CONTINUATION frames as needed. The write lock must be held.
func (cc *ClientConn) writeHeaderBlock(id uint32, fields []hpack.HeaderField, endStream bool) error {
	cc.mu.Lock()
	maxFrame := int(cc.peerMaxFrame)
	cc.mu.Unlock()
	cc.encoderUsed()
	cc.hbuf.Reset()
	for _, f := range fields {
		cc.henc.WriteField(f) // writes to a bytes.Buffer cannot fail
	}
	return cc.writeBlock(id, cc.hbuf.Bytes(), endStream, maxFrame)
}

// writeBlock writes an encoded header block as a HEADERS frame followed by
// CONTINUATION frames of at most maxFrame bytes. The write lock must be
// held.
func (cc *ClientConn) writeBlock(id uint32, block []byte, endStream bool, maxFrame int) error {
	for first := true; first || len(block) > 0; first = false {
		frag := block[:min(len(block), maxFrame)]
		block = block[len(frag):]
		var err error
		if first {
			err = cc.fr.WriteHeaders(http2.HeadersFrameParam{
				StreamID:      id,
				BlockFragment: frag,
				EndStream:     endStream,
				EndHeaders:    len(block) == 0,
			})
		} else {
			err = cc.fr.WriteContinuation(id, len(block) == 0, frag)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// consumedLocked records n received bytes as consumed (read or discarded) and
// returns the connection WINDOW_UPDATE increment now due, if any. Credit is
// returned in batches of half the connection window.
func (cc *ClientConn) consumedLocked(n int64) uint32 {
	cc.recvUnacked += n
	if cc.recvUnacked == 0 || cc.recvUnacked < (defaultWindow+int64(cc.cfg.connExtra))/2 {
		return 0
	}
	incr := cc.recvUnacked
	cc.recvUnacked = 0
	cc.recvAvail += incr
	return uint32(incr)
}

// sendWindowUpdates writes WINDOW_UPDATE frames for the non-zero increments.
func (cc *ClientConn) sendWindowUpdates(streamID, streamIncr, connIncr uint32) {
	if streamIncr == 0 && connIncr == 0 {
		return
	}
	cc.write(context.Background(), nil, func(fr *http2.Framer) error {
		if connIncr > 0 {
			if err := fr.WriteWindowUpdate(0, connIncr); err != nil {
				return err
			}
		}
		if streamIncr > 0 {
			return fr.WriteWindowUpdate(streamID, streamIncr)
		}
		return nil
	})
}
