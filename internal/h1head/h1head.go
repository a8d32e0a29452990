// Package h1head reads HTTP/1.1 response heads (the status line and the
// header fields) from a connection with a bound on their size.
//
// net/http's ReadResponse reads a head for as long as the server sends
// header lines. Every molt client that reads an HTTP/1.1 response from a
// connection of its own (the h2c upgrade, the WebSocket handshake, the
// load generator's keep-alive requests) reads it through a Reader, which
// fails a head that takes more than its budget, says which of the three
// ways a head can fail it was, and leaves the body and whatever follows
// it (HTTP/2 frames, WebSocket frames) unbounded. A server that sends
// slowly is the caller's to stop, with a deadline on the connection.
//
//	hr := h1head.NewReader(conn, 4096, 1<<20, nil)
//	resp, err := hr.ReadResponse(req)
//	switch {
//	case errors.Is(err, h1head.ErrTooLarge): // the head passed 1 MiB
//	case errors.Is(err, h1head.ErrMalformed): // not HTTP/1.1
//	case errors.Is(err, h1head.ErrTruncated): // EOF before its end
//	}
package h1head

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrTooLarge is the error of a response head larger than the Reader's
// budget, unless NewReader was given an error of the caller's own.
var ErrTooLarge = errors.New("HTTP/1.1 response head too large")

// ErrMalformed wraps net/http's error for a response head that is not
// HTTP/1.1: a bad status line or a bad header line.
var ErrMalformed = errors.New("malformed HTTP/1.1 response head")

// ErrTruncated wraps io.ErrUnexpectedEOF when the connection ends before
// the end of a response head (also before its first byte).
var ErrTruncated = errors.New("connection closed before the end of the HTTP/1.1 response head")

// Reader reads HTTP/1.1 responses from a connection, each head within a
// byte budget. Not safe for concurrent use.
type Reader struct {
	br  *bufio.Reader
	lim budget
}

// NewReader returns a Reader of r with a read buffer of size bytes (at
// least 16) whose response heads may take max bytes of r. A head that
// takes more fails with tooLarge, or ErrTooLarge if tooLarge is nil.
//
// The budget counts bytes read from r while heads are read, so a head
// may fail up to a buffer's worth early when the server sent more behind
// it (a response that big is broken anyway).
func NewReader(r io.Reader, size int, max int64, tooLarge error) *Reader {
	if tooLarge == nil {
		tooLarge = ErrTooLarge
	}
	h := &Reader{lim: budget{r: r, max: max, left: max, tooLarge: tooLarge}}
	h.br = bufio.NewReaderSize(&h.lim, size)
	return h
}

// ReadResponse reads one response to req. Its head must fit in what is
// left of the budget; its body, read through resp.Body, is not bounded.
// ReadResponse does not renew the budget: the heads of the responses to
// one request (1xx responses, then the final one) share it. Call Reset
// before the next request's.
//
// Errors: the budget's error (ErrTooLarge or the caller's); the
// connection's own error (a reset, a deadline); ErrTruncated wrapping
// io.ErrUnexpectedEOF; ErrMalformed wrapping net/http's error.
func (h *Reader) ReadResponse(req *http.Request) (*http.Response, error) {
	h.lim.on = true
	resp, err := http.ReadResponse(h.br, req)
	h.lim.on = false
	if err == nil {
		return resp, nil
	}
	return nil, h.classify(err)
}

// classify names what went wrong with a head. net/http cannot be asked:
// bufio.Reader.ReadLine hands over a partial line without the error that
// cut it short, so a head cut by the budget or by the end of the
// connection reaches ReadResponse as a malformed line. What the budget
// saw decides instead.
func (h *Reader) classify(err error) error {
	switch {
	case h.lim.refused:
		return h.lim.tooLarge
	case h.lim.readErr != nil:
		return h.lim.readErr // the connection's failure (reset, deadline), not the head's
	case h.lim.eof, errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.ErrUnexpectedEOF // what net/http says for an EOF within a head
		}
		return fmt.Errorf("%w: %w", ErrTruncated, err)
	default:
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
}

// Reset renews the budget for the next request's response heads.
func (h *Reader) Reset() { h.lim.left, h.lim.refused = h.lim.max, false }

// Buffered returns the buffered reader over the connection, holding the
// bytes read after the last head: what follows it (a body, or the frames
// of the protocol a 101 switched to) is read from here, unbounded.
func (h *Reader) Buffered() *bufio.Reader { return h.br }

// budget reads from r, failing once left bytes have been read while on.
// What it saw is sticky: a connection that ended stays ended.
type budget struct {
	r        io.Reader
	on       bool
	max      int64
	left     int64
	tooLarge error
	refused  bool  // a read was refused while on: the budget is spent
	eof      bool  // r returned io.EOF
	readErr  error // r's first error other than io.EOF
}

func (b *budget) Read(p []byte) (int, error) {
	if b.on {
		if b.left <= 0 {
			b.refused = true
			return 0, b.tooLarge
		}
		if int64(len(p)) > b.left {
			p = p[:b.left]
		}
	}
	n, err := b.r.Read(p)
	if b.on {
		b.left -= int64(n)
	}
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil && b.readErr == nil:
		b.readErr = err
	}
	return n, err
}
