package h2client

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/molt-http/molt/internal/h1head"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// UpgradeResult is the outcome of Upgrade.
type UpgradeResult struct {
	// Switching is the 101 Switching Protocols response (headers only),
	// nil if the server declined the upgrade.
	Switching *http.Response
	// Conn is the HTTP/2 connection, nil if the server declined the
	// upgrade.
	Conn *ClientConn
	// Response is the final response to the request: the one read from
	// stream 1, or the HTTP/1.1 response if the server declined.
	Response *http.Response
	// SwitchedAt is when the 101 response had been read (and the request
	// body sent); zero if the server declined.
	SwitchedAt time.Time
}

// Upgrade sends req over c as an HTTP/1.1 request asking to upgrade to h2c
// (RFC 7540 §3.2): it carries "Upgrade: h2c", "Connection: Upgrade,
// HTTP2-Settings" and an HTTP2-Settings header encoding opts.Settings, plus
// req's own headers and body (with Content-Length if the length is known,
// else chunked, with req.Trailer as chunked trailers). If req.Header has
// "Expect: 100-continue", the body is sent only after a 100 Continue, a 101,
// or opts.ExpectContinueTimeout; it is not sent if a final status comes
// first.
//
// Informational responses other than 101 that arrive before the 101 are
// reported to the httptrace.ClientTrace's Got1xxResponse of req's context
// and skipped.
//
// If the server answers 101 Switching Protocols, the client sends its
// preface and SETTINGS, and the result holds the 101 response, the
// ClientConn, and the response to req read from stream 1, which the client
// treats as half-closed (local). If the server answers anything else, it
// declined the upgrade: Conn is nil and Response is the HTTP/1.1 response,
// whose Body closes c when closed. On error c is closed.
func Upgrade(c net.Conn, req *http.Request, opts ClientOptions) (*UpgradeResult, error) {
	u, err := startUpgrade(c, req, opts)
	if err != nil {
		return nil, err
	}
	if u.cc == nil {
		return &UpgradeResult{Response: u.declined}, nil
	}
	res, err := u.cs.awaitResponse()
	if err != nil {
		u.cc.Close()
		return nil, err
	}
	return &UpgradeResult{Switching: u.switching, Conn: u.cc, Response: res, SwitchedAt: u.switchedAt}, nil
}

// upgraded is the state after the upgrade handshake: either the connection
// switched (cc and cs set) or the server declined.
type upgraded struct {
	switching  *http.Response
	switchedAt time.Time
	cc         *ClientConn
	cs         *clientStream // stream 1, carrying req's response
	declined   *http.Response
}

