package websocket

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// errStreamEnded is returned by operations on a Conn over HTTP/2 once
// its stream has ended: the handler that accepted it returned (net/http
// then ends the request's context, and the response writer must not be
// used again), or the peer reset it.
var errStreamEnded = errors.New("websocket: the HTTP/2 stream has ended: the handler that accepted it returned, or the stream was reset")

// stream is a Conn's transport over an HTTP/2 stream (RFC 8441): the
// request body inbound, the response writer outbound.
//
// It keeps the Conn's deadlines itself, so that they mean on HTTP/2 what
// they mean on a net.Conn: a deadline fails the transport call in
// progress when it passes, and every call that starts after it, and does
// nothing to an idle stream. (http.ResponseController's deadlines, over
// x/net, break the body or reset the stream when their timer fires, even
// when nothing is being read or written.) A call in progress is
// interrupted the only ways the http.ResponseWriter API allows, and so
// for good: a read by closing the body, a write by a write deadline in
// the past, which resets the stream.
//
// It uses the writer only while the request's context lives: once the
// handler has returned, every call fails with errStreamEnded instead of
// reaching a writer that net/http has retired.
type stream struct {
	ctx  context.Context // the request's
	w    http.ResponseWriter
	rc   *http.ResponseController
	body io.ReadCloser
	rd   deadline // reads
	wd   deadline // writes
}

func newStream(w http.ResponseWriter, r *http.Request) *stream {
	s := &stream{
		ctx:  r.Context(),
		w:    w,
		rc:   http.NewResponseController(w),
		body: r.Body,
	}
	s.rd.interrupt = func() { s.body.Close() }
	s.wd.interrupt = func() {
		if s.ctx.Err() == nil {
			s.rc.SetWriteDeadline(aLongTimeAgo)
		}
	}
	return s
}

// Read reads from the request body.
func (s *stream) Read(p []byte) (int, error) {
	if s.ctx.Err() != nil {
		return 0, errStreamEnded
	}
	if err := s.rd.begin(); err != nil {
		return 0, err
	}
	n, err := s.body.Read(p)
	return n, s.rd.end(err)
}

// Write writes to the response.
func (s *stream) Write(p []byte) (int, error) {
	if s.ctx.Err() != nil {
		return 0, errStreamEnded
	}
	if err := s.wd.begin(); err != nil {
		return 0, err
	}
	n, err := s.w.Write(p)
	return n, s.wd.end(err)
}

// flush sends what the response writer buffered.
func (s *stream) flush() error {
	if s.ctx.Err() != nil {
		return errStreamEnded
	}
	if err := s.wd.begin(); err != nil {
		return err
	}
	return s.wd.end(s.rc.Flush())
}

// setReadDeadline and setWriteDeadline set the deadlines; they fail once
// the stream has ended.
func (s *stream) setReadDeadline(t time.Time) error {
	if s.ctx.Err() != nil {
		return errStreamEnded
	}
	s.rd.set(t)
	return nil
}

func (s *stream) setWriteDeadline(t time.Time) error {
	if s.ctx.Err() != nil {
		return errStreamEnded
	}
	s.wd.set(t)
	return nil
}

// close ends reads for good, and interrupts a write in progress; a later
// write fails. It does not wait for the write to return.
func (s *stream) close() error {
	err := s.body.Close()
	s.wd.abort()
	s.rd.stop()
	s.wd.stop()
	return err
}

// deadline is one direction's deadline of a stream. Transport calls are
// bracketed by begin and end; when the deadline passes during one,
// interrupt ends it, and the direction stays failed.
//
// Its timer is made once and moved with Reset, so that the keepalive
// pattern of a fresh deadline before every read and write costs no
// allocation per message. A timer that fires late (for a deadline since
// moved or cleared) finds the deadline not passed and does nothing.
type deadline struct {
	interrupt func() // ends the call in progress; called with mu held

	mu     sync.Mutex
	t      time.Time // zero: none
	timer  *time.Timer
	active bool  // a transport call is in progress
	err    error // once set, the direction has failed: every call returns it
}

// set changes the deadline. A deadline already passed interrupts the call
// in progress at once; otherwise a timer will, if a call is then in
// progress.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.t = t
	if d.timer != nil {
		d.timer.Stop()
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		d.expireLocked()
		return
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(wait, d.fire)
		return
	}
	d.timer.Reset(wait)
}

// fire is the timer's function: it expires the deadline if it has
// passed. If it has not (a firing for an earlier deadline that was moved
// since, or a deadline without a monotonic reading while the wall clock
// stepped back), it sets the timer again for the deadline, so that a
// deadline is never left without a timer.
func (d *deadline) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.t.IsZero() {
		return
	}
	if wait := time.Until(d.t); wait > 0 {
		if d.timer != nil {
			d.timer.Reset(wait)
		}
		return
	}
	d.expireLocked()
}

// expireLocked interrupts the call in progress, if any. With none, the
// deadline only makes the next begin fail (unless it is moved first).
func (d *deadline) expireLocked() {
	if d.active && d.err == nil {
		d.err = os.ErrDeadlineExceeded
		d.interrupt()
	}
}

// stop drops the timer, so that a closed Conn is not kept until it fires.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

// abort fails the direction for good with errClosed, interrupting a call
// in progress.
func (d *deadline) abort() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return
	}
	d.err = errClosed
	if d.active {
		d.interrupt()
	}
}

// expired reports whether the deadline failed a call in progress.
func (d *deadline) expired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err == os.ErrDeadlineExceeded
}

// begin starts a transport call, unless the deadline has passed or the
// direction has failed.
func (d *deadline) begin() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return d.err
	}
	if !d.t.IsZero() && !time.Now().Before(d.t) {
		return os.ErrDeadlineExceeded
	}
	d.active = true
	return nil
}

// end ends a transport call that returned err; a call that failed
// because it was interrupted reports why.
func (d *deadline) end(err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.active = false
	if err != nil && d.err != nil {
		return d.err
	}
	return err
}
