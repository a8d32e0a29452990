// Package molt is an HTTP server framework for Go in which one cleartext
// port speaks HTTP/1.1, HTTP/2 reached through "Upgrade: h2c" (answered
// with 101 Switching Protocols), and HTTP/2 by prior knowledge, with
// everything plain net/http underneath: handlers are http.Handler,
// middleware is func(http.Handler) http.Handler, and path parameters are
// read with r.PathValue.
//
// An [App] is a router (package router) served by molt's core (package
// server), with graceful shutdown on SIGINT and SIGTERM:
//
//	app := molt.New()
//	app.Get("/hello/{name}", func(w http.ResponseWriter, r *http.Request) {
//		fmt.Fprintf(w, "hello, %s\n", r.PathValue("name"))
//	})
//	if err := app.Run(":8080"); err != nil {
//		log.Fatal(err)
//	}
//
// [New] builds the server at once, so app.Server() is ready (for
// RegisterOnShutdown, say) before the App runs; it panics with a "molt:"
// message on a configuration no server could honour, which
// [server.Config.Validate] reports as an error beforehand.
//
// Middleware added with app.Use sees every request, whichever way it
// arrived: HTTP/1.1, stream 1 of an upgraded connection, or any HTTP/2
// stream; server.ProtocolOf tells which.
package molt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/molt-http/molt/router"
	"github.com/molt-http/molt/server"
)

// DefaultShutdownTimeout is how long an App waits, by default, for
// in-flight requests to finish once it has been told to stop.
const DefaultShutdownTimeout = 10 * time.Second

// App is a molt application: a [router.Router], whose methods (Get, Use,
// Route, Mount...) it has, and the [server.Server] that serves it on
// HTTP/1.1, h2c upgrade and h2c prior knowledge. Create it with [New],
// register routes and middleware, then call [App.Run], [App.RunContext] or
// [App.Serve].
//
// Like the server it owns, an App serves once: after a shutdown, serving
// again returns http.ErrServerClosed.
type App struct {
	*router.Router

	srv             *server.Server
	log             *slog.Logger
	shutdownTimeout time.Duration
}

// Option configures an [App]; pass options to [New].
type Option func(*options)

type options struct {
	cfg             server.Config
	logger          *slog.Logger
	shutdownTimeout time.Duration
	routerOpts      []router.Option
}

// WithConfig configures the server with cfg, the core's [server.Config].
// Its Handler is ignored: the App's router serves every request. Zero
// fields take the core's safe defaults. [New] panics if cfg is one no
// server could honour; see [server.Config.Validate].
func WithConfig(cfg server.Config) Option {
	return func(o *options) { o.cfg = cfg }
}

// WithShutdownTimeout sets how long the App waits for in-flight requests
// and streams once it has been told to stop; after that it closes the
// connections still open and reports context.DeadlineExceeded. Zero means
// [DefaultShutdownTimeout]; a negative d means no limit.
func WithShutdownTimeout(d time.Duration) Option {
	return func(o *options) { o.shutdownTimeout = d }
}

// WithLogger sets the logger of the App's own lines (listening, shutting
// down) and of the server, unless the [server.Config] given to
// [WithConfig] names a logger of its own. Without WithLogger the App
// logs to that Config.Logger, or else to slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithRouterOptions passes opts to [router.New] when the App builds its
// router.
func WithRouterOptions(opts ...router.Option) Option {
	return func(o *options) { o.routerOpts = append(o.routerOpts, opts...) }
}

