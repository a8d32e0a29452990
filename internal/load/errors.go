package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/molt-http/molt/internal/h1head"
	"github.com/molt-http/molt/internal/h2client"
	"github.com/molt-http/molt/websocket"
	"golang.org/x/net/http2"
)

// errTimeout is the error of a request that outlived Config.Timeout.
var errTimeout = errors.New("request timed out")

// connectError is a failed dial.
type connectError struct{ err error }

func (e *connectError) Error() string { return "connect: " + e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// setupError is a connection that was reached but not set up: step is
// "preface" (HTTP/2 by prior knowledge) or "upgrade".
type setupError struct {
	step string
	err  error
}

func (e *setupError) Error() string {
	switch e.step {
	case "preface":
		return "HTTP/2 preface refused (is the server speaking h2c prior knowledge?): " + e.err.Error()
	case "websocket":
		return "WebSocket handshake failed: " + e.err.Error()
	case "echo":
		return "the WebSocket opened but the echo failed (is the URL a WebSocket echo?): " + e.err.Error()
	default:
		return "h2c upgrade failed (no 101): " + e.err.Error()
	}
}
func (e *setupError) Unwrap() error { return e.err }

// DeclinedError is the answer of a server that declined the h2c upgrade
// with a final response instead of 101 Switching Protocols.
type DeclinedError struct {
	Status string // the status line's code and text, such as "200 OK"
	Proto  string // the response's protocol, such as "HTTP/1.1"
}

// Error says what the server answered instead of 101.
func (e *DeclinedError) Error() string {
	return fmt.Sprintf("the server declined the h2c upgrade: it answered %s %s instead of 101 Switching Protocols", e.Proto, e.Status)
}

// Error kinds, as counted in Report.ErrorKinds.
const (
	KindConnect  = "connect"  // the dial failed
	KindDeclined = "declined" // the server declined the upgrade
	KindTimeout  = "timeout"  // the request outlived Config.Timeout
	KindGoAway   = "goaway"   // the stream was lost to a GOAWAY
	KindRefused  = "refused"  // REFUSED_STREAM: not processed
	KindReset    = "reset"    // the server reset the stream
	KindProtocol = "protocol" // a protocol error, a bad preface or handshake
	KindClosed   = "closed"   // the connection closed under the request
	KindOther    = "other"
)

// ErrorKind classifies a request's error into one of the Kind constants.
func ErrorKind(err error) string {
	var (
		ce *connectError
		de *DeclinedError
		su *setupError
		se http2.StreamError
		ne net.Error
		wd *wsDeclinedError
		wc *websocket.CloseError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &ce):
		return KindConnect
	case errors.As(err, &de), errors.As(err, &wd):
		return KindDeclined
	case errors.Is(err, errTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case strings.Contains(msg, "GOAWAY"):
		return KindGoAway
	case errors.Is(err, h2client.ErrStreamRefused):
		return KindRefused
	case errors.As(err, &se):
		return KindReset
	case errors.As(err, &wc):
		return KindClosed
	case errors.Is(err, errEchoMismatch), errors.As(err, &su), errors.Is(err, errH1HeaderTooLarge), errors.Is(err, h1head.ErrMalformed),
		strings.Contains(msg, "connection error"),
		strings.Contains(msg, "malformed"), strings.Contains(msg, "protocol"):
		return KindProtocol
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed), strings.Contains(msg, "connection lost"):
		return KindClosed
	}
	return KindOther
}
