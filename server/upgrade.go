package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"
)

// DeclineReason says why a request that asked for "Upgrade: h2c" was
// served over HTTP/1.1 instead. Stats counts declines by reason.
type DeclineReason string

// The reasons an h2c upgrade is declined.
const (
	// DeclineHTTP10: the request is not HTTP/1.1.
	DeclineHTTP10 DeclineReason = "not-http/1.1"
	// DeclineMethod: a CONNECT request, which HTTP/2 frames differently.
	DeclineMethod DeclineReason = "method"
	// DeclineConnection: Connection lacks the Upgrade or HTTP2-Settings token.
	DeclineConnection DeclineReason = "connection-tokens"
	// DeclineSettingsMissing: no HTTP2-Settings header.
	DeclineSettingsMissing DeclineReason = "settings-missing"
	// DeclineSettingsDuplicate: more than one HTTP2-Settings header.
	DeclineSettingsDuplicate DeclineReason = "settings-duplicate"
	// DeclineSettingsEncoding: HTTP2-Settings is not base64url.
	DeclineSettingsEncoding DeclineReason = "settings-encoding"
	// DeclineSettingsLength: HTTP2-Settings is not a whole number of settings.
	DeclineSettingsLength DeclineReason = "settings-length"
	// DeclineSettingsValue: a setting has an illegal value.
	DeclineSettingsValue DeclineReason = "settings-value"
	// DeclineBodyTooLarge: the body exceeds Config.MaxUpgradeBodyBytes.
	DeclineBodyTooLarge DeclineReason = "body-too-large"
	// DeclineBodySlow: the body did not arrive within
	// Config.UpgradeBodyTimeout; the handler reads it over HTTP/1.1.
	DeclineBodySlow DeclineReason = "body-slow"
	// DeclineBodyError: reading the body failed; the handler sees the error.
	DeclineBodyError DeclineReason = "body-error"
	// DeclinePipelined: bytes other than the HTTP/2 preface follow the
	// request (a pipelined HTTP/1.1 request, or the start of a preface not
	// completed within ReadHeaderTimeout): both are served over HTTP/1.1.
	DeclinePipelined DeclineReason = "pipelined"
	// DeclineShutdown: the server is shutting down.
	DeclineShutdown DeclineReason = "shutdown"
	// DeclineHijack: net/http would not hand over the connection.
	DeclineHijack DeclineReason = "hijack-failed"
)

// DeclineReasons lists every DeclineReason in a fixed order.
var DeclineReasons = []DeclineReason{
	DeclineHTTP10, DeclineMethod, DeclineConnection, DeclineSettingsMissing,
	DeclineSettingsDuplicate, DeclineSettingsEncoding, DeclineSettingsLength,
	DeclineSettingsValue, DeclineBodyTooLarge, DeclineBodySlow, DeclineBodyError,
	DeclinePipelined, DeclineShutdown, DeclineHijack,
}

// switchingProtocols is the whole 101 response of an h2c upgrade.
const switchingProtocols = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"

// switchingProtocolsBytes is switchingProtocols as the engine's
// ConnOptions.Preamble; engines only read it.
var switchingProtocolsBytes = []byte(switchingProtocols)

// requestedUpgrade returns the first protocol of r's Upgrade header that
// molt recognises, "h2c" or "websocket", skipping unknown tokens; "" if none.
// A websocket upgrade belongs to the handlers.
func requestedUpgrade(h http.Header) string {
	for _, v := range h["Upgrade"] {
		for tok := range strings.SplitSeq(v, ",") {
			tok = textproto.TrimString(tok)
			switch {
			case strings.EqualFold(tok, "h2c"):
				return "h2c"
			case strings.EqualFold(tok, "websocket"):
				return "websocket"
			}
		}
	}
	return ""
}

