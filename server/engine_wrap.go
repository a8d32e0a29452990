//go:build go1.27 && !http2legacy

package server

import "net/http"

// baseConfig is the ServeConnOpts.BaseConfig the x/net engine passes. When
// x/net wraps net/http's server (Go 1.27), a BaseConfig makes it serve the
// connection from a one-off http.Server that no Shutdown reaches, so it
// must stay nil; the wrapper takes its settings from the http.Server given
// to ConfigureServer instead.
func baseConfig(*http.Server) *http.Server { return nil }
