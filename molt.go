// Package molt is an HTTP server framework for Go in which one cleartext
// port speaks HTTP/1.1, HTTP/2 reached through "Upgrade: h2c" (answered
// with 101 Switching Protocols), and HTTP/2 by prior knowledge, with
// everything plain net/http underneath: handlers are http.Handler and
// middleware is func(http.Handler) http.Handler.
//
// The core lives in package server; the router, the middleware set and the
// App facade that ties them together are built on it.
package molt