// checkUpgrade makes, before anything is written, every check on an h2c
// upgrade request that the engine would otherwise make after the 101: the
// HTTP/1.1 side here, and the decoded HTTP2-Settings by asking the engine
// (check is its CheckSettings). It returns the decoded settings, or the
// reason to decline.
func checkUpgrade(r *http.Request, check func([]byte) error) ([]byte, DeclineReason) {
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 {
		return nil, DeclineHTTP10
	}
	if r.Method == http.MethodConnect {
		return nil, DeclineMethod
	}
	if !headerHasToken(r.Header, "Connection", "Upgrade") || !headerHasToken(r.Header, "Connection", "HTTP2-Settings") {
		return nil, DeclineConnection
	}
	values := r.Header["Http2-Settings"]
	switch {
	case len(values) == 0:
		return nil, DeclineSettingsMissing
	case len(values) > 1:
		return nil, DeclineSettingsDuplicate
	}
	settings, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(values[0], "="))
	if err != nil {
		return nil, DeclineSettingsEncoding
	}
	if len(settings)%6 != 0 {
		return nil, DeclineSettingsLength
	}
	if err := check(settings); err != nil {
		return nil, DeclineSettingsValue
	}
	return settings, ""
}

// headerHasToken reports whether the comma-separated header key of h holds
// token, compared case-insensitively.
func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h[key] {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(tok), token) {
				return true
			}
		}
	}
	return false
}

// hopByHop are the header fields that belong to one HTTP/1.1 connection and
// must not reach the handler of stream 1 (RFC 9113 section 8.2.2).
var hopByHop = []string{"Connection", "Upgrade", "Http2-Settings", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding"}

// removeHopByHop deletes the connection-specific fields of h: the fixed
// list, the fields named by Connection, and TE unless it is "trailers".
func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = textproto.TrimString(tok); tok != "" {
				h.Del(tok)
			}
		}
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
	if te := h["Te"]; len(te) > 0 && !(len(te) == 1 && strings.EqualFold(textproto.TrimString(te[0]), "trailers")) {
		delete(h, "Te")
	}
}

// readUpgradeBody reads r's body into memory if it fits the upgrade limit
// and arrives within the upgrade timeout. If it does not, or reading fails,
// r.Body is replaced by a body that replays what was read followed by the
// rest (or the error), so the request can be served over HTTP/1.1 with its
// body intact.
func (s *Server) readUpgradeBody(r *http.Request) ([]byte, DeclineReason) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, ""
	}
	limit := s.cfg.MaxUpgradeBodyBytes
	if r.ContentLength > limit {
		return nil, DeclineBodyTooLarge
	}
	b := readBody(r.Body, limit+1)
	if !b.wait(s.cfg.UpgradeBodyTimeout) {
		r.Body = b
		return nil, DeclineBodySlow
	}
	switch {
	case b.err != nil:
		r.Body = b
		return nil, DeclineBodyError
	case int64(len(b.buf)) > limit:
		r.Body = b
		return nil, DeclineBodyTooLarge
	}
	return b.buf, ""
}

// bodyReader reads the first bytes of a request body in a goroutine of its
// own, so that the core can stop waiting for a slow body. A read deadline
// cannot do that: when a read on the connection fails, net/http cancels
// the request's context, and a chunked body stays broken, so the handler
// could no longer read the body.
//
// As an io.ReadCloser it is the whole body again: the bytes the goroutine
// read, as soon as it has read them, then the error it stopped on or the
// rest of the body. Once it is read from, the goroutine stops after the
// read it is in, so a handler that streams the body is not held up.
type bodyReader struct {
	src  io.ReadCloser
	done chan struct{} // closed when the goroutine has stopped

	mu      sync.Mutex
	cond    sync.Cond // signalled when buf grows or the goroutine stops
	buf     []byte    // what the goroutine read
	off     int       // how much of buf Read has returned
	err     error     // the goroutine stopped on it (io.EOF is not kept)
	stopped bool      // the goroutine has stopped; src is Read's now
	taken   bool      // Read has been called: the goroutine is to stop
}

// readBody starts reading up to n bytes of src.
func readBody(src io.ReadCloser, n int64) *bodyReader {
	b := &bodyReader{src: src, done: make(chan struct{}), buf: make([]byte, 0, 512)}
	b.cond.L = &b.mu
	go b.read(io.LimitReader(src, n))
	return b
}

// read is the goroutine: it reads r to its end, an error, or until Read
// takes over.
func (b *bodyReader) read(r io.Reader) {
	defer close(b.done)
	var chunk [4 << 10]byte
	for {
		n, err := r.Read(chunk[:])
		b.mu.Lock()
		b.buf = append(b.buf, chunk[:n]...)
		if err != nil || b.taken {
			if err != io.EOF {
				b.err = err
			}
			b.stopped = true
		}
		stopped := b.stopped
		b.cond.Broadcast()
		b.mu.Unlock()
		if stopped {
			return
		}
	}
}

