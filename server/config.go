package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Defaults applied by [New] to zero fields of [Config] and [HTTP2Config].
//
// The HTTP/2 receive windows are sixteen stream windows to one
// connection window (256 KiB and 4 MiB). Data a handler has not read
// holds connection credit (x/net's engine returns it only as handlers
// read their bodies, or close them), so with the two windows equal one
// stream whose handler stops reading (a busy WebSocket, say) stalled every
// other stream on its connection. Now a connection stalls only when
// sixteen streams each hold a full window unread; the connection window
// still bounds what one connection can make the server buffer.
const (
	DefaultReadHeaderTimeout   = 10 * time.Second
	DefaultIdleTimeout         = 120 * time.Second
	DefaultMaxHeaderBytes      = 1 << 20
	DefaultMaxUpgradeBodyBytes = 64 << 10
	DefaultUpgradeBodyTimeout  = time.Second

	DefaultMaxConcurrentStreams   = 250
	DefaultMaxReadFrameSize       = 16384   // the protocol's own default
	DefaultMaxUploadBufferPerConn = 4 << 20 // 16 × DefaultMaxUploadBufferStream; was 1 MiB
	DefaultMaxUploadBufferStream  = 256 << 10
	DefaultHeaderTableSize        = 4096
	DefaultPingTimeout            = 15 * time.Second
)

// Config configures a [Server]. The zero value of every field is a safe
// default; durations and sizes set to a negative value mean "no limit",
// except MaxHeaderBytes and the HTTP/2 upload windows, which cannot be
// turned off (New rejects a negative value).
type Config struct {
	// Addr is the TCP address ListenAndServe listens on ("127.0.0.1:8080").
	// Empty means ":http".
	Addr string

	// Handler serves every request, whichever protocol it arrived on.
	// nil means http.DefaultServeMux.
	Handler http.Handler

	// ReadHeaderTimeout bounds, as one budget, the time from accepting a
	// connection to the end of its first request's header on HTTP/1.1,
	// the sniff that tells HTTP/1.1 from HTTP/2 included (or, for HTTP/2
	// by prior knowledge, to the end of the preface). On a keep-alive
	// connection each later request's header gets the same time from its
	// first byte. Default DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration

	// ReadTimeout and WriteTimeout are net/http's whole-request timeouts for
	// HTTP/1.1. They are off by default, since they also cut long streams.
	ReadTimeout, WriteTimeout time.Duration

	// IdleTimeout closes HTTP/1.1 keep-alive and HTTP/2 connections that
	// have been idle this long. Default DefaultIdleTimeout.
	IdleTimeout time.Duration

	// MaxHeaderBytes limits the size of a request header on HTTP/1.1 and is
	// advertised as SETTINGS_MAX_HEADER_LIST_SIZE on HTTP/2.
	// Default DefaultMaxHeaderBytes. This limit cannot be turned off
	// (net/http has no unlimited setting), so unlike the other limits a
	// negative value is not "no limit": New rejects it.
	MaxHeaderBytes int

	// MaxUpgradeBodyBytes is the largest request body an h2c upgrade
	// request may carry. A larger request is not upgraded: it is served over
	// HTTP/1.1 with its whole body. Default DefaultMaxUpgradeBodyBytes; a
	// negative value allows only requests without a body to upgrade.
	MaxUpgradeBodyBytes int64

	// UpgradeBodyTimeout bounds the time the core waits for the body of an
	// h2c upgrade request, counted from the end of its header. A body that
	// takes longer is not waited for: the upgrade is declined and the
	// handler reads the body, every byte of it, over HTTP/1.1 (subject to
	// ReadTimeout, as any HTTP/1.1 body). Default DefaultUpgradeBodyTimeout;
	// a negative value waits as long as the body takes.
	UpgradeBodyTimeout time.Duration

	// DisableH2CUpgrade turns off the "Upgrade: h2c" path: such requests are
	// served over HTTP/1.1. Set it behind a reverse proxy that forwards the
	// Upgrade and Connection headers: after the 101 the proxy relays bytes
	// it cannot read, so clients could open HTTP/2 streams that the proxy
	// never inspects ("h2c smuggling").
	DisableH2CUpgrade bool

	// DisableH2CPrior turns off HTTP/2 by prior knowledge: connections are
	// not sniffed and every connection is given to net/http's HTTP/1.1
	// server (which answers a stray HTTP/2 preface with an error).
	DisableH2CPrior bool

	// DisableHTTP2 turns off both ways into HTTP/2.
	DisableHTTP2 bool

	// HTTP2 holds the knobs of the HTTP/2 engine.
	HTTP2 HTTP2Config

	// Engine builds the engine that serves HTTP/2 connections. [New]
	// calls it once, with this configuration as [Server.Config] returns
	// it (every default filled in), so the engine takes HTTP2, the
	// timeouts, MaxHeaderBytes and Logger from the same place as the
	// rest of the server. nil means [NewH2Engine], molt's own (package
	// h2); [NewXNetEngine] selects the engine built on
	// golang.org/x/net/http2:
	//
	//	cfg.Engine = server.NewXNetEngine
	Engine func(Config) (Engine, error)

	// Logger receives the server's log lines: declined upgrades and bad
	// connections at debug level, net/http's own errors at warn level.
	// nil means slog.Default().
	Logger *slog.Logger

	// ConnState, if set, is called when a connection changes state. It is
	// called from the connection's goroutine and must not block.
	ConnState func(net.Conn, Protocol, ConnState)

	// defaulted records that withDefaults has run: a second run would
	// turn the "no limit" zeros it leaves back into defaults.
	defaulted bool
}

