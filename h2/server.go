package h2

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults applied to zero fields of [Server]. A negative duration or size
// means "no limit" where the field's comment says so.
const (
	DefaultMaxConcurrentStreams   = 250
	DefaultMaxReadFrameSize       = 16384 // the protocol's own default
	DefaultMaxUploadBufferPerConn = 1 << 20
	DefaultMaxUploadBufferStream  = 1 << 20
	DefaultHeaderTableSize        = 4096
	DefaultMaxHeaderListSize      = 1 << 20
	DefaultIdleTimeout            = 120 * time.Second
	DefaultPingTimeout            = 15 * time.Second
	DefaultSettingsTimeout        = 10 * time.Second

	// DefaultPeerStallTimeout bounds, when WriteByteTimeout is off, how
	// long the read loop waits to write its answers (SETTINGS and PING
	// ACKs, RST_STREAM, WINDOW_UPDATE) to a peer that accepts no bytes;
	// then the connection is closed. Handlers' writes are not bounded by
	// it: they block, as on net/http, until the peer reads, the
	// connection ends or a write deadline passes.
	DefaultPeerStallTimeout = 30 * time.Second
)

// Server is an HTTP/2 server for connections that are already
// established, cleartext or not: [Server.ServeConn] serves one net.Conn.
// The zero value is ready to use, with the Default… constants for every
// zero field. A Server must not be copied after first use, and its fields
// must not change while it serves.
type Server struct {
	// MaxConcurrentStreams is advertised as SETTINGS_MAX_CONCURRENT_STREAMS.
	// A stream keeps its place until its handler returns, even after a
	// reset, so the limit bounds running handlers too.
	MaxConcurrentStreams uint32

	// MaxReadFrameSize is advertised as SETTINGS_MAX_FRAME_SIZE; it is
	// clamped to 16384..16777215.
	MaxReadFrameSize uint32

	// MaxUploadBufferPerConnection and MaxUploadBufferPerStream are the
	// flow-control windows granted for request bodies: the connection
	// window (at least 65535) and SETTINGS_INITIAL_WINDOW_SIZE. A stream
	// buffers at most its window, and a connection at most twice its
	// window over all its streams: connection credit comes back as data
	// is buffered until the unread data passes the connection window, and
	// then only as handlers read.
	MaxUploadBufferPerConnection int32
	MaxUploadBufferPerStream     int32

	// MaxDecoderHeaderTableSize is advertised as SETTINGS_HEADER_TABLE_SIZE;
	// MaxEncoderHeaderTableSize caps the table used for responses.
	MaxDecoderHeaderTableSize uint32
	MaxEncoderHeaderTableSize uint32

	// MaxHeaderListSize is advertised as SETTINGS_MAX_HEADER_LIST_SIZE; a
	// request whose header list is larger is answered with 431.
	MaxHeaderListSize uint32

	// IdleTimeout closes a connection (GOAWAY NO_ERROR) that has had no
	// running handler for this long, including a new connection that never
	// sends a request. Default DefaultIdleTimeout; negative means none.
	IdleTimeout time.Duration

	// ReadIdleTimeout, if positive, makes the server send a PING once
	// nothing has been read for this long; PingTimeout (default
	// DefaultPingTimeout) is how long it then waits for any frame before
	// closing the connection.
	ReadIdleTimeout time.Duration
	PingTimeout     time.Duration

	// SettingsTimeout is how long the peer has to acknowledge the server's
	// SETTINGS, after which the connection ends with SETTINGS_TIMEOUT.
	// Default DefaultSettingsTimeout; negative means no limit.
	SettingsTimeout time.Duration

	// WriteByteTimeout, if positive, closes a connection whose peer does
	// not accept written bytes for this long: every write to the
	// connection must finish within it. When it is off, the read loop
	// still waits at most DefaultPeerStallTimeout for a write of its own.
	WriteByteTimeout time.Duration

	// DisableExtendedConnect turns off RFC 8441 extended CONNECT, which is
	// on by default (SETTINGS_ENABLE_CONNECT_PROTOCOL = 1).
	DisableExtendedConnect bool

	// Logger receives debug lines about bad peers and errors about
	// panicking handlers. nil means slog.Default().
	Logger *slog.Logger

	mu       sync.Mutex
	conns    map[*serverConn]struct{}
	draining bool // Drain has been called

	// testHookPrefaceDeadline, if set, runs before a connection's
	// readPreface sets its deadline. A field rather than a package
	// variable, so that a test's hook reaches its own servers only.
	testHookPrefaceDeadline func()
}

