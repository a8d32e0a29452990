package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
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
	noUpgrade := fs.Bool("no-h2c-upgrade", false, "serve \"Upgrade: h2c\" requests over HTTP/1.1 instead of switching to HTTP/2; use it behind a proxy that forwards Upgrade and Connection, which would otherwise let clients open HTTP/2 streams the proxy never sees")
	noPrior := fs.Bool("no-h2c-prior", false, "do not serve HTTP/2 by prior knowledge: every connection is HTTP/1.1")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `file` (for benchmarks)")
	memprofile := fs.String("memprofile", "", "write an allocation profile of the whole run to `file` as the server stops (for benchmarks)")
	engine := fs.String("engine", "h2", "HTTP/2 engine: h2 (molt's own, package h2) or xnet (golang.org/x/net/http2)")
	err := fs.Parse(args)
	if err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if *memprofile != "" {
		f, err := os.Create(*memprofile)
		if err != nil {
			return err
		}
		defer func() {
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				fmt.Fprintln(stderr, "molt serve: writing the allocation profile:", err)
			}
			f.Close()
		}()
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg := server.Config{DisableH2CUpgrade: *noUpgrade, DisableH2CPrior: *noPrior, Logger: logger}
	switch *engine {
	case "h2":
		cfg.Engine = server.NewH2Engine
	case "xnet":
		cfg.Engine = server.NewXNetEngine
	default:
		return fmt.Errorf("-engine %q: want h2 or xnet", *engine)
	}
	app := molt.New(
		molt.WithConfig(cfg),
		molt.WithLogger(logger),
		molt.WithShutdownTimeout(shutdownTimeout),
	)
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
	a := ln.Addr()
	protocols := "HTTP/1.1"
	if !*noUpgrade {
		protocols += ", h2c upgrade"
	}
	if !*noPrior {
		protocols += ", h2c prior knowledge"
	}
	fmt.Fprintf(stdout, "molt serving %s on http://%s\ntry:\n", protocols, a)
	if !*noUpgrade {
		fmt.Fprintf(stdout, "  curl -v --http2 http://%s/                  # HTTP/1.1, upgraded to HTTP/2 (101)\n", a)
	}
	if !*noPrior {
		fmt.Fprintf(stdout, "  curl -v --http2-prior-knowledge http://%s/  # HTTP/2 straight away\n", a)
	}
	fmt.Fprintf(stdout, `  curl -v http://%[1]s/                          # plain HTTP/1.1
  curl --http2 --data-binary @README.md http://%[1]s/echo
  ws://%[1]s/ws: a WebSocket echo (HTTP/1.1, or HTTP/2 by extended CONNECT); in a browser's console:
    s = new WebSocket("ws://%[1]s/ws"); s.onmessage = e => console.log(e.data); s.onopen = () => s.send("hi")
`, a)
	return app.Serve(ctx, ln)
}
