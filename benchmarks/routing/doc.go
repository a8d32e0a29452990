// Package routing compares molt's router (package router) with gin, echo,
// httprouter, chi and net/http.ServeMux on the route tables of
// julienschmidt/go-http-routing-benchmark (testdata/: static, github,
// gplus, parse), in the style of that harness: every route of a table is
// registered with a handler that does nothing, and the benchmarks serve
// pre-built requests to a ResponseWriter that does nothing.
//
// TestRoutersMatchEveryRoute checks, before any benchmark is trusted, that
// every router dispatches every route of every table to the right handler
// with the right parameter values. How to run the benchmarks: README.md
// and bench.sh.
package routing
