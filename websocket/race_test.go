//go:build race

package websocket_test

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// pooled compressors allocate now and then.
const raceEnabled = true
