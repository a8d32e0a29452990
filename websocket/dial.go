package websocket

import (
	"bufio"
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/molt-http/molt/internal/h1head"
	"github.com/molt-http/molt/internal/h2client"
	"golang.org/x/net/http/httpguts"
)

// Protocol selects how Dial reaches the server.
type Protocol int

// The ways Dial opens a WebSocket, named like molt's server protocols.
const (
	// DialHTTP1 opens it with an HTTP/1.1 Upgrade (RFC 6455), the
	// default; ws:// or, with TLS, wss://.
	DialHTTP1 Protocol = iota
	// DialH2CPrior opens a cleartext HTTP/2 connection by prior
	// knowledge and the WebSocket as an extended CONNECT stream (RFC
	// 8441) on it.
	DialH2CPrior
	// DialH2CUpgrade reaches HTTP/2 with an "OPTIONS *" request that
	// asks to upgrade to h2c, then opens the WebSocket as an extended
	// CONNECT stream, as DialH2CPrior does.
	DialH2CUpgrade
)

// String returns the protocol's name as molt's server names it: "h1",
// "h2c-prior" or "h2c-upgrade".
func (p Protocol) String() string {
	switch p {
	case DialHTTP1:
		return "h1"
	case DialH2CPrior:
		return "h2c-prior"
	case DialH2CUpgrade:
		return "h2c-upgrade"
	}
	return fmt.Sprintf("Protocol(%d)", int(p))
}

// DefaultHandshakeTimeout bounds Dial's opening handshake unless
// DialOptions.HandshakeTimeout says otherwise.
const DefaultHandshakeTimeout = 30 * time.Second

// DialOptions configure Dial. The zero value is usable: HTTP/1.1, no
// subprotocol, no compression, messages of up to DefaultReadLimit.
type DialOptions struct {
	// Protocol selects HTTP/1.1 (the default) or RFC 8441 over h2c.
	Protocol Protocol

	// Subprotocols lists the subprotocols to offer in
	// Sec-WebSocket-Protocol, in order of preference. A server that
	// selects one that was not offered fails the handshake.
	Subprotocols []string

	// Header holds extra request header fields, such as Origin,
	// Authorization or Cookie. A Host field sets the request's host (the
	// :authority over HTTP/2). The fields that the handshake itself
	// sets (Upgrade, Connection, the Sec-WebSocket-* ones) are refused
	// with an error.
	Header http.Header

	// Compression offers permessage-deflate (RFC 7692):
	// CompressionNoContextTakeover offers client_no_context_takeover and
	// server_no_context_takeover; CompressionContextTakeover offers
	// neither, so both sides may keep their window. Both offer
	// client_max_window_bits, and Dial honours the limit a server sets.
	// A server may decline the offer; Dial then goes on uncompressed.
	Compression Compression

	// CompressionThreshold is the smallest message that Write compresses
	// when compression was negotiated, as Options.CompressionThreshold.
	CompressionThreshold int

	// ReadLimit is the largest message the Conn reads, as
	// Options.ReadLimit: zero means DefaultReadLimit, negative no limit.
	ReadLimit int64

	// OnPing and OnPong are called as Options.OnPing and Options.OnPong.
	OnPing func(data []byte)
	OnPong func(data []byte)

	// DialContext, if set, opens the transport connection, for example a
	// (*net.Dialer).DialContext with its own timeouts or local address;
	// it is called with "tcp" and the URL's host:port. nil means a zero
	// net.Dialer's.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// TLSConfig is the TLS configuration for wss:// URLs (HTTP/1.1
	// only). nil means a zero tls.Config; ServerName defaults to the
	// URL's host.
	TLSConfig *tls.Config

	// KeepAlive pings the server every KeepAlive, as Options.KeepAlive.
	KeepAlive time.Duration

	// HTTPClient, if set, sends the HTTP/1.1 handshake (DialHTTP1
	// only), so that its Transport's proxy, TLS configuration and
	// dialer, and its Jar's cookies, apply; DialContext and TLSConfig are
	// then unused. Its Transport must reach the server over HTTP/1.1 (a
	// TLS connection that negotiates h2 cannot be upgraded). The
	// connection it hands over has no net.Conn deadlines of its own: the
	// Conn's deadlines work as over HTTP/2, and one that passes during a
	// read or write closes the connection.
	HTTPClient *http.Client

	// HandshakeTimeout bounds the opening handshake, from dialing to the
	// server's answer, besides ctx. Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
}

// DialError is the error Dial returns when the server answered the
// handshake but did not open a WebSocket, or answered it in a way the
// protocol forbids (a wrong Sec-WebSocket-Accept, a subprotocol or
// extension that was not offered).
type DialError struct {
	// Response is the server's answer. Its Body holds up to the first 4
	// KiB of the response body, already read; the connection is closed.
	Response *http.Response
	// Reason says what was wrong.
	Reason string
}