// HTTP2Config holds the settings of the HTTP/2 engine. Zero fields take the
// Default… constants.
type HTTP2Config struct {
	// MaxConcurrentStreams is advertised as SETTINGS_MAX_CONCURRENT_STREAMS.
	MaxConcurrentStreams uint32
	// MaxReadFrameSize is advertised as SETTINGS_MAX_FRAME_SIZE; it must lie
	// within 16384..16777215.
	MaxReadFrameSize uint32
	// MaxUploadBufferPerConnection and MaxUploadBufferPerStream are the
	// flow-control windows the server grants for request bodies (and
	// WebSocket streams); defaults 4 MiB and 256 KiB. Unread data holds
	// connection window, so keep the connection window several stream
	// windows wide: equal windows let one stream that is not read stall
	// the whole connection. The connection window bounds the request data
	// one connection can make the server buffer (twice the connection
	// window with the h2 engine, which gives connection credit back as
	// data is buffered, so that one stream that is not read never stalls
	// the others).
	MaxUploadBufferPerConnection int32
	MaxUploadBufferPerStream     int32
	// MaxDecoderHeaderTableSize and MaxEncoderHeaderTableSize bound the
	// HPACK dynamic tables.
	MaxDecoderHeaderTableSize uint32
	MaxEncoderHeaderTableSize uint32
	// ReadIdleTimeout, if positive, makes the server send a PING when the
	// connection has been silent this long; PingTimeout is how long it then
	// waits for the answer before closing the connection.
	ReadIdleTimeout time.Duration
	PingTimeout     time.Duration
	// WriteByteTimeout closes a connection whose peer accepts no written
	// byte for this long. Off by default.
	WriteByteTimeout time.Duration
	// DisableExtendedConnect stops the server advertising
	// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441), so that clients open
	// WebSockets over HTTP/1.1 only, and makes a CONNECT with :protocol a
	// stream PROTOCOL_ERROR. Extended CONNECT is on by default with molt's
	// engine. The x/net engine cannot choose per server: it follows
	// GODEBUG=http2xconnect for the whole process (off unless the program
	// imports github.com/molt-http/molt/server/xconnect), and
	// [NewXNetEngine] refuses DisableExtendedConnect when the process has
	// turned it on.
	DisableExtendedConnect bool
}

