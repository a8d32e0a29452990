// Package xconnect turns on extended CONNECT (RFC 8441, WebSockets over
// HTTP/2) for the engine built on golang.org/x/net/http2
// ([server.NewXNetEngine]), for the whole process. Import it for its side
// effect, from the main package of a program that serves WebSockets over
// HTTP/2 with that engine:
//
//	import _ "github.com/molt-http/molt/server/xconnect"
//
// molt's own engine, the default ([server.NewH2Engine]), needs none of
// this: it advertises SETTINGS_ENABLE_CONNECT_PROTOCOL per server
// (server.HTTP2Config.DisableExtendedConnect turns it off) and never reads
// GODEBUG. Nothing in molt imports this package; it is the x/net engine's
// explicit opt-in.
//
// golang.org/x/net/http2 and net/http's bundled HTTP/2 read the GODEBUG
// environment variable once, in their package init, and advertise
// SETTINGS_ENABLE_CONNECT_PROTOCOL and accept a CONNECT request with a
// :protocol pseudo-header only if it contains http2xconnect=1; the switch
// then holds for every HTTP/2 server of theirs in the process, molt's and
// any other. A //go:debug directive does not reach them (it is not in the
// environment). This package adds http2xconnect=1 to GODEBUG. It imports
// nothing but os and strings, and its import path sorts before
// "golang.org/x/net/..." and "net/http", so Go's package initialisation
// order (dependencies first, then by import path) runs its init before
// theirs.
//
// A GODEBUG that already says http2xconnect (=0 or =1) is left alone, so
// GODEBUG=http2xconnect=0 in the environment keeps the feature off.
//
// [server.NewXNetEngine]: https://pkg.go.dev/github.com/molt-http/molt/server#NewXNetEngine
// [server.NewH2Engine]: https://pkg.go.dev/github.com/molt-http/molt/server#NewH2Engine
package xconnect

import (
	"os"
	"strings"
)

// Setting is the GODEBUG setting this package adds.
const Setting = "http2xconnect=1"

// Enabled reports whether the process's GODEBUG enables extended CONNECT
// for the x/net engine: as x/net and net/http saw it at their init.
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
