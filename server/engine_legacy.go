//go:build !go1.27 || http2legacy

package server

import "net/http"

// baseConfig is the ServeConnOpts.BaseConfig the x/net engine passes. x/net's
// own server (Go 1.26, or the http2legacy tag) takes MaxHeaderBytes and the
// error log from it and still sends GOAWAY through ConfigureServer's hook.
func baseConfig(trigger *http.Server) *http.Server { return trigger }
