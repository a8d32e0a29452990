// Package xconnecton turns on extended CONNECT (RFC 8441) for the tests of
// h2ctest, which cannot import the websocket package's own switch (it is
// internal to websocket) and should not depend on the websocket package.
//
// golang.org/x/net/http2 and net/http read GODEBUG=http2xconnect=1 from the
// environment once, in their package init. This package imports only os
// and strings, and its import path sorts before "golang.org/..." and
// "net/...", so Go's initialisation order (dependencies first, then by
// import path) runs its init before theirs. Import it for its side effect
// from test files only:
//
//	import _ "github.com/molt-http/molt/internal/h2ctest/internal/xconnecton"
package xconnecton

import (
	"os"
	"strings"
)

func init() {
	v := os.Getenv("GODEBUG")
	if strings.Contains(v, "http2xconnect=") {
		return // the environment decides
	}
	if v != "" {
		v += ","
	}
	os.Setenv("GODEBUG", v+"http2xconnect=1")
}