// Error describes the failed handshake.
func (e *DialError) Error() string {
	status := ""
	if e.Response != nil {
		status = " (" + e.Response.Status + ")"
	}
	return "websocket: dial: " + e.Reason + status
}

// maxErrorBody is how much of a refusal's body DialError keeps.
const maxErrorBody = 4 << 10

// reservedFields are the request fields Dial sets itself.
var reservedFields = []string{
	"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version",
	"Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Content-Length", "Transfer-Encoding",
}

// Dial opens a WebSocket to the ws:// (or http://) URL rawURL, or with
// DialHTTP1 a wss:// (https://) one, and returns the client side of the
// connection: the same Conn as Accept's, whose frames are masked with a
// fresh random key each (RFC 6455, section 5.3) and which fails the
// connection with close 1002 if the server sends a masked frame.
//
// ctx bounds the handshake only, as does opts.HandshakeTimeout; the
// connection outlives both. A nil opts means the zero DialOptions.
//
// If the server answers with anything but a WebSocket (a status other
// than 101 over HTTP/1.1 or 2xx over HTTP/2), or breaks the handshake's
// rules, Dial returns a *DialError holding the response.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("websocket: dial: %w", err)
	}
	secure := false
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
	case "wss", "https":
		secure = true
	default:
		return nil, fmt.Errorf("websocket: dial: URL scheme %q is not ws, wss, http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("websocket: dial: URL has no host")
	}
	if secure && opts.Protocol != DialHTTP1 {
		return nil, fmt.Errorf("websocket: dial: %s has no TLS; wss:// needs DialHTTP1", opts.Protocol)
	}
	if opts.Protocol < DialHTTP1 || opts.Protocol > DialH2CUpgrade {
		return nil, fmt.Errorf("websocket: dial: unknown %v", opts.Protocol)
	}
	if opts.HTTPClient != nil && opts.Protocol != DialHTTP1 {
		return nil, fmt.Errorf("websocket: dial: HTTPClient works with DialHTTP1 only, not %v", opts.Protocol)
	}
	host := u.Host
	if h := opts.Header.Get("Host"); h != "" {
		host = h
	}
	if !httpguts.ValidHostHeader(host) {
		return nil, fmt.Errorf("websocket: dial: invalid host %q", host)
	}
	hdr, err := requestHeader(opts)
	if err != nil {
		return nil, err
	}
	addr := u.Host
	if u.Port() == "" {
		if secure {
			addr = net.JoinHostPort(u.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	path := u.RequestURI()
	req := (&http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Host:       host,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     hdr,
	}).WithContext(ctx)
	c := newConn(req, &Options{
		ReadLimit:            opts.ReadLimit,
		CompressionThreshold: opts.CompressionThreshold,
		OnPing:               opts.OnPing,
		OnPong:               opts.OnPong,
	})
	c.client = true
	var seed [32]byte
	cryptorand.Read(seed[:])
	c.maskRand = rand.NewChaCha8(seed)
	if opts.HTTPClient != nil {
		err = c.dialHTTPClient(hctx, opts.HTTPClient, req, secure)
	} else {
		var nc net.Conn
		nc, err = dialTransport(hctx, opts, addr, u.Hostname(), secure)
		switch {
		case err != nil:
		case opts.Protocol == DialHTTP1:
			err = c.dialHTTP1(hctx, nc, req)
		default:
			err = c.dialHTTP2(hctx, nc, req, path, opts.Protocol)
		}
	}
	if err != nil {
		if hctx.Err() != nil && ctx.Err() != nil {
			return nil, fmt.Errorf("websocket: dial: %w", ctx.Err())
		}
		if hctx.Err() != nil && !isDialError(err) {
			return nil, fmt.Errorf("websocket: dial: handshake timed out after %v: %w", timeout, err)
		}
		return nil, err
	}
	if err := c.checkResponse(opts); err != nil {
		c.CloseNow()
		return nil, err
	}
	c.startKeepAlive(opts.KeepAlive)
	return c, nil
}

// dialTransport opens the connection to addr: DialContext's or a
// net.Dialer's, with TLS (ServerName hostname unless set) for a secure
// URL.
func dialTransport(ctx context.Context, opts *DialOptions, addr, hostname string, secure bool) (net.Conn, error) {
	dial := opts.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("websocket: dial: %w", err)
	}
	if !secure {
		return nc, nil
	}
	cfg := opts.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = hostname
	}
	cfg.NextProtos = []string{"http/1.1"}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: dial: TLS handshake: %w", err)
	}
	return tc, nil
}

func isDialError(err error) bool {
	var de *DialError
	return errors.As(err, &de)
}

