//go:build race

package websocket

// raceEnabled: the race detector makes sync.Pool drop items at random.
const raceEnabled = true
