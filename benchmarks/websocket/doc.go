// Package websocket compares WebSocket echo round trips of molt's
// websocket package with gorilla/websocket and coder/websocket, in one
// run: binary messages of 16 B, 1 KiB and 64 KiB, one at a time on one
// connection over loopback, over HTTP/1.1 for all three and over HTTP/2
// (RFC 8441 extended CONNECT, h2c prior knowledge) for molt, the only one
// of them that can serve a WebSocket on an HTTP/2 stream: "molt" on the
// HTTP/2 engine built on x/net (its default until stop 17; the test
// binary imports molt/server/xconnect, that engine's opt-in to extended
// CONNECT) and "molt-h2" on its own (package h2, the default now).
//
// Every server runs in-process, so that testing's allocation counts see
// it, and runs its idiomatic fastest echo loop (servers.go, molt.go). The
// client is the package's own (client.go, h2.go): it sends one prebuilt
// masked frame per round trip and reads the echo without allocating
// (TestClientAllocs), so its cost is the same for every server and the
// allocations a benchmark reports are the server's. The floor (floor.go)
// is no library but a bare frame echo, to show what the loopback and the
// client cost by themselves.
//
//	cd benchmarks/websocket && ./bench.sh
//
// syscalls.sh counts the system calls of a round trip (strace -c) and
// cpu.sh measures its CPU time, both less disturbed by other load on a
// shared machine than times are. TestServerAllocs holds molt's server
// on its own engine to no allocation per echoed message.
//
// split.sh runs the same round trips with the server in a process of its
// own (TestServe and WSBENCH_REMOTE, split_test.go) and reports each
// side's CPU time, context switches and futex calls per round trip: in
// one process the two share a Go scheduler, and over HTTP/1.1 the
// client's thread runs the server's goroutine when it parks.
//
// BenchmarkClientEcho (clients_test.go) turns the comparison round: the
// server stays (the floor, or molt's) and the client varies, molt's
// websocket.Dial beside gorilla's Dialer and coder's Dial, over HTTP/1.1,
// and molt's alone over HTTP/2:
//
//	go test -run '^$' -bench BenchmarkClientEcho -benchmem -benchtime 300ms -count 3 -cpu 2 .
package websocket
