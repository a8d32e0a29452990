package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/net/http2"
)

// Engine serves HTTP/2 on connections that a Server hands it, after the
// Server has recognised the preface or accepted an h2c upgrade, whose 101
// the engine writes (ConnOptions.Preamble): an engine that ignored it
// would leave the client waiting for the 101. More than
// one engine can exist; the same protocol tests run against each. A
// Server builds its engine through Config.Engine: [NewH2Engine] (the
// default) or [NewXNetEngine].
//
// Whatever the engine, handlers get net/http's ResponseWriter contract,
// which molt's other packages rely on: 1xx responses through
// WriteHeader and [WriteInformational]; trailers, declared in the
// Trailer header or set with http.TrailerPrefix; http.ResponseController's
// Flush, SetReadDeadline, SetWriteDeadline and EnableFullDuplex (Hijack
// fails with http.ErrNotSupported: an HTTP/2 stream has no connection of
// its own to hand over); an extended CONNECT's :protocol (RFC 8441) in
// r.Header[":protocol"]; and a request context that ends when the stream
// is reset, the connection is lost or the handler returns.
type Engine interface {
	// ServeConn serves HTTP/2 on c until the connection ends, then closes c.
	// It blocks.
	ServeConn(c net.Conn, opts ConnOptions)

	// Drain starts a graceful shutdown of every connection the engine is
	// serving: each gets GOAWAY, its in-flight streams run to completion,
	// and it closes once they have. Drain returns at once. It stays in
	// effect: a connection that ServeConn begins after it is drained too,
	// as soon as it has sent its SETTINGS.
	Drain()

	// CheckSettings reports whether the engine accepts p, the decoded
	// HTTP2-Settings of an h2c upgrade request (whole settings of six
	// bytes each), as the first SETTINGS of a connection. The Server asks
	// before it accepts the upgrade (and hands the engine the 101 to
	// write) and declines it on an error (the request is served over
	// HTTP/1.1), so that no upgrade is answered with 101 and then refused
	// by the engine.
	CheckSettings(p []byte) error
}

// ConnOptions describe one connection handed to an Engine.
type ConnOptions struct {
	// Context is the base context of every request on the connection.
	Context context.Context
	// Handler serves every stream.
	Handler http.Handler
	// SawPreface reports that the client preface has already been read
	// from the connection (prior knowledge); otherwise the engine reads it.
	SawPreface bool
	// Upgrade, if non-nil, is the request of an h2c upgrade: the engine
	// serves it as stream 1, half-closed (remote), before anything else.
	// The engine gives stream 1 a context of its own, derived from
	// Context and ended like every stream's (when the stream is reset,
	// the connection ends or the handler returns); the context Upgrade
	// carries is not used.
	Upgrade *http.Request
	// Settings holds the decoded HTTP2-Settings of an upgrade request,
	// which CheckSettings has accepted; the engine applies them as if
	// received in a SETTINGS frame.
	Settings []byte
	// Preamble, if not empty, is the upgrade's "101 Switching Protocols"
	// response, which the Server has not written: the engine writes it
	// before anything else, and may write its first frames with it, in
	// the same write (molt's engine sends it with its SETTINGS, and with
	// stream 1's response if the handler answers at once; the x/net
	// engine writes it alone, then lets x/net begin). It must not wait
	// for the client's preface to write it: a client sends its preface
	// once it has the 101. It is shared: the engine must not modify it.
	Preamble []byte
}

// xnetEngine is the Engine built on golang.org/x/net/http2.Server.ServeConn.
//
// Graceful shutdown goes through http2.ConfigureServer on a private
// http.Server that never serves anything: its Shutdown runs the hook that
// sends GOAWAY to every connection served by the http2.Server. That hook
// exists on Go 1.26 (x/net's own server) and on Go 1.27 (x/net wraps
// net/http's server), provided that on Go 1.27 ServeConnOpts.BaseConfig
// stays nil (see baseConfig).
type xnetEngine struct {
	h2      *http2.Server
	trigger *http.Server
	log     *slog.Logger
	drained atomic.Bool
	mu      sync.Mutex // serialises the trigger's Shutdown
}

// NewXNetEngine returns the [Engine] built on golang.org/x/net/http2's
// Server.ServeConn, configured from cfg: cfg.HTTP2's knobs, IdleTimeout,
// MaxHeaderBytes and Logger. Select it as the factory of Config.Engine
// (the default is [NewH2Engine]):
//
//	cfg.Engine = server.NewXNetEngine
//
// Its extended CONNECT (RFC 8441, WebSockets over HTTP/2) is one switch
// for the whole process, off unless the program imports
// github.com/molt-http/molt/server/xconnect or runs with
// GODEBUG=http2xconnect=1; HTTP2.DisableExtendedConnect is refused while
// that switch is on, since this engine cannot honour it. It reports
// settings that no engine could honour, as [New] does.
func NewXNetEngine(cfg Config) (Engine, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	h := c.HTTP2
	if h.DisableExtendedConnect && xnetExtendedConnect() {
		return nil, errors.New("server: HTTP2.DisableExtendedConnect: the x/net engine cannot turn extended CONNECT off per server while GODEBUG=http2xconnect=1 turns it on for the process; use NewH2Engine")
	}
	h2 := &http2.Server{
		MaxConcurrentStreams:         h.MaxConcurrentStreams,
		MaxReadFrameSize:             h.MaxReadFrameSize,
		MaxUploadBufferPerConnection: h.MaxUploadBufferPerConnection,
		MaxUploadBufferPerStream:     h.MaxUploadBufferPerStream,
		MaxDecoderHeaderTableSize:    h.MaxDecoderHeaderTableSize,
		MaxEncoderHeaderTableSize:    h.MaxEncoderHeaderTableSize,
		ReadIdleTimeout:              h.ReadIdleTimeout,
		PingTimeout:                  h.PingTimeout,
		WriteByteTimeout:             h.WriteByteTimeout,
		IdleTimeout:                  c.IdleTimeout,
	}
	trigger := &http.Server{
		IdleTimeout:    c.IdleTimeout,
		MaxHeaderBytes: c.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(c.Logger.Handler(), slog.LevelWarn),
	}
	if err := http2.ConfigureServer(trigger, h2); err != nil {
		return nil, err
	}
	return &xnetEngine{h2: h2, trigger: trigger, log: c.Logger}, nil
}