// requestHeader returns the handshake's fields besides Upgrade,
// Connection and Sec-WebSocket-Key: the extra ones checked, the version,
// the offers.
func requestHeader(opts *DialOptions) (http.Header, error) {
	hdr := make(http.Header, len(opts.Header)+3)
	for k, vs := range opts.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, fmt.Errorf("websocket: dial: invalid header field name %q", k)
		}
		ck := http.CanonicalHeaderKey(k)
		if ck == "Host" {
			continue
		}
		for _, r := range reservedFields {
			if ck == r {
				return nil, fmt.Errorf("websocket: dial: header field %s is set by the handshake", ck)
			}
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, fmt.Errorf("websocket: dial: invalid value for header field %s", ck)
			}
		}
		hdr[ck] = append([]string(nil), vs...)
	}
	hdr.Set("Sec-WebSocket-Version", "13")
	if len(opts.Subprotocols) > 0 {
		for _, p := range opts.Subprotocols {
			if p == "" || !isToken(p) {
				return nil, fmt.Errorf("websocket: dial: invalid subprotocol %q", p)
			}
		}
		hdr.Set("Sec-WebSocket-Protocol", strings.Join(opts.Subprotocols, ", "))
	}
	switch opts.Compression {
	case CompressionDisabled:
	case CompressionNoContextTakeover, CompressionContextTakeover:
		hdr.Set("Sec-WebSocket-Extensions", deflateClientOffer(opts.Compression))
	default:
		return nil, fmt.Errorf("websocket: dial: unknown Compression %d", int(opts.Compression))
	}
	return hdr, nil
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return false
		}
	}
	return true
}

// dialHTTP1 performs the RFC 6455 handshake over nc.
func (c *Conn) dialHTTP1(ctx context.Context, nc net.Conn, req *http.Request) error {
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	key := setUpgradeFields(req)
	bw := bufio.NewWriterSize(nc, 4096)
	err := req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	var resp *http.Response
	// The frames that follow the head are the Conn's to limit.
	hr := h1head.NewReader(nc, 4096, maxResponseHeader, errResponseTooLarge)
	br := hr.Buffered()
	if err == nil {
		resp, err = hr.ReadResponse(req)
	}
	if !stop() {
		err = errors.Join(ctx.Err(), err)
	}
	if err != nil {
		nc.Close()
		return fmt.Errorf("websocket: dial: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return refusedResponse(resp, nc, "server did not switch protocols")
	}
	if reason := check101(resp, key); reason != "" {
		nc.Close()
		return &DialError{Response: resp, Reason: reason}
	}
	nc.SetDeadline(time.Time{})
	c.resp = resp
	c.netConn = nc
	c.br = br
	c.bw = bw
	return nil
}

// maxResponseHeader bounds the server's handshake response (status line
// and header fields): net/http's ReadResponse has no limit of its own.
const maxResponseHeader = 1 << 20

// errResponseTooLarge is the error of a handshake response head over
// maxResponseHeader.
var errResponseTooLarge = errors.New("handshake response header over 1 MiB")

// setUpgradeFields sets the RFC 6455 request fields on req and returns
// its fresh Sec-WebSocket-Key.
func setUpgradeFields(req *http.Request) string {
	var keyBytes [16]byte
	cryptorand.Read(keyBytes[:])
	key := base64.StdEncoding.EncodeToString(keyBytes[:])
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "molt-websocket")
	}
	return key
}

// check101 returns what is wrong with a 101 answer to the key, or "".
func check101(resp *http.Response, key string) string {
	switch {
	case !httpguts.HeaderValuesContainsToken(resp.Header["Upgrade"], "websocket"):
		return "101 response without Upgrade: websocket"
	case !httpguts.HeaderValuesContainsToken(resp.Header["Connection"], "upgrade"):
		return "101 response without Connection: Upgrade"
	case resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key):
		return "wrong Sec-WebSocket-Accept"
	}
	return ""
}

// dialHTTPClient performs the RFC 6455 handshake through hc.
func (c *Conn) dialHTTPClient(ctx context.Context, hc *http.Client, req *http.Request, secure bool) error {
	u := *req.URL
	u.Scheme = "http"
	if secure {
		u.Scheme = "https"
	}
	hreq := req.Clone(ctx)
	hreq.URL = &u
	hreq.RequestURI = ""
	key := setUpgradeFields(hreq)
	resp, err := hc.Do(hreq)
	if err != nil {
		return fmt.Errorf("websocket: dial: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return refusedResponse(resp, io.NopCloser(nil), "server did not switch protocols")
	}
	body, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		return &DialError{Response: resp, Reason: "the http.Client's transport gave a 101 response body that cannot be written"}
	}
	if reason := check101(resp, key); reason != "" {
		body.Close()
		return &DialError{Response: resp, Reason: reason}
	}
	req.Header = hreq.Header
	shown := *resp
	shown.Body = http.NoBody
	c.resp = &shown
	sc := newBodyConn(body, u.Host)
	c.netConn = sc
	c.br = bufio.NewReaderSize(sc, 4096)
	c.bw = bufio.NewWriterSize(sc, 4096)
	return nil
}

