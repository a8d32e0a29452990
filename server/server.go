package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.1, h2c upgrade and h2c prior knowledge on every
// listener it is given. Create it with New; it can serve only once: after
// Shutdown or Close, Serve returns http.ErrServerClosed.
type Server struct {
	cfg    Config
	log    *slog.Logger
	engine Engine
	h1     *http.Server // serves the connections that queue passes it
	h2     http.Handler // the engine's handler for every stream
	queue  *connQueue
	ctx    context.Context // base of every request context; ends with Close
	cancel context.CancelFunc
	stats  counters

	h1Once sync.Once

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*conn]struct{}
	hooks     map[int]func()
	nextHook  int
	connGone  chan struct{} // a value after a connection is forgotten

	// sniffs counts the connections Serve has accepted that serveConn has
	// not handed on or closed yet, and those handed to net/http whose
	// first request it has not read yet (Add under mu, in track).
	sniffs sync.WaitGroup

	draining atomic.Bool // Shutdown or Close has begun
}

// New returns a Server for cfg, with defaults filled in. It reports
// settings that no engine could honour.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	newEngine := cfg.Engine
	if newEngine == nil {
		newEngine = NewH2Engine
	}
	engine, err := newEngine(cfg)
	if err != nil {
		return nil, err
	}
	if engine == nil {
		return nil, errors.New("server: Config.Engine returned no engine")
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		engine:    engine,
		queue:     newConnQueue(),
		listeners: make(map[*net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		hooks:     make(map[int]func()),
		connGone:  make(chan struct{}, 1),
	}
	s.stats.init()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.h2 = http.HandlerFunc(s.serveH2)
	s.h1 = &http.Server{
		Handler:                      http.HandlerFunc(s.serveH1),
		ReadHeaderTimeout:            cfg.ReadHeaderTimeout,
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 cfg.WriteTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		MaxHeaderBytes:               cfg.MaxHeaderBytes,
		DisableGeneralOptionsHandler: true, // molt answers OPTIONS * itself, after an upgrade
		ErrorLog:                     slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		BaseContext:                  func(net.Listener) context.Context { return s.ctx },
		ConnContext:                  s.h1ConnContext,
		ConnState:                    s.h1ConnState,
		Protocols:                    new(http.Protocols),
	}
	s.h1.Protocols.SetHTTP1(true)
	return s, nil
}

// Config returns the server's configuration with every default filled in.
func (s *Server) Config() Config { return s.cfg }

// ListenAndServe listens on Config.Addr and serves until Shutdown or Close.
// It returns http.ErrServerClosed then.
func (s *Server) ListenAndServe() error {
	if s.draining.Load() {
		return http.ErrServerClosed
	}
	addr := s.cfg.Addr
	if addr == "" {
		addr = ":http"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// ErrTLSListener is returned by Serve when its listener yields TLS
// connections (a tls.NewListener, say). molt serves cleartext only: a TLS
// connection would be served with r.TLS nil and its ALPN ignored, so it
// is refused rather than served wrongly. Terminate TLS in front of molt,
// or serve TLS with net/http's own Server.ServeTLS.
var ErrTLSListener = errors.New("server: the listener yields TLS connections, and molt serves cleartext only")

// Serve accepts connections on ln and serves each in its own goroutine
// until Shutdown or Close, which close ln; it then returns
// http.ErrServerClosed. Serve may be called for several listeners at once.
// If ln yields a TLS connection, Serve closes it and ln and returns an
// error wrapping [ErrTLSListener].
func (s *Server) Serve(ln net.Listener) error {
	if !s.trackListener(&ln, true) {
		ln.Close()
		return http.ErrServerClosed
	}
	defer s.trackListener(&ln, false)
	s.h1Once.Do(func() {
		go func() {
			if err := s.h1.Serve(s.queue); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("HTTP/1.1 server stopped", "err", err)
			}
		}()
	})
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.draining.Load() {
				return http.ErrServerClosed
			}
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if _, ok := nc.(interface{ ConnectionState() tls.ConnectionState }); ok {
			nc.Close()
			ln.Close()
			return fmt.Errorf("%w (accepted a %T from %v)", ErrTLSListener, nc, ln.Addr())
		}
		c := &conn{Conn: nc, srv: s, accepted: time.Now()}
		if !s.track(c) {
			nc.Close()
			continue
		}
		go s.serveConn(c)
	}
}

// serveConn decides, from the first bytes, which protocol c speaks.
//
// Until it has handed c on (or closed it), and for HTTP/1.x until
// net/http has read c's first request, c counts in s.sniffs: Shutdown
// waits for that (within ShutdownSniffGrace) before it shuts net/http's
// server down, so that a connection whose first request was on its way
// when Shutdown began is still served (see Shutdown).
func (s *Server) serveConn(c *conn) {
	c.setState("", StateNew)
	if s.cfg.DisableH2CPrior {
		c.endSniff() // no sniff: net/http's read deadlines and shutdown rules apply from the start
		s.handOverHTTP1(c)
		return
	}
	timeout := s.cfg.ReadHeaderTimeout
	if timeout > 0 {
		// What is left of the budget that started at accept (at least a
		// nanosecond: zero would mean no deadline).
		timeout = max(time.Until(c.accepted.Add(timeout)), time.Nanosecond)
	}
	v, err := sniff(c, timeout)
	switch {
	case err != nil:
		s.stats.sniffFailures.Add(1)
		s.log.Debug("connection closed before it showed its protocol", "remote", c.RemoteAddr(), "err", err)
		c.Close()
		s.sniffs.Done()
	case v == isJunk:
		// Answering would be wrong for HTTP/2 (a 400 is no frame) and
		// useless for HTTP/1.x: close without writing anything.
		s.stats.sniffFailures.Add(1)
		s.log.Debug("connection closed: its first bytes are neither the HTTP/2 preface nor an HTTP/1.x request line", "remote", c.RemoteAddr())
		c.Close()
		s.sniffs.Done()
	case v == isHTTP2:
		// During a shutdown too: Drain is in effect for the engine, so
		// the connection gets GOAWAY after its SETTINGS, naming the
		// streams the client had sent by then, which are served.
		c.info = connInfo{proto: H2CPrior, srv: s, conn: c}
		s.sniffs.Done()
		s.serveHTTP2(c, withConnInfo(s.ctx, &c.info), H2CPrior, nil, nil, nil)
	default:
		s.handOverHTTP1(c)
	}
}

// handOverHTTP1 hands c to net/http, counted in s.sniffs until net/http
// has read its first request or c is closed (see conn.h1Pending).
func (s *Server) handOverHTTP1(c *conn) {
	c.h1Pending.Store(true)
	if c.gone.Load() {
		c.h1Read() // closed already: forget may have looked before h1Pending was set
	}
	s.serveHTTP1(c)
}

// serveHTTP1 hands c to net/http. ReadHeaderTimeout is one budget from
// accept to the end of the first request's header: net/http would start
// its own for the header read, so c holds net/http's first read deadline
// to the end of the budget that began at accept.
func (s *Server) serveHTTP1(c *conn) {
	if d := s.cfg.ReadHeaderTimeout; d > 0 {
		c.headerDeadline.Store(c.accepted.Add(d).UnixNano())
	}
	c.setState(H1, StateNew)
	s.stats.conns[H1].Add(1)
	if !s.queue.push(c) {
		c.Close()
	}
}

// serveHTTP2 hands c to the engine and returns when the connection ends.
func (s *Server) serveHTTP2(c *conn, ctx context.Context, p Protocol, upgrade *http.Request, settings, preamble []byte) {
	c.setState(p, StateHTTP2)
	s.stats.conns[p].Add(1)
	s.engine.ServeConn(c, ConnOptions{
		Context:    ctx,
		Handler:    s.h2,
		SawPreface: upgrade == nil,
		Upgrade:    upgrade,
		Settings:   settings,
		Preamble:   preamble,
	})
	c.Close()
}

func (s *Server) h1ConnContext(ctx context.Context, nc net.Conn) context.Context {
	c := nc.(*conn)
	c.info = connInfo{proto: H1, srv: s, conn: c}
	return withConnInfo(ctx, &c.info)
}

func (s *Server) h1ConnState(nc net.Conn, st http.ConnState) {
	c := nc.(*conn)
	switch st {
	case http.StateActive:
		c.setState("", StateActive) // serveHTTP1 has set H1
	case http.StateIdle:
		c.setState("", StateIdle)
	case http.StateHijacked:
		if !c.upgrading.Load() {
			s.stats.hijacked.Add(1)
			c.setState(H1, StateHijacked)
		}
	}
}

// serveH1 is net/http's handler: it takes valid h2c upgrades and passes
// everything else to the shared stream handler.
func (s *Server) serveH1(w http.ResponseWriter, r *http.Request) {
	info := connInfoOf(r)
	if info != nil {
		info.conn.h1Read() // past net/http's shutdown check: its first request is read (an upgrade's too)
	}
	if !s.cfg.DisableH2CUpgrade && len(r.Header["Upgrade"]) > 0 && requestedUpgrade(r.Header) == "h2c" {
		if info != nil && s.serveUpgrade(w, r, info.conn) {
			return
		}
	}
	if s.draining.Load() {
		// Shutdown has begun, and net/http's own may not have (it waits
		// for connections still sniffing): no further request here.
		w.Header().Set("Connection", "close")
	}
	if info == nil {
		s.stats.requests.Add(1)
		s.serveRequest(w, r)
		return
	}
	info.conn.count(&info.conn.requests, &s.stats.requests)
	// The connection's writer, reused: net/http serves one request of a
	// connection at a time.
	hw := &info.conn.w
	hw.ResponseWriter, hw.ctx, hw.final = w, r.Context(), false
	hw.body, _ = r.Body.(*bodyReader) // a declined upgrade's, still being read
	s.serveRequest(hw, r)
	hw.ResponseWriter, hw.ctx, hw.body = nil, nil, nil
}

// serveH2 is the engine's handler for every stream.
func (s *Server) serveH2(w http.ResponseWriter, r *http.Request) {
	if info := connInfoOf(r); info != nil {
		info.conn.count(&info.conn.streams, &s.stats.streams)
	} else {
		s.stats.streams.Add(1)
	}
	s.serveRequest(&h2Writer{responseWriter{ResponseWriter: w, ctx: r.Context()}, s.log}, r)
}

// serveRequest answers "OPTIONS *" and passes every other request to the
// configured handler.
func (s *Server) serveRequest(w http.ResponseWriter, r *http.Request) {
	if r.RequestURI == "*" && r.Method == http.MethodOptions {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	s.cfg.Handler.ServeHTTP(w, r)
}

// track adds c to the set of live connections, unless the server is
// shutting down.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.sniffs.Add(1) // under mu, so never concurrent with Shutdown's Wait from zero
	return true
}

// forget removes c once it is closed.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	c.gone.Store(true)
	s.stats.requests.Add(c.requests.Swap(0))
	s.stats.streams.Add(c.streams.Swap(0))
	s.mu.Unlock()
	c.h1Read()
	select {
	case s.connGone <- struct{}{}:
	default:
	}
	c.setState("", StateClosed)
}