// wait waits until the goroutine has read the whole body (or the limit, or
// failed) or, if timeout is positive, until timeout has passed. It reports
// whether the reading is done; then buf and err may be used directly.
func (b *bodyReader) wait(timeout time.Duration) bool {
	if timeout <= 0 {
		<-b.done
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-b.done:
		return true
	case <-t.C:
		return false
	}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	b.mu.Lock()
	b.taken = true
	for b.off == len(b.buf) && !b.stopped {
		b.cond.Wait()
	}
	if b.off < len(b.buf) {
		n := copy(p, b.buf[b.off:])
		b.off += n
		b.mu.Unlock()
		return n, nil
	}
	err := b.err
	b.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return b.src.Read(p)
}

// pending reports whether the goroutine is still reading, or has read
// bytes that Read has not returned yet.
func (b *bodyReader) pending() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.stopped || b.off < len(b.buf)
}

// Close closes the body unless the goroutine is still reading it; net/http
// closes it again after the handler in any case.
func (b *bodyReader) Close() error {
	select {
	case <-b.done:
		return b.src.Close()
	default:
		return nil
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// serveUpgrade switches r's connection to HTTP/2 if r is a valid h2c
// upgrade request, and serves r as stream 1. It reports whether it took
// the request; if not, the caller serves r over HTTP/1.1.
func (s *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, c *conn) bool {
	reason := s.upgrade(w, r, c)
	if reason == "" {
		return true
	}
	if reason == DeclineShutdown {
		w.Header().Set("Connection", "close")
	}
	s.stats.declined[reason].Add(1)
	s.log.Debug("h2c upgrade declined", "reason", string(reason), "remote", r.RemoteAddr, "method", r.Method, "uri", r.RequestURI)
	return false
}

// upgrade takes r's connection over and serves it as HTTP/2 with r as
// stream 1, or returns why not. When it declines, r (its body included) is
// as it came, for the caller to serve over HTTP/1.1.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, c *conn) DeclineReason {
	if c.resumed.Swap(false) {
		// r is the request resumeHTTP1 gave back to net/http.
		return DeclinePipelined
	}
	settings, reason := checkUpgrade(r, s.engine.CheckSettings)
	if reason != "" {
		return reason
	}
	if s.draining.Load() {
		return DeclineShutdown
	}
	body, reason := s.readUpgradeBody(r)
	if reason != "" {
		return reason
	}
	replayBody := func() {
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
	}
	if s.draining.Load() {
		// Shutdown began while the body was read: an HTTP/2 connection
		// begun now would only be drained again.
		replayBody()
		return DeclineShutdown
	}
	c.upgrading.Store(true)
	_, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		c.upgrading.Store(false)
		replayBody()
		return DeclineHijack
	}
	// Bytes the client sent after the request are in net/http's reader:
	// the client's preface, often in the same packet, or a pipelined
	// HTTP/1.1 request, which HTTP/2 would lose.
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	if n := len(buffered); n > 0 && n < len(http2Preface) && isPrefacePrefix(buffered) {
		// "P" (say) could begin the preface or a pipelined POST: read on
		// until the bytes tell.
		buffered = s.peekPreface(c, brw.Reader)
	}
	if !isPrefacePrefix(buffered) || len(buffered) > 0 && len(buffered) < len(http2Preface) {
		s.resumeHTTP1(r, c, buffered, body)
		return ""
	}
	s.switchToHTTP2(r, c, buffered, body, settings)
	return ""
}

// isPrefacePrefix reports whether b, or its first 24 bytes, are the
// HTTP/2 preface or the start of it.
func isPrefacePrefix(b []byte) bool {
	n := min(len(b), len(http2Preface))
	return string(b[:n]) == http2Preface[:n]
}

// peekPreface reads into br, which holds a proper prefix of the HTTP/2
// preface, until what it holds differs from the preface or holds all of
// it, or reading fails or takes longer than ReadHeaderTimeout. It returns
// what br holds then: still a proper prefix only if reading stopped.
func (s *Server) peekPreface(c *conn, br *bufio.Reader) []byte {
	if d := s.cfg.ReadHeaderTimeout; d > 0 {
		_ = c.SetReadDeadline(time.Now().Add(d))
		defer c.SetReadDeadline(time.Time{})
	}
	for {
		b, err := br.Peek(br.Buffered() + 1)
		if err != nil || len(b) >= len(http2Preface) || !isPrefacePrefix(b) {
			b, _ = br.Peek(br.Buffered())
			return b
		}
	}
}

