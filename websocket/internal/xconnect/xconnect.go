// Package xconnect turns on extended CONNECT (RFC 8441) for HTTP/2 in the
// whole process, by adding http2xconnect=1 to the GODEBUG environment
// variable.
//
// golang.org/x/net/http2 and net/http's bundled HTTP/2 read GODEBUG once,
// in their package init, and advertise SETTINGS_ENABLE_CONNECT_PROTOCOL
// and accept a CONNECT request with a :protocol pseudo-header only if it
// contains http2xconnect=1. A //go:debug directive does not reach them (it
// is not in the environment). This package imports nothing but os and
// strings, and its import path sorts before "golang.org/x/net/..." and
// "net/http", so Go's package initialisation order (dependencies first,
// then by import path) runs its init before theirs.
//
// A GODEBUG that already says http2xconnect (=0 or =1) is left alone, so
// GODEBUG=http2xconnect=0 in the environment switches the feature off.
package xconnect

import (
	"os"
	"strings"
)

// Setting is the GODEBUG setting this package adds.
const Setting = "http2xconnect=1"

// Enabled reports whether the process's GODEBUG enables extended CONNECT.
// It reflects the environment as x/net and net/http saw it at their init.
var Enabled bool

func init() {
	v := os.Getenv("GODEBUG")
	if !strings.Contains(v, "http2xconnect=") {
		if v == "" {
			v = Setting
		} else {
			v += "," + Setting
		}
		os.Setenv("GODEBUG", v)
	}
	Enabled = strings.Contains(v, Setting)
}