func (s *Server) trackListener(ln *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.listeners, ln)
		return true
	}
	if s.draining.Load() {
		return false
	}
	s.listeners[ln] = struct{}{}
	return true
}

// RegisterOnShutdown registers f to be called, in its own goroutine, when
// Shutdown begins. Long-lived handlers (hijacked connections, HTTP/2
// streams that never end on their own, such as WebSockets) use it to
// close their sessions cleanly. Call the returned function when the
// handler ends. If shutdown has already begun, f is started at once.
func (s *Server) RegisterOnShutdown(f func()) (unregister func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		go f()
		return func() {}
	}
	id := s.nextHook
	s.nextHook++
	s.hooks[id] = f
	return func() {
		s.mu.Lock()
		delete(s.hooks, id)
		s.mu.Unlock()
	}
}

// beginDrain stops accepting: it marks the server draining and closes its
// listeners. It returns the hooks to run, the connections still being
// sniffed (which have delivered no request yet), and the number of open
// HTTP/2 connections.
func (s *Server) beginDrain() (hooks []func(), sniffing []*conn, h2 int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining.Store(true)
	for ln := range s.listeners {
		if cerr := (*ln).Close(); cerr != nil && err == nil {
			err = cerr
		}
		delete(s.listeners, ln)
	}
	for _, f := range s.hooks {
		hooks = append(hooks, f)
	}
	clear(s.hooks)
	for c := range s.conns {
		switch {
		case c.protocol() == "":
			sniffing = append(sniffing, c)
		case ConnState(c.state.Load()) == StateHTTP2:
			h2++
		}
	}
	return hooks, sniffing, h2, err
}

