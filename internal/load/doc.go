// Package load is the engine of `molt bench`: a load generator for every
// cleartext way into HTTP/2, the h2c upgrade included. It opens Config.Conns
// connections in one of the modes h1 (HTTP/1.1 keep-alive), h2c (HTTP/2 by
// prior knowledge) or h2c-upgrade (each connection starts with an
// "Upgrade: h2c" request answered 101, then multiplexes), keeps
// Config.Streams requests in flight on each (closed loop) or sends at a
// fixed Config.Rate (open loop, latency measured from the intended send
// time), and returns a Report: requests and bytes per second, latency and
// time-to-first-byte quantiles from an HDR-style Histogram, the upgrade
// handshake's own latency, status codes and errors by kind.
//
// The HTTP/2 side is molt's one HTTP/2 client, internal/h2client, through
// its lean ClientConn.Send path.
//
//	rep, err := load.Run(ctx, load.Config{URL: "http://127.0.0.1:8080/", Mode: load.ModeH2C,
//		Conns: 8, Streams: 32, Duration: 10 * time.Second})
package load
