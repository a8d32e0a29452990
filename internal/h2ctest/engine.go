package h2ctest

import (
	"fmt"
	"os"
	"testing"

	"github.com/molt-http/molt/server"
)

// Engine names an HTTP/2 engine of molt's core, as molt serve's -engine
// flag and the MOLT_ENGINE environment variable do.
type Engine string

// The engines.
const (
	XNet Engine = "xnet" // server.NewXNetEngine, on golang.org/x/net/http2
	H2   Engine = "h2"   // server.NewH2Engine, molt's own (package h2)
)

// Engines lists every engine.
var Engines = []Engine{XNet, H2}

// DefaultEngine returns the engine MOLT_ENGINE names ("h2" or "xnet"),
// H2 (server.New's default) if it names none. An unknown name panics: a CI job that asks for
// an engine that does not exist must not quietly test another.
func DefaultEngine() Engine {
	switch e := Engine(os.Getenv("MOLT_ENGINE")); e {
	case "":
		return H2
	case XNet, H2:
		return e
	default:
		panic(fmt.Sprintf("h2ctest: MOLT_ENGINE=%q: want %q or %q", e, XNet, H2))
	}
}

// factory returns the Config.Engine of e.
func (e Engine) factory() func(server.Config) (server.Engine, error) {
	switch e {
	case XNet:
		return server.NewXNetEngine
	case H2:
		return server.NewH2Engine
	}
	panic("h2ctest: unknown engine " + string(e))
}

// WithEngine returns a configure function for [NewServer] that serves
// HTTP/2 with engine e, whatever MOLT_ENGINE says.
func WithEngine(e Engine) func(*server.Config) {
	f := e.factory()
	return func(c *server.Config) { c.Engine = f }
}

// RunEngines runs f as a subtest once per engine, named after the
// engine, so that one test run covers both; f passes WithEngine(e) to
// NewServer. With no engines given it runs every engine.
func RunEngines(t *testing.T, f func(t *testing.T, e Engine), engines ...Engine) {
	t.Helper()
	if len(engines) == 0 {
		engines = Engines
	}
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) { f(t, e) })
	}
}