// ShutdownSniffGrace is how long Shutdown lets a connection that has not
// yet shown its protocol (HTTP/1.x or the HTTP/2 preface) take to do so.
const ShutdownSniffGrace = time.Second

// Shutdown shuts the server down gracefully: it stops accepting, sends
// GOAWAY to every HTTP/2 connection (upgraded ones included), lets
// in-flight requests and streams finish, closes idle connections, runs the
// hooks registered with RegisterOnShutdown, and waits until every
// connection, hijacked ones included, has ended. If ctx ends first, it
// closes the remaining connections and returns ctx's error.
//
// A connection accepted before Shutdown that has not shown its protocol
// yet (its first bytes may be on their way) gets ShutdownSniffGrace to do
// so, within its ReadHeaderTimeout; then it is served as the rest: an
// HTTP/1.1 request with keep-alive off, HTTP/2 with GOAWAY after SETTINGS
// (the streams the client had sent by then are served). One that stays
// silent is closed, as net/http closes a new connection that never sends
// a request.
func (s *Server) Shutdown(ctx context.Context) error {
	hooks, sniffing, h2, lnErr := s.beginDrain()
	cut := time.Now().Add(ShutdownSniffGrace)
	for _, c := range sniffing {
		c.cutSniff(cut)
	}
	for _, f := range hooks {
		go f()
	}
	s.stats.goaways.Add(int64(h2))
	// Drain stays in effect, so a connection that reaches the engine
	// after this (it passed the draining check just before) is drained
	// too.
	s.engine.Drain()
	go func() {
		// Connections still sniffing may yet reach net/http, which
		// drops a request it reads once its own Shutdown has begun:
		// wait until those handed to it have had their first request
		// read (sniffed as HTTP/1.x before Shutdown too, their protocol
		// set and so not in sniffing), or are closed, but no longer
		// than ShutdownSniffGrace. Meanwhile serveH1 ends keep-alive.
		waited := make(chan struct{})
		go func() {
			s.sniffs.Wait() // each ends by the cut or its header timeout, or at Close
			close(waited)
		}()
		grace := time.NewTimer(time.Until(cut))
		select {
		case <-waited:
		case <-grace.C:
		case <-ctx.Done():
		}
		grace.Stop()
		s.h1.Shutdown(ctx) // closes idle HTTP/1.1 connections, ends keep-alive
	}()
	for s.openConns() > 0 {
		select {
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-s.connGone:
		}
	}
	s.cancel()
	return lnErr
}

// Close closes every listener and connection at once, without waiting for
// requests to finish.
func (s *Server) Close() error {
	_, _, _, err := s.beginDrain()
	s.h1.Close()
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	s.cancel()
	return err
}

func (s *Server) openConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
