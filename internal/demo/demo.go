// Package demo holds the routes of `molt serve`, so that the command (on
// molt's router) and the benchmark baselines (on http.ServeMux) serve
// exactly the same handlers: both register them with Register.
//
//	GET  /           "hello" (text/plain, 5 bytes)
//	*    /echo       the request body, whole
//	GET  /bytes/{n}  n bytes (n at most MaxBytes)
//	GET  /healthz    "ok"
//	     /ws         a WebSocket echo: each message back with its type, over
//	                 HTTP/1.1 (RFC 6455) and HTTP/2 (RFC 8441 extended
//	                 CONNECT), permessage-deflate on, any origin
//
// /ws over HTTP/2 needs an engine that accepts extended CONNECT: molt's
// own does by default; the x/net engine only in a program that imports
// package server/xconnect (molt serve does).
package demo

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/molt-http/molt/websocket"
)

// MaxBytes is the largest n that /bytes/{n} serves.
const MaxBytes = 1 << 30

var (
	hello  = []byte("hello")
	ok     = []byte("ok\n")
	filler = bytes.Repeat([]byte("molt"), 8<<10) // 32 KiB
)

// Mux is what Register needs of a router: *http.ServeMux and
// *router.Router (so a molt App too) have it.
type Mux interface {
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// Register registers the routes of `molt serve` on mux, in net/http's
// pattern syntax.
func Register(mux Mux) {
	mux.HandleFunc("GET /{$}", Hello)
	mux.HandleFunc("/echo", Echo)
	mux.HandleFunc("GET /bytes/{n}", Bytes)
	mux.HandleFunc("GET /healthz", Healthz)
	// No method in the pattern: a WebSocket arrives as GET over HTTP/1.1
	// and as CONNECT over HTTP/2, and a ServeMux has no rule that sends an
	// extended CONNECT to a GET route (molt's router has).
	mux.HandleFunc("/ws", WebSocket.ServeHTTP)
}

// Handler returns the routes of `molt serve` on an *http.ServeMux, the
// baseline that benchmarks compare molt against.
func Handler() http.Handler {
	mux := http.NewServeMux()
	Register(mux)
	return mux
}

// Hello answers "hello".
func Hello(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["Content-Length"] = []string{"5"}
	w.Write(hello)
}

// Healthz answers "ok" while the server runs.
func Healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(ok)
}

// Echo answers with the request body. HTTP/1.1 requires the body to be
// read before the response starts, so there it is read whole first; on
// HTTP/2 it streams.
func Echo(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	if r.ProtoMajor >= 2 {
		io.Copy(w, r.Body)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// Bytes answers with n bytes, n taken from the path.
func Bytes(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
	if err != nil || n < 0 || n > MaxBytes {
		http.Error(w, "n must be a whole number from 0 to 1073741824", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	if r.Method == http.MethodHead {
		return
	}
	for n > 0 {
		chunk := filler[:min(n, int64(len(filler)))]
		if _, err := w.Write(chunk); err != nil {
			return
		}
		n -= int64(len(chunk))
	}
}

// WebSocket is the /ws endpoint: it sends every message back with its
// type until the client closes. It accepts any Origin, since it is a demo
// (a real endpoint keeps the same-origin default), and negotiates
// permessage-deflate without context takeover.
var WebSocket http.Handler = websocket.Handler(wsEcho, websocket.Options{
	AllowAnyOrigin: true,
	Compression:    websocket.CompressionNoContextTakeover,
})

// wsKeepBuffer is the largest message buffer wsEcho keeps for the next
// message; a larger one (up to the read limit, websocket.DefaultReadLimit)
// is let go.
const wsKeepBuffer = 64 << 10

// wsEcho echoes messages on c, reusing one buffer, until a read or a write
// fails (the client closed, or the server is shutting down).
func wsEcho(ctx context.Context, c *websocket.Conn) {
	var buf []byte
	for {
		typ, msg, err := c.AppendMessage(ctx, buf[:0])
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
		if buf = msg; cap(buf) > wsKeepBuffer {
			buf = nil
		}
	}
}