func (e *xnetEngine) ServeConn(c net.Conn, opts ConnOptions) {
	if len(opts.Preamble) > 0 {
		// x/net writes its SETTINGS from a goroutine of its own, and
		// flushes them only once it has read the client's preface, which
		// the client sends after the 101: the 101 goes first, alone.
		if _, err := c.Write(opts.Preamble); err != nil {
			e.log.Debug("h2c upgrade: writing 101 failed", "remote", c.RemoteAddr(), "err", err)
			c.Close()
			return
		}
	}
	h := opts.Handler
	up := opts.Upgrade
	if up != nil {
		ctx, cancel := context.WithCancel(opts.Context)
		defer cancel()
		up = up.WithContext(context.WithValue(ctx, stream1Key{}, true))
		h = stream1Context(h)
	}
	e.h2.ServeConn(&xnetConn{Conn: c, e: e}, &http2.ServeConnOpts{
		Context:          opts.Context,
		BaseConfig:       baseConfig(e.trigger),
		Handler:          h,
		SawClientPreface: opts.SawPreface,
		UpgradeRequest:   up,
		Settings:         opts.Settings,
	})
	c.Close()
}

func (e *xnetEngine) Drain() {
	e.drained.Store(true)
	e.goAway()
}

// goAway sends GOAWAY to every connection x/net has registered.
func (e *xnetEngine) goAway() {
	e.mu.Lock()
	defer e.mu.Unlock()
	// The trigger has no listeners and no connections of its own, so its
	// Shutdown only starts the registered hooks (GOAWAY) and returns.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = e.trigger.Shutdown(ctx)
}

// CheckSettings accepts what x/net applies from an upgrade: each setting
// valid by http2.Setting.Valid (x/net sets no limit on their number),
// and SETTINGS_NO_RFC7540_PRIORITIES 0 or 1 (RFC 9218 section 2.1), which
// x/net does not check.
func (e *xnetEngine) CheckSettings(p []byte) error {
	for ; len(p) >= 6; p = p[6:] {
		s := http2.Setting{ID: http2.SettingID(binary.BigEndian.Uint16(p)), Val: binary.BigEndian.Uint32(p[2:])}
		if err := s.Valid(); err != nil {
			return fmt.Errorf("setting %v: %w", s, err)
		}
		if s.ID == settingNoRFC7540Priorities && s.Val > 1 {
			return fmt.Errorf("setting %v: must be 0 or 1", s)
		}
	}
	if len(p) != 0 {
		return errors.New("HTTP2-Settings is not a whole number of settings")
	}
	return nil
}

// settingNoRFC7540Priorities is SETTINGS_NO_RFC7540_PRIORITIES (RFC 9218).
const settingNoRFC7540Priorities http2.SettingID = 0x9

// xnetConn is the connection as x/net sees it. x/net registers a
// connection for the GOAWAY hook before it writes anything, so the first
// Write of a connection that began after Drain (its SETTINGS) drains it:
// either Drain's own GOAWAY reached the registered connection, or the
// Write sees drained.
type xnetConn struct {
	net.Conn
	e       *xnetEngine
	checked atomic.Bool
}

func (c *xnetConn) Write(p []byte) (int, error) {
	if !c.checked.Load() && !c.checked.Swap(true) && c.e.drained.Load() {
		go c.e.goAway() // the hook writes to this connection: not from inside its Write
	}
	return c.Conn.Write(p)
}

// stream1Key marks the context the x/net engine gives stream 1 (later
// streams' contexts derive from the connection's, without it).
type stream1Key struct{}

// stream1Context wraps h so that stream 1 of an upgraded connection gets a
// context that ends with the stream. x/net (and net/http, which x/net wraps
// on Go 1.27) gives every stream a context it cancels on RST_STREAM and at
// the stream's end, except stream 1: its handler gets the upgrade request
// with the context that request came with, which ServeConn made for it
// (marked with stream1Key) and cancels when the connection ends. Its end
// shows only through the ResponseWriter's CloseNotify, since its request
// body is the core's and not x/net's, so that is what is watched.
func stream1Context(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn, ok := w.(http.CloseNotifier)
		if r.Context().Value(stream1Key{}) == nil || !ok {
			h.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		closed := cn.CloseNotify()
		go func() {
			select {
			case <-closed:
				cancel()
			case <-ctx.Done():
			}
		}()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// xnetExtendedConnect reports whether golang.org/x/net/http2 accepts
// extended CONNECT in this process. x/net read GODEBUG once, at its init,
// which ran before this package's (a dependency's), so this reads it at
// init too: a later change of GODEBUG reaches neither.
func xnetExtendedConnect() bool { return xnetGODEBUG }

var xnetGODEBUG = strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1")
