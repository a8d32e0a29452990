package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/molt-http/molt/h2"
)

// NewH2Engine returns an [Engine] built on molt's own HTTP/2 server,
// package [h2], configured from cfg with the defaults [New] applies:
// cfg.HTTP2's knobs, IdleTimeout, MaxHeaderBytes (advertised as
// SETTINGS_MAX_HEADER_LIST_SIZE) and Logger. Select it as the factory
// of Config.Engine; New calls it with the server's configuration:
//
//	cfg := server.Config{Addr: "127.0.0.1:8080", Handler: h}
//	cfg.Engine = server.NewH2Engine
//
// It is the default of Config.Engine; [NewXNetEngine] builds the one on
// golang.org/x/net/http2 instead. NewH2Engine reports settings that no
// engine could honour, as New does.
func NewH2Engine(cfg Config) (Engine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := cfg.HTTP2
	base := &http.Server{
		IdleTimeout:    cfg.IdleTimeout,
		MaxHeaderBytes: cfg.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return &h2Engine{base: base, srv: &h2.Server{
		MaxConcurrentStreams:         h.MaxConcurrentStreams,
		MaxReadFrameSize:             h.MaxReadFrameSize,
		MaxUploadBufferPerConnection: h.MaxUploadBufferPerConnection,
		MaxUploadBufferPerStream:     h.MaxUploadBufferPerStream,
		MaxDecoderHeaderTableSize:    h.MaxDecoderHeaderTableSize,
		MaxEncoderHeaderTableSize:    h.MaxEncoderHeaderTableSize,
		MaxHeaderListSize:            uint32(min(max(cfg.MaxHeaderBytes, 0), 1<<31-1)),
		IdleTimeout:                  noLimit(cfg.IdleTimeout),
		ReadIdleTimeout:              h.ReadIdleTimeout,
		PingTimeout:                  noLimit(h.PingTimeout),
		WriteByteTimeout:             h.WriteByteTimeout,
		DisableExtendedConnect:       h.DisableExtendedConnect,
		Logger:                       cfg.Logger,
	}}, nil
}

// noLimit maps the zero that withDefaults leaves for "no limit" to h2's
// negative "no limit" (h2 reads zero as its default).
func noLimit[T ~int64](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// h2Engine is the Engine built on package h2. base, which serves
// nothing, is the http.Server that requests find under
// http.ServerContextKey, as they do with the x/net engine.
type h2Engine struct {
	srv  *h2.Server
	base *http.Server
}

func (e *h2Engine) ServeConn(c net.Conn, opts ConnOptions) {
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if ctx.Value(http.ServerContextKey) == nil {
		ctx = context.WithValue(ctx, http.ServerContextKey, e.base)
	}
	e.srv.ServeConn(c, &h2.ServeConnOpts{
		Context:        ctx,
		Handler:        opts.Handler,
		SawPreface:     opts.SawPreface,
		UpgradeRequest: opts.Upgrade,
		Settings:       opts.Settings,
		Preamble:       opts.Preamble,
	})
	c.Close()
}

func (e *h2Engine) Drain() { e.srv.Drain() }

func (e *h2Engine) CheckSettings(p []byte) error { return e.srv.CheckUpgradeSettings(p) }