// New returns an App configured by opts, with its server built, so that
// [App.Server] is ready for RegisterOnShutdown, Stats and Config before
// the App runs.
//
// New panics, with a message that starts with "molt:", if the
// configuration given to [WithConfig] is one no server could honour (an
// HTTP/2 frame size outside 16384..16777215, say): that is a programmer
// error, found at start-up, like an invalid route pattern. To check a
// configuration that comes from outside the program (a file, flags),
// call [server.Config.Validate] first, which returns the same error.
func New(opts ...Option) *App {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	a := &App{
		Router:          router.New(o.routerOpts...),
		log:             o.logger,
		shutdownTimeout: o.shutdownTimeout,
	}
	switch {
	case a.shutdownTimeout == 0:
		a.shutdownTimeout = DefaultShutdownTimeout
	case a.shutdownTimeout < 0:
		a.shutdownTimeout = 0
	}
	if a.log == nil {
		a.log = o.cfg.Logger
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	cfg := o.cfg
	cfg.Handler = a.Router
	if cfg.Logger == nil {
		cfg.Logger = a.log
	}
	srv, err := server.New(cfg)
	if err != nil {
		panic("molt: New: " + err.Error())
	}
	a.srv = srv
	return a
}

// Server returns the core server that serves the App, for its Stats,
// Config, RegisterOnShutdown and the like. It is never nil, and hooks
// registered before the App runs are run when it shuts down.
func (a *App) Server() *server.Server { return a.srv }

// Handler returns the handler the server calls for every request: the
// router with its middleware. Use it to test an App with httptest or
// internal/h2ctest, or to serve it on another server.
func (a *App) Handler() http.Handler { return a.Router }

// Run serves on the TCP address addr (":8080"; empty means the Addr of
// the server's Config, or ":http") until the process receives SIGINT or
// SIGTERM, then shuts down gracefully: see [App.Serve]. A second signal
// during the shutdown ends the process at once, as if Run had not caught
// the first.
func (a *App) Run(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // give the next signal its default action back
	}()
	return a.RunContext(ctx, addr)
}

// RunContext serves on the TCP address addr (empty means the Addr of the
// server's Config, or ":http") until ctx ends, then shuts down gracefully:
// see [App.Serve].
func (a *App) RunContext(ctx context.Context, addr string) error {
	if addr == "" {
		addr = a.srv.Config().Addr
	}
	if addr == "" {
		addr = ":http"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return a.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, sends GOAWAY to every HTTP/2 connection, lets in-flight
// requests and streams finish and runs the hooks registered with
// Server().RegisterOnShutdown, for at most the shutdown timeout. It
// returns nil after a clean shutdown, and otherwise the error of the
// shutdown (wrapping context.DeadlineExceeded if requests were still
// running when the timeout ran out) or of the listener.
//
// If the server is shut down or closed directly, through [App.Server],
// Serve returns http.ErrServerClosed, as net/http does; so does serving an
// App that has already been shut down.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	addr := ln.Addr().String()
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Serve(ln) }()
	a.log.LogAttrs(ctx, slog.LevelInfo, "listening",
		slog.String("addr", addr),
		slog.String("protocols", strings.Join(a.protocols(), ",")))

	var serveErr error
	select {
	case serveErr = <-errc:
		if errors.Is(serveErr, http.ErrServerClosed) {
			return serveErr
		}
		// The listener failed; still let the open connections finish.
	case <-ctx.Done():
	}
	attrs := []slog.Attr{slog.String("addr", addr)}
	sctx := context.WithoutCancel(ctx)
	if a.shutdownTimeout > 0 {
		attrs = append(attrs, slog.Duration("timeout", a.shutdownTimeout))
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(sctx, a.shutdownTimeout)
		defer cancel()
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "shutting down", attrs...)
	err := a.srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("molt: requests still running after the shutdown timeout of %v: %w", a.shutdownTimeout, err)
	}
	if serveErr == nil {
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
			serveErr = serr
		}
	}
	return errors.Join(serveErr, err)
}

// protocols lists the ways into the server its configuration leaves open.
func (a *App) protocols() []string {
	cfg := a.srv.Config()
	p := []string{string(server.H1)}
	if !cfg.DisableH2CUpgrade {
		p = append(p, string(server.H2CUpgrade))
	}
	if !cfg.DisableH2CPrior {
		p = append(p, string(server.H2CPrior))
	}
	return p
}
