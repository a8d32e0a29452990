package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"golang.org/x/net/http2"
)

// Engine serves HTTP/2 on connections that a Server hands it, after the
// Server has recognised the preface or completed an h2c upgrade. More than
// one engine can exist; the same protocol tests run against each.
type Engine interface {
	// ServeConn serves HTTP/2 on c until the connection ends, then closes c.
	// It blocks.
	ServeConn(c net.Conn, opts ConnOptions)

	// Drain starts a graceful shutdown of every connection the engine is
	// serving: each gets GOAWAY, its in-flight streams run to completion,
	// and it closes once they have. Drain returns at once. The Server may
	// call it more than once; later calls reach connections that began
	// after the earlier ones.
	Drain()
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
	// The handler of stream 1 must get a context derived from Upgrade's
	// that ends when the stream is reset or closed, like every stream's;
	// Upgrade's own context lives as long as the connection.
	Upgrade *http.Request
	// Settings holds the decoded HTTP2-Settings of an upgrade request; the
	// engine applies them as if received in a SETTINGS frame.
	Settings []byte
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
	mu      sync.Mutex // serialises Drain
}

// newXNetEngine returns the x/net engine with the knobs of c, whose
// defaults must already be applied.
func newXNetEngine(c Config) (*xnetEngine, error) {
	h := c.HTTP2
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
	return &xnetEngine{h2: h2, trigger: trigger}, nil
}

func (e *xnetEngine) ServeConn(c net.Conn, opts ConnOptions) {
	h := opts.Handler
	if opts.Upgrade != nil {
		h = stream1Context(opts.Upgrade.Context(), h)
	}
	e.h2.ServeConn(c, &http2.ServeConnOpts{
		Context:          opts.Context,
		BaseConfig:       baseConfig(e.trigger),
		Handler:          h,
		SawClientPreface: opts.SawPreface,
		UpgradeRequest:   opts.Upgrade,
		Settings:         opts.Settings,
	})
	c.Close()
}

func (e *xnetEngine) Drain() {
	e.mu.Lock()
	defer e.mu.Unlock()
	// The trigger has no listeners and no connections of its own, so its
	// Shutdown only starts the registered hooks (GOAWAY) and returns.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = e.trigger.Shutdown(ctx)
}

// stream1Context wraps h so that stream 1 of an upgraded connection gets a
// context that ends with the stream. x/net (and net/http, which x/net wraps
// on Go 1.27) gives every stream a context it cancels on RST_STREAM and at
// the stream's end, except stream 1: its handler gets the upgrade request
// with the context that request came with, upgradeCtx, which lives as long
// as the connection. Stream 1 is the one request whose context is
// upgradeCtx itself (later streams get contexts derived from it). Its end
// shows only through the ResponseWriter's CloseNotify, since its request
// body is the core's and not x/net's, so that is what is watched.
func stream1Context(upgradeCtx context.Context, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn, ok := w.(http.CloseNotifier)
		if r.Context() != upgradeCtx || !ok {
			h.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(upgradeCtx)
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
