package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/molt-http/molt"
	"github.com/molt-http/molt/internal/demo"
	"github.com/molt-http/molt/middleware"
	"github.com/molt-http/molt/server"
)

// shutdownTimeout bounds the graceful shutdown after a signal.
const shutdownTimeout = 10 * time.Second

// serve runs `molt serve` until ctx ends, then shuts down gracefully.
// Once the server listens, it prints how to try it to stdout.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	quiet := fs.Bool("quiet", false, "do not log requests (and leave out the recoverer and request IDs: the bare core, for benchmarks)")
	debug := fs.Bool("debug", false, "log at debug level (declined upgrades, bad connections)")
	engine := fs.String("engine", "xnet", "HTTP/2 engine: xnet (golang.org/x/net/http2) or h2 (molt's own, package h2)")
	err := fs.Parse(args)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var cfg server.Config
	switch *engine {
	case "xnet":
	case "h2":
		if cfg.Engine, err = server.NewH2Engine(server.Config{Logger: logger}); err != nil {
			return err
		}
	default:
		return fmt.Errorf("-engine %q: want xnet or h2", *engine)
	}
	app := molt.New(molt.WithLogger(logger), molt.WithShutdownTimeout(shutdownTimeout), molt.WithConfig(cfg))
	if !*quiet {
		app.Use(
			middleware.Recoverer(middleware.RecovererOptions{Logger: logger}),
			middleware.RequestID(middleware.RequestIDOptions{}),
			middleware.Logger(middleware.LoggerOptions{Logger: logger}),
		)
	}
	demo.Register(app)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `molt serving HTTP/1.1, h2c upgrade and h2c prior knowledge on http://%[1]s
try:
  curl -v --http2 http://%[1]s/                  # HTTP/1.1, upgraded to HTTP/2 (101)
  curl -v --http2-prior-knowledge http://%[1]s/  # HTTP/2 straight away
  curl -v http://%[1]s/                          # plain HTTP/1.1
  curl --http2 --data-binary @README.md http://%[1]s/echo
  ws://%[1]s/ws: a WebSocket echo (HTTP/1.1, or HTTP/2 by extended CONNECT); in a browser's console:
    s = new WebSocket("ws://%[1]s/ws"); s.onmessage = e => console.log(e.data); s.onopen = () => s.send("hi")
`, ln.Addr())
	return app.Serve(ctx, ln)
}
