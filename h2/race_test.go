//go:build race

package h2

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// pooled things allocate now and then.
const raceEnabled = true
