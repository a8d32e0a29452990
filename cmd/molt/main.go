// Command molt runs molt's ready-made servers.
//
//	molt serve [-addr 127.0.0.1:8080] [-quiet] [-debug] [-no-h2c-upgrade] [-no-h2c-prior]
//	           [-engine h2|xnet] [-cpuprofile file]
//
// serve starts a server that speaks HTTP/1.1, HTTP/2 through
// "Upgrade: h2c" and HTTP/2 by prior knowledge on one port, with the
// routes of a small demo (see package internal/demo). It logs one line per
// request with the protocol, and shuts down gracefully on SIGINT or
// SIGTERM. -no-h2c-upgrade serves "Upgrade: h2c" requests over HTTP/1.1:
// use it behind a reverse proxy that forwards the Upgrade and Connection
// headers, or clients can open HTTP/2 streams the proxy never inspects
// (h2c smuggling). -no-h2c-prior turns off HTTP/2 by prior knowledge.
// -engine picks the HTTP/2 engine: h2, molt's own (the default), or xnet,
// the one on golang.org/x/net/http2 (whose WebSockets over HTTP/2 the
// command turns on by importing package server/xconnect).
// -cpuprofile writes a CPU profile of the run, from start to shutdown,
// for `go tool pprof`.
//
//	molt bench [-mode h1|h2c|h2c-upgrade | -compare h1,h2c,...] [-c 1] [-m 1]
//	           [-d 10s | -n N] [-warmup 0] [-rate 0] [-upgrade-every]
//	           [-method GET] [-body s|@file] [-H "Name: value"]... [-timeout 10s]
//	           [-json] [-html file] [-cpuprofile file] URL
//
// bench is a load generator for every cleartext way into HTTP/2 (see
// package internal/load and docs/bench.md): it prints requests and bytes
// per second, latency and time-to-first-byte quantiles, the upgrade
// handshake's latency, status codes and errors by kind. It exits non-zero
// with the step that failed when the server cannot be reached, does not
// speak h2c, or declines the upgrade.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	_ "github.com/molt-http/molt/server/xconnect" // -engine xnet: WebSockets over HTTP/2 (molt's own engine needs no switch)
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "molt:", err)
		os.Exit(2)
	}
}

const usage = `usage: molt <command> [flags]

commands:
  serve   serve HTTP/1.1, h2c upgrade and h2c prior knowledge on one port
  bench   load-test a server over h1, h2c or h2c-upgrade (molt bench -h)
`

// run executes the command line args and returns when it is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serve(ctx, args[1:], stdout, stderr)
	case "bench":
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		return bench(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
