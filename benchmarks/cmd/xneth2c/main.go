// Command xneth2c is the baseline of molt's benchmarks: a plain net/http
// server that serves the routes of `molt serve` (package internal/demo)
// through golang.org/x/net/http2/h2c's NewHandler, so HTTP/1.1, "Upgrade:
// h2c" and HTTP/2 by prior knowledge all work on one cleartext port.
//
// h2c.NewHandler is deprecated in favour of net/http's own unencrypted
// HTTP/2 support; that is the point: it is the usual way such a server was
// built, and molt's core is measured against it.
//
//	xneth2c [-addr 127.0.0.1:8081] [-cpuprofile file]
//
// It shuts down gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/molt-http/molt/internal/demo"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// shutdownTimeout bounds the graceful shutdown after a signal.
const shutdownTimeout = 10 * time.Second

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to `file`, as molt serve -cpuprofile does")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal("xneth2c: ", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal("xneth2c: ", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr); err != nil {
		log.Fatal("xneth2c: ", err)
	}
}

// run serves on addr until ctx ends, then shuts down gracefully.
func run(ctx context.Context, addr string) error {
	srv := &http.Server{
		Handler:           h2c.NewHandler(demo.Handler(), &http2.Server{}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("xneth2c serving HTTP/1.1, h2c upgrade and h2c prior knowledge on http://%s\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