// limitedConn is a net.Conn whose reads fail once left bytes have been
// read, unless left is negative (no limit).
type limitedConn struct {
	net.Conn
	left atomic.Int64
}

func (c *limitedConn) Read(p []byte) (int, error) {
	left := c.left.Load()
	if left < 0 {
		return c.Conn.Read(p)
	}
	if left == 0 {
		return 0, errResponseTooLarge
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.left.Add(-int64(n))
	return n, err
}

// refusedResponse reads the start of a refusal's body into a DialError.
func refusedResponse(resp *http.Response, closer io.Closer, reason string) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	closer.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return &DialError{Response: resp, Reason: reason}
}

// dialHTTP2 reaches HTTP/2 over nc by prior knowledge or the h2c upgrade
// and opens the WebSocket as an extended CONNECT stream (RFC 8441).
func (c *Conn) dialHTTP2(ctx context.Context, nc net.Conn, req *http.Request, path string, p Protocol) error {
	var cc *h2client.ClientConn
	if p == DialH2CPrior {
		stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
		var err error
		cc, err = h2client.NewClientConn(nc, h2client.ClientOptions{})
		if !stop() && err == nil {
			cc.Close()
			err = ctx.Err()
		}
		if err != nil {
			return fmt.Errorf("websocket: dial: %w", err)
		}
	} else {
		ureq, err := http.NewRequestWithContext(ctx, http.MethodOptions, "http://"+req.Host, nil)
		if err != nil {
			nc.Close()
			return fmt.Errorf("websocket: dial: %w", err)
		}
		ureq.URL.Opaque = "*"
		// h2client reads the upgrade's HTTP/1.1 response with no bound
		// of its own: bound what the whole upgrade may read.
		lc := &limitedConn{Conn: nc}
		lc.left.Store(maxResponseHeader)
		res, err := h2client.Upgrade(lc, ureq, h2client.ClientOptions{})
		lc.left.Store(-1)
		if err != nil {
			return fmt.Errorf("websocket: dial: h2c upgrade: %w", err)
		}
		if res.Conn == nil {
			return refusedResponse(res.Response, nc, "server declined the h2c upgrade")
		}
		cc = res.Conn
		io.Copy(io.Discard, io.LimitReader(res.Response.Body, maxErrorBody))
		res.Response.Body.Close()
	}
	// The stream's context is the connection's, not ctx, which bounds
	// the handshake only.
	sctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	hdr := req.Header.Clone()
	hdr.Set("Host", req.Host)
	s, err := cc.ExtendedConnect(sctx, path, "websocket", hdr)
	if !stop() && err == nil {
		s.Close()
		err = ctx.Err()
	}
	if err != nil {
		cancel()
		cc.Close()
		return fmt.Errorf("websocket: dial: extended CONNECT: %w", err)
	}
	resp := s.Response()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(s, maxErrorBody))
		s.Close()
		cancel()
		cc.Close()
		shown := *resp
		shown.Body = io.NopCloser(bytes.NewReader(body))
		return &DialError{Response: &shown, Reason: "server refused the extended CONNECT"}
	}
	shown := *resp // the stream reads resp.Body
	shown.Body = http.NoBody
	c.http2 = true
	c.resp = &shown
	sc := newH2StreamConn(s, cc, nc, cancel)
	c.netConn = sc
	c.br = bufio.NewReaderSize(sc, 4096)
	c.bw = bufio.NewWriterSize(sc, 4096)
	return nil
}

// checkResponse checks the negotiated subprotocol and extensions against
// what was offered, and sets them up.
func (c *Conn) checkResponse(opts *DialOptions) error {
	resp := c.resp
	fail := func(reason string) error { return &DialError{Response: resp, Reason: reason} }
	if sp := resp.Header["Sec-Websocket-Protocol"]; len(sp) > 0 {
		if len(sp) > 1 || strings.Contains(sp[0], ",") {
			return fail("server selected more than one subprotocol")
		}
		got := strings.TrimSpace(sp[0])
		ok := false
		for _, p := range opts.Subprotocols {
			ok = ok || p == got
		}
		if !ok {
			return fail(fmt.Sprintf("server selected subprotocol %q, which was not offered", got))
		}
		c.subprotocol = got
	}
	dp, deflate, err := parseDeflateResponse(resp.Header["Sec-Websocket-Extensions"], opts.Compression)
	if err != nil {
		return fail(err.Error())
	}
	if deflate {
		c.setDeflate(dp)
	}
	return nil
}
