// Package middleware compares molt's middleware with the same stacks built
// from chi's, echo's and gin-contrib's, in one benchmark run: a typical
// stack (recover, request id, logger to io.Discard, compress) per request,
// and Compress's throughput on a 64 KiB JSON body.
//
//	cd benchmarks/middleware && ./bench.sh
package middleware
