//go:build race

package middleware_test

// compressRace reports whether the race detector is on: it makes
// sync.Pool drop items at random, so allocation counts mean nothing.
const compressRace = true