// withDefaults returns c with every zero field set to its default, and
// negative durations and sizes turned into net/http's "no limit" zero.
// It is idempotent, so a configuration taken from Server.Config can be
// used again.
func (c Config) withDefaults() Config {
	if c.defaulted {
		return c
	}
	c.defaulted = true
	c.ReadHeaderTimeout = orDefault(c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	c.IdleTimeout = orDefault(c.IdleTimeout, DefaultIdleTimeout)
	c.ReadTimeout = orDefault(c.ReadTimeout, 0)
	c.WriteTimeout = orDefault(c.WriteTimeout, 0)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes // a negative value is left for validate
	}
	c.MaxUpgradeBodyBytes = orDefault(c.MaxUpgradeBodyBytes, DefaultMaxUpgradeBodyBytes)
	c.UpgradeBodyTimeout = orDefault(c.UpgradeBodyTimeout, DefaultUpgradeBodyTimeout)
	if c.Handler == nil {
		c.Handler = http.DefaultServeMux
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DisableHTTP2 {
		c.DisableH2CUpgrade, c.DisableH2CPrior = true, true
	}
	h := &c.HTTP2
	h.MaxConcurrentStreams = orDefault(h.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
	h.MaxReadFrameSize = orDefault(h.MaxReadFrameSize, DefaultMaxReadFrameSize)
	// A window cannot be unlimited: a negative one is left for validate.
	if h.MaxUploadBufferPerConnection == 0 {
		h.MaxUploadBufferPerConnection = DefaultMaxUploadBufferPerConn
	}
	if h.MaxUploadBufferPerStream == 0 {
		h.MaxUploadBufferPerStream = DefaultMaxUploadBufferStream
	}
	h.MaxDecoderHeaderTableSize = orDefault(h.MaxDecoderHeaderTableSize, DefaultHeaderTableSize)
	h.MaxEncoderHeaderTableSize = orDefault(h.MaxEncoderHeaderTableSize, DefaultHeaderTableSize)
	h.PingTimeout = orDefault(h.PingTimeout, DefaultPingTimeout)
	h.ReadIdleTimeout = orDefault(h.ReadIdleTimeout, 0)
	h.WriteByteTimeout = orDefault(h.WriteByteTimeout, 0)
	return c
}

// Validate reports, with the error [New] would return, settings of c that
// no engine could honour, once the defaults are filled in. It lets a
// program check a configuration read from outside (a file, flags) before
// handing it to molt.New, which panics on such a configuration.
func (c Config) Validate() error { return c.withDefaults().validate() }

// validate reports settings no engine could honour.
func (c Config) validate() error {
	var errs []error
	if c.MaxHeaderBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxHeaderBytes %d: the header size limit cannot be turned off (net/http has none that can); set a larger limit", c.MaxHeaderBytes))
	}
	if f := c.HTTP2.MaxReadFrameSize; f < 16384 || f > 1<<24-1 {
		errs = append(errs, fmt.Errorf("HTTP2.MaxReadFrameSize %d is outside 16384..16777215", f))
	}
	if c.HTTP2.MaxUploadBufferPerStream < 0 || c.HTTP2.MaxUploadBufferPerConnection < 0 {
		errs = append(errs, errors.New("HTTP2 upload buffers must not be negative"))
	}
	if c.HTTP2.MaxUploadBufferPerConnection > 0 && c.HTTP2.MaxUploadBufferPerConnection < 65535 {
		errs = append(errs, fmt.Errorf("HTTP2.MaxUploadBufferPerConnection %d is below the protocol's initial window of 65535", c.HTTP2.MaxUploadBufferPerConnection))
	}
	if len(errs) > 0 {
		return fmt.Errorf("server: invalid config: %w", errors.Join(errs...))
	}
	return nil
}

// orDefault returns def for a zero v, zero for a negative v, and v otherwise.
func orDefault[T int | int32 | int64 | uint32 | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}