// startUpgrade performs the HTTP/1.1 part of Upgrade and, on a 101, starts
// the HTTP/2 connection without waiting for the response on stream 1.
func startUpgrade(c net.Conn, req *http.Request, opts ClientOptions) (*upgraded, error) {
	cfg, err := opts.config()
	if err == nil {
		_, _, err = requestFields(req) // validate before writing anything
	}
	if err != nil {
		c.Close()
		closeRequestBody(req)
		return nil, err
	}
	ctx := req.Context()
	closeBody := sync.OnceFunc(func() { closeRequestBody(req) })
	stop := context.AfterFunc(ctx, func() {
		c.Close()
		closeBody()
	})
	h := &upgradeHandshake{c: c, req: req, cfg: cfg, closeBody: closeBody}
	resp, br, err := h.run()
	switchedAt := time.Now()
	if err != nil {
		stop()
		c.Close()
		closeBody()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body = &declinedBody{rc: resp.Body, c: c, ctx: ctx, stop: stop, closeBody: closeBody}
		return &upgraded{declined: resp}, nil
	}
	cc, cs, err := newClientConn(c, br, cfg, req)
	if !stop() { // req's context ended during the switch
		if cc != nil {
			cc.Close()
		}
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	return &upgraded{switching: resp, switchedAt: switchedAt, cc: cc, cs: cs}, nil
}

// MaxUpgradeResponseHeader bounds what an upgrade reads of the server's
// HTTP/1.1 responses before the 101 or a final response: status lines
// and header sections, 1xx responses included. A server that sends more
// fails the upgrade with ErrUpgradeResponseTooLarge.
const MaxUpgradeResponseHeader = 1 << 20

// ErrUpgradeResponseTooLarge is the error of an upgrade whose response
// header sections went past MaxUpgradeResponseHeader.
var ErrUpgradeResponseTooLarge = errors.New("h2client: the upgrade's HTTP/1.1 response header is larger than 1 MiB")

// upgradeHandshake is the HTTP/1.1 exchange of an upgrade.
type upgradeHandshake struct {
	c         net.Conn
	req       *http.Request
	cfg       clientConfig
	closeBody func()
}

// run writes the request and reads responses up to the 101 or a final
// response. On a 101 it returns only once the request body has been sent,
// with the reader holding any bytes that followed the 101.
func (h *upgradeHandshake) run() (*http.Response, *bufio.Reader, error) {
	req := h.req
	declared := outgoingLength(req)
	chunked := declared < 0 || len(req.Trailer) > 0
	bw := bufio.NewWriter(h.c)
	h.writeHead(bw, declared, chunked)
	if err := bw.Flush(); err != nil {
		return nil, nil, err
	}

	proceed := make(chan struct{}) // closed on 100 Continue or 101
	letProceed := sync.OnceFunc(func() { close(proceed) })
	abandon := make(chan struct{}) // closed when an unsent body is no longer wanted
	written := make(chan error, 1)
	if declared != 0 || chunked {
		expect := declared != 0 && httpguts.HeaderValuesContainsToken(req.Header["Expect"], "100-continue")
		go func() {
			err := h.writeBody(bw, declared, chunked, expect, proceed, abandon)
			written <- err
			if err != nil {
				h.c.Close() // the server may be waiting for the rest of the body
			}
		}()
	} else {
		h.closeBody()
		written <- nil
	}

	// The heads of the 1xx responses and the final one share the budget;
	// what follows the last (a body, or HTTP/2) is not bounded here.
	hr := h1head.NewReader(h.c, 4096, MaxUpgradeResponseHeader, ErrUpgradeResponseTooLarge)
	br := hr.Buffered()
	for {
		resp, err := hr.ReadResponse(req)
		if err != nil {
			close(abandon)
			select {
			case werr := <-written:
				if werr != nil {
					err = werr
				}
			default:
			}
			return nil, nil, err
		}
		switch code := resp.StatusCode; {
		case code == http.StatusSwitchingProtocols:
			if !httpguts.HeaderValuesContainsToken(resp.Header["Upgrade"], "h2c") {
				close(abandon)
				return nil, nil, fmt.Errorf("h2client: 101 response switches to %q, not h2c", resp.Header.Get("Upgrade"))
			}
			letProceed()
			if err := <-written; err != nil {
				return nil, nil, err
			}
			return resp, br, nil
		case code < 200:
			if code == http.StatusContinue {
				letProceed()
			}
			if err := got1xx(req.Context(), code, textproto.MIMEHeader(resp.Header)); err != nil {
				close(abandon)
				return nil, nil, err
			}
		default:
			close(abandon)
			return resp, br, nil
		}
	}
}

// writeHead writes the request line and header section. Errors surface
// when w is flushed.
func (h *upgradeHandshake) writeHead(w *bufio.Writer, declared int64, chunked bool) {
	req := h.req
	host, method, path, _ := requestLine(req) // validated by startUpgrade
	fmt.Fprintf(w, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
	fmt.Fprintf(w, "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: %s\r\n", encodeSettings(h.cfg.settings))
	switch {
	case chunked:
		w.WriteString("Transfer-Encoding: chunked\r\n")
		if keys := sortedKeys(req.Trailer); len(keys) > 0 {
			fmt.Fprintf(w, "Trailer: %s\r\n", strings.Join(keys, ", "))
		}
	case declared > 0:
		fmt.Fprintf(w, "Content-Length: %d\r\n", declared)
	}
	exclude := make(map[string]bool)
	for k, vv := range req.Header {
		switch name := strings.ToLower(k); {
		case hopByHop[name]:
			exclude[k] = true
		case name == "te":
			exclude[k] = true
			if slices.ContainsFunc(vv, func(v string) bool { return strings.EqualFold(v, "trailers") }) {
				w.WriteString("TE: trailers\r\n")
			}
		}
	}
	req.Header.WriteSubset(w, exclude)
	w.WriteString("\r\n")
}

// writeBody sends the request body, first waiting for permission if expect
// is set. It returns without sending if abandon is closed first.
func (h *upgradeHandshake) writeBody(w *bufio.Writer, declared int64, chunked, expect bool, proceed, abandon <-chan struct{}) error {
	defer h.closeBody()
	if expect {
		t := time.NewTimer(h.cfg.expectTimeout)
		defer t.Stop()
		select {
		case <-proceed:
		case <-t.C:
		case <-abandon:
			return nil
		}
	}
	req := h.req
	var dst io.Writer = w
	var cw io.WriteCloser
	if chunked {
		cw = httputil.NewChunkedWriter(w)
		dst = cw
	}
	if declared != 0 {
		src := io.Reader(req.Body)
		if declared > 0 {
			src = io.LimitReader(req.Body, declared+1) // one more to detect excess
		}
		n, err := io.Copy(dst, src)
		if err != nil {
			return err
		}
		if declared > 0 && n != declared {
			return fmt.Errorf("h2client: request body length does not match ContentLength %d", declared)
		}
	}
	if chunked {
		cw.Close() // the last chunk; trailers and the final CRLF follow
		req.Trailer.Write(w)
		w.WriteString("\r\n")
	}
	return w.Flush()
}

// encodeSettings returns the HTTP2-Settings header value for settings: the
// SETTINGS payload in base64url without padding.
func encodeSettings(settings []http2.Setting) string {
	b := make([]byte, 0, 6*len(settings))
	for _, s := range settings {
		b = binary.BigEndian.AppendUint16(b, uint16(s.ID))
		b = binary.BigEndian.AppendUint32(b, s.Val)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// declinedBody is the body of an HTTP/1.1 response to a declined upgrade.
// Closing it closes the connection.
type declinedBody struct {
	rc        io.ReadCloser
	c         net.Conn
	ctx       context.Context
	stop      func() bool // stops closing c when ctx ends
	closeBody func()
}

func (b *declinedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF && b.ctx.Err() != nil {
		err = b.ctx.Err()
	}
	return n, err
}

func (b *declinedBody) Close() error {
	b.stop()
	b.c.Close()
	b.closeBody()
	return nil
}

// UpgradeTransport is an http.RoundTripper for mode h2c-upgrade. It keeps
// one connection: the first request on a fresh connection performs the
// upgrade and is served on stream 1, later requests become new streams on
// the same connection, and when the connection can take no new requests it
// dials a new one and upgrades again. Concurrent requests that need a new
// connection wait for a single dial. If the server declines the upgrade,
// that HTTP/1.1 response is returned as is (ProtoMajor 1) and the
// connection is dropped once its body is closed.
type UpgradeTransport struct {
	// DialContext dials the server; nil means a zero net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Options configures every connection.
	Options ClientOptions

	mu      sync.Mutex
	cc      *ClientConn
	retired []*ClientConn // replaced connections that may still carry streams
	dialing chan struct{} // closed when the dial in progress ends; nil if none
}

// RoundTrip sends req, upgrading a new connection when needed.
func (t *UpgradeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for {
		t.mu.Lock()
		if cc := t.cc; cc != nil && cc.CanTakeNewRequest() {
			t.mu.Unlock()
			return cc.RoundTrip(req)
		}
		if wait := t.dialing; wait != nil {
			t.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				closeRequestBody(req)
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		t.dialing = done
		t.mu.Unlock()
		return t.upgrade(req, done)
	}
}

// upgrade dials and upgrades a connection for req, installs it, and waits
// for req's response on stream 1.
func (t *UpgradeTransport) upgrade(req *http.Request, done chan struct{}) (*http.Response, error) {
	u, err := t.dialAndUpgrade(req)
	t.mu.Lock()
	if err == nil && u.cc != nil {
		if t.cc != nil {
			t.retired = append(slices.DeleteFunc(t.retired, (*ClientConn).isClosed), t.cc)
		}
		t.cc = u.cc
	}
	t.dialing = nil
	close(done)
	t.mu.Unlock()
	switch {
	case err != nil:
		return nil, err
	case u.cc == nil:
		return u.declined, nil
	}
	return u.cs.awaitResponse()
}

func (t *UpgradeTransport) dialAndUpgrade(req *http.Request) (*upgraded, error) {
	if req.URL == nil {
		closeRequestBody(req)
		return nil, errors.New("h2client: request has no URL")
	}
	port := req.URL.Port()
	if port == "" {
		port = "80"
	}
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	c, err := dial(req.Context(), "tcp", net.JoinHostPort(req.URL.Hostname(), port))
	if err != nil {
		closeRequestBody(req)
		return nil, err
	}
	return startUpgrade(c, req, t.Options)
}

// CloseIdleConnections closes the transport's connections, failing any
// requests still in progress on them. The next request dials anew.
func (t *UpgradeTransport) CloseIdleConnections() {
	t.mu.Lock()
	conns := t.retired
	if t.cc != nil {
		conns = append(conns, t.cc)
	}
	t.cc, t.retired = nil, nil
	t.mu.Unlock()
	for _, cc := range conns {
		cc.Close()
	}
}
