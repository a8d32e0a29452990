package websocket

import (
	"fmt"
	"io"
	"os"
	"testing"
)

// The benchmarks run client and server in one process by default. split.sh
// runs them in two, to tell the client's costs from the server's and to
// take away what sharing one Go scheduler does to a round trip:
//
//	WSBENCH_SERVE=molt-h2 ws.test -test.run '^TestServe$'   # prints addr=HOST:PORT, serves until stdin closes
//	WSBENCH_REMOTE=HOST:PORT ws.test -test.bench 'BenchmarkEcho$/proto=h2c-prior/size=16B/server=molt-h2$'
const (
	serveEnv  = "WSBENCH_SERVE"  // the name of the server TestServe serves
	remoteEnv = "WSBENCH_REMOTE" // the address the benchmarks dial instead of starting their server
)

// TestServe serves the server named by WSBENCH_SERVE, prints its address
// as "addr=HOST:PORT" on standard output, and returns when standard input
// closes. Without WSBENCH_SERVE it is skipped.
func TestServe(t *testing.T) {
	name := os.Getenv(serveEnv)
	if name == "" {
		t.Skip(serveEnv + " not set: nothing to serve")
	}
	for _, srv := range echoServers {
		if srv.name == name {
			fmt.Printf("addr=%s\n", srv.start(t))
			if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
				t.Errorf("reading standard input: %v", err)
			}
			return
		}
	}
	t.Fatalf("%s=%q: no such server", serveEnv, name)
}

// serverAddr starts srv and returns its address, or returns the address
// in WSBENCH_REMOTE, where the caller says srv already serves.
func serverAddr(tb testing.TB, srv echoServer) string {
	if addr := os.Getenv(remoteEnv); addr != "" {
		return addr
	}
	return srv.start(tb)
}
