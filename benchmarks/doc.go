// Package benchmarks compares molt's core (package server) with the usual
// way of serving h2c in Go: net/http with golang.org/x/net/http2/h2c's
// NewHandler. It is its own module so that the baseline and the tools used
// only for comparison never reach molt's go.mod.
//
//   - cmd/xneth2c is the baseline as a command, for h2load.sh.
//   - cmd/upgradeload is h2load.sh's load generator for h2c upgrades, which
//     h2load cannot make.
//   - h2load.sh runs h2load and upgradeload against `molt serve` and
//     xneth2c in interleaved rounds and prints medians and ratios.
//   - The tests check that both in-process servers answer; the benchmarks
//     measure h2c upgrade handshakes (a fresh connection each) and
//     requests on one prior-knowledge connection.
//
// Results and how to run them: docs/benchmarks.md.
package benchmarks