// ServeConnOpts are the per-connection options of [Server.ServeConn].
type ServeConnOpts struct {
	// Context is the base of every request context on the connection.
	// nil means context.Background(). ServeConn adds
	// http.LocalAddrContextKey if it is missing.
	Context context.Context

	// Handler serves every stream. nil means http.DefaultServeMux.
	Handler http.Handler

	// SawPreface reports that the client preface has already been read
	// from the connection; otherwise ServeConn reads it first.
	SawPreface bool

	// UpgradeRequest, if non-nil, is the request of an h2c upgrade: it is
	// served as stream 1, half-closed (remote), with its body as it is.
	UpgradeRequest *http.Request

	// Settings holds the decoded payload of an upgrade's HTTP2-Settings
	// header, applied as a SETTINGS frame from the client that needs no
	// acknowledgement.
	Settings []byte

	// Preamble, if not empty, is written to c before the server's first
	// frame, in the same write: the "101 Switching Protocols" response of
	// an h2c upgrade, which the caller then leaves unwritten. With an
	// UpgradeRequest, the server sends its SETTINGS without waiting for
	// the client preface (RFC 9113 section 3.2), and holds that first
	// write until stream 1's handler has begun, so that a handler that
	// answers at once has its response in it too.
	Preamble []byte
}

// ServeConn serves HTTP/2 on c until the connection ends, then closes c.
// It returns once every handler on the connection has returned.
func (s *Server) ServeConn(c net.Conn, opts *ServeConnOpts) {
	if opts == nil {
		opts = &ServeConnOpts{}
	}
	sc := newServerConn(s, c, opts)
	s.track(sc, true)
	defer s.track(sc, false)
	sc.serve(opts)
}

// Drain starts a graceful shutdown of every connection the Server is
// serving: each gets a GOAWAY that announces it, then, one round trip
// later, the final GOAWAY naming the last stream it will serve. Streams
// already started run to completion, and each connection closes once
// their handlers have returned. Drain returns at once, even when a peer
// reads nothing and its connection's writes block. It stays in effect: a
// connection that ServeConn begins later is drained as soon as it has
// sent its SETTINGS, so it serves at most the streams the client opens
// before it reads the GOAWAY.
func (s *Server) Drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	for sc := range s.conns {
		// The GOAWAY is written in a goroutine of its own: a write to a
		// peer that does not read blocks until the connection ends, and
		// must hold up neither the other connections nor the caller
		// (a Shutdown and its deadline).
		go sc.startDrain()
	}
}

func (s *Server) track(sc *serverConn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, sc)
		return
	}
	if s.conns == nil {
		s.conns = make(map[*serverConn]struct{})
	}
	s.conns[sc] = struct{}{}
	if s.draining {
		// Nothing is written yet: startDrain only marks the connection,
		// and serve sends the GOAWAY after its SETTINGS.
		sc.startDrain()
	}
}

// config is a Server's knobs with defaults applied.
type config struct {
	maxStreams      uint32
	maxFrame        uint32
	connWindow      int32
	streamWindow    int32
	decTable        uint32
	encTable        uint32
	maxHeaderList   uint32
	idle            time.Duration
	readIdle        time.Duration
	pingTimeout     time.Duration
	settingsTimeout time.Duration
	writeTimeout    time.Duration
	extendedConnect bool
	log             *slog.Logger
}

func (s *Server) config() config {
	c := config{
		maxStreams:      orDefault(s.MaxConcurrentStreams, DefaultMaxConcurrentStreams),
		maxFrame:        min(max(orDefault(s.MaxReadFrameSize, DefaultMaxReadFrameSize), 16384), 1<<24-1),
		connWindow:      max(orDefault(s.MaxUploadBufferPerConnection, DefaultMaxUploadBufferPerConn), 65535),
		streamWindow:    orDefault(s.MaxUploadBufferPerStream, DefaultMaxUploadBufferStream),
		decTable:        orDefault(s.MaxDecoderHeaderTableSize, DefaultHeaderTableSize),
		encTable:        orDefault(s.MaxEncoderHeaderTableSize, DefaultHeaderTableSize),
		maxHeaderList:   orDefault(s.MaxHeaderListSize, DefaultMaxHeaderListSize),
		idle:            orDefault(s.IdleTimeout, DefaultIdleTimeout),
		readIdle:        orDefault(s.ReadIdleTimeout, 0),
		pingTimeout:     orDefault(s.PingTimeout, DefaultPingTimeout),
		settingsTimeout: orDefault(s.SettingsTimeout, DefaultSettingsTimeout),
		writeTimeout:    orDefault(s.WriteByteTimeout, 0),
		extendedConnect: !s.DisableExtendedConnect,
		log:             s.Logger,
	}
	if c.pingTimeout == 0 {
		c.pingTimeout = max(c.readIdle, DefaultPingTimeout) // "no limit": wait long
	}
	if c.streamWindow <= 0 {
		c.streamWindow = DefaultMaxUploadBufferStream
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c
}

// orDefault returns def for a zero v, zero for a negative v, and v otherwise.
func orDefault[T int32 | uint32 | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}