// resumeHTTP1 gives a connection that upgrade has hijacked back to
// net/http, because the bytes buffered behind the upgrade request r are not
// the HTTP/2 preface. net/http sees a new connection that starts with r,
// rebuilt with its body, and goes on with the buffered bytes; it serves
// them all over HTTP/1.1. The rebuilt request is marked so that upgrade
// declines it (DeclinePipelined) and counts it once.
func (s *Server) resumeHTTP1(r *http.Request, c *conn, buffered, body []byte) {
	b := appendRequest(nil, r, body)
	b = append(b, buffered...)
	c.replay = append(b, c.replay...)
	c.resumed.Store(true)
	c.upgrading.Store(false)
	if !s.queue.push(c) {
		s.log.Debug("h2c upgrade declined for a pipelined request, but HTTP/1.1 is shut down", "remote", r.RemoteAddr)
		c.Close()
	}
}

// appendRequest appends the HTTP/1.x wire form of r, a server request whose
// body has been read into body, to b. net/http parses it back into the same
// request: the same method, target, version, Host, header fields (in
// another order, which a handler cannot see), body and trailers. Expect is
// left out, since net/http has already answered it.
func appendRequest(b []byte, r *http.Request, body []byte) []byte {
	b = fmt.Appendf(b, "%s %s %s\r\nHost: %s\r\n", r.Method, r.RequestURI, r.Proto, r.Host)
	h := r.Header.Clone()
	for _, k := range []string{"Host", "Content-Length", "Transfer-Encoding", "Trailer", "Expect"} {
		delete(h, k)
	}
	var hb bytes.Buffer
	h.Write(&hb)
	b = append(b, hb.Bytes()...)
	if len(r.Trailer) == 0 {
		b = fmt.Appendf(b, "Content-Length: %d\r\n\r\n", len(body))
		return append(b, body...)
	}
	b = fmt.Appendf(b, "Trailer: %s\r\nTransfer-Encoding: chunked\r\n\r\n", strings.Join(slices.Sorted(maps.Keys(r.Trailer)), ", "))
	if len(body) > 0 {
		b = fmt.Appendf(b, "%x\r\n%s\r\n", len(body), body)
	}
	b = append(b, "0\r\n"...)
	hb.Reset()
	r.Trailer.Write(&hb)
	b = append(b, hb.Bytes()...)
	return append(b, "\r\n"...)
}

// switchToHTTP2 hands a hijacked connection to the engine with r, stripped
// of its HTTP/1.1 framing, as stream 1, and the 101 for the engine to
// write before its first frames (ConnOptions.Preamble): molt's engine
// sends them together, in one write. buffered are the bytes net/http had
// read past the request; net/http's Hijack gives a fresh writer, so
// nothing is waiting to go before the 101.
func (s *Server) switchToHTTP2(r *http.Request, c *conn, buffered, body []byte, settings []byte) {
	// Replay what net/http had buffered (the client's preface) to the engine.
	if len(buffered) > 0 {
		c.replay = append(slices.Clone(buffered), c.replay...)
	}
	_ = c.SetDeadline(time.Time{})
	s.stats.upgrades.Add(1)

	// The request becomes stream 1; its context carries what net/http
	// puts in every request's (the engine adds them to later streams).
	ctx := context.WithValue(s.ctx, http.ServerContextKey, r.Context().Value(http.ServerContextKey))
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, c.LocalAddr())
	ctx, cancel := context.WithCancel(withConnInfo(ctx, &connInfo{proto: H2CUpgrade, srv: s, conn: c}))
	defer cancel()
	// net/http is done with r: a shallow copy can take its header and URL.
	up := r.WithContext(ctx)
	up.Proto, up.ProtoMajor, up.ProtoMinor = "HTTP/2.0", 2, 0
	removeHopByHop(up.Header)
	up.TransferEncoding = nil
	up.Close = false
	up.ContentLength = int64(len(body))
	up.Body = http.NoBody
	if len(body) > 0 {
		up.Body = io.NopCloser(bytes.NewReader(body))
	}
	s.serveHTTP2(c, ctx, H2CUpgrade, up, settings, switchingProtocolsBytes)
}
