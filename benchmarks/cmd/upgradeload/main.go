// Command upgradeload is the h2c upgrade load generator of h2load.sh, for
// the one load h2load cannot make: each of -c workers repeatedly dials a
// fresh TCP connection, sends GET with "Upgrade: h2c" (through
// internal/h2ctest.Upgrade), reads the 101 and the response on stream 1,
// and closes the connection, for -D seconds.
//
//	upgradeload [-c 8] [-D 10] http://127.0.0.1:8080/
//
// It prints its summary in the shape of h2load's, so h2load.sh reads both
// the same way: "finished in", "requests:", "status codes:" and
// "Application protocol:" lines, where a request is one whole connection.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
)

func main() {
	conns := flag.Int("c", 8, "concurrent workers, each with one connection at a time")
	dur := flag.Int("D", 10, "duration in seconds")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: upgradeload [-c N] [-D seconds] http://host:port/path")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || *conns < 1 || *dur < 1 {
		flag.Usage()
		os.Exit(2)
	}
	u, err := url.Parse(flag.Arg(0))
	if err != nil || u.Scheme != "http" || u.Host == "" {
		fmt.Fprintln(os.Stderr, "upgradeload: need an http:// URL")
		os.Exit(2)
	}

	var ok, failed, non2xx atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(time.Duration(*dur) * time.Second)
	start := time.Now()
	var wg sync.WaitGroup
	for range *conns {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				status, err := once(u)
				switch {
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				case status/100 != 2:
					non2xx.Add(1)
				default:
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	done := ok.Load() + non2xx.Load()
	total := done + failed.Load()
	fmt.Printf("finished in %.2fs, %.2f req/s, 0B/s\n", elapsed.Seconds(), float64(done)/elapsed.Seconds())
	fmt.Printf("requests: %d total, %d started, %d done, %d succeeded, %d failed, 0 errored, 0 timeout\n",
		total, total, done, ok.Load(), failed.Load())
	fmt.Printf("status codes: %d 2xx, 0 3xx, %d 4xx, 0 5xx\n", ok.Load(), non2xx.Load())
	fmt.Println("Application protocol: h2c-upgrade")
	if err, _ := firstErr.Load().(error); err != nil {
		fmt.Fprintln(os.Stderr, "upgradeload: first error:", err)
	}
	if done == 0 {
		os.Exit(1)
	}
}

// once makes one upgraded connection, one request, and closes it. It
// returns the status of the response on stream 1.
func once(u *url.URL) (int, error) {
	c, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, err
	}
	res, err := h2ctest.Upgrade(c, req, h2ctest.ClientOptions{})
	if err != nil {
		return 0, err
	}
	if res.Conn == nil {
		res.Response.Body.Close()
		return 0, errors.New("upgrade declined: " + res.Response.Status)
	}
	defer res.Conn.Close()
	_, err = io.Copy(io.Discard, res.Response.Body)
	res.Response.Body.Close()
	return res.Response.StatusCode, err
}
