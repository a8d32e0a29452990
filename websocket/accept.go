package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/molt-http/molt/router"
	"github.com/molt-http/molt/server"
	"golang.org/x/net/http/httpguts"
)

// keyGUID is the GUID of RFC 6455, section 1.3.
const keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey returns the Sec-WebSocket-Accept value for a client's key.
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(keyGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// HandshakeError is the error Accept returns after answering a request
// that it could not accept; Status is the status code it answered with.
type HandshakeError struct {
	Status int
	Reason string
}

// Error describes the refused handshake.
func (e *HandshakeError) Error() string {
	return "websocket: handshake refused (" + http.StatusText(e.Status) + "): " + e.Reason
}

// Accept performs the opening handshake for r and returns the connection:
// RFC 6455 over HTTP/1.1 (a GET with Upgrade: websocket, answered 101
// Switching Protocols after the connection is hijacked through
// http.ResponseController, so any middleware writer with Unwrap works),
// or RFC 8441 over HTTP/2 (a CONNECT with :protocol websocket, answered
// 200; the request body and the response writer become the connection).
// Headers already set on w (by middleware, say) go out with the answer.
//
// If the request is not an acceptable handshake, Accept answers it and
// returns a *HandshakeError: 426 Upgrade Required with
// Sec-WebSocket-Version: 13 for a request that is not a WebSocket
// handshake or asks for another version, 400 for a malformed one (an
// HTTP/1.1 handshake that is not a GET, or carries a body), 403 for a
// disallowed Origin.
//
// Over HTTP/1.1 the connection is hijacked and outlives the handler.
// Over HTTP/2 the connection is the handler's stream, which ends when the
// handler returns: close the Conn (Close or CloseNow) before returning.
// Once the server has ended the request's context, which it does a
// moment after the handler returns, every operation on it, deadlines
// included, fails with an error saying the stream has ended. An
// operation on another goroutine at the handler's return, or begun just
// after it, races with the server retiring the response writer, so
// gorilla's "upgrade, go serve(conn), return" is not safe with Accept
// over HTTP/2: use Upgrade for it, which keeps the stream until the Conn
// is closed. Handler closes the Conn when its function returns. A nil
// opts means the zero Options.
func Accept(w http.ResponseWriter, r *http.Request, opts *Options) (*Conn, error) {
	if opts == nil {
		opts = &Options{}
	}
	h2 := r.ProtoMajor == 2
	if err := checkHandshake(r, h2); err != nil {
		return nil, refuse(w, h2, err)
	}
	if !originAllowed(r, opts) {
		return nil, refuse(w, h2, &HandshakeError{http.StatusForbidden, "origin not allowed"})
	}
	hdr := w.Header()
	subprotocol := selectSubprotocol(r.Header["Sec-Websocket-Protocol"], opts.Subprotocols)
	if subprotocol != "" {
		hdr.Set("Sec-WebSocket-Protocol", subprotocol)
	}
	dp, ext, deflate := negotiateDeflate(r.Header["Sec-Websocket-Extensions"], opts.Compression)
	if deflate {
		hdr.Set("Sec-WebSocket-Extensions", ext)
	}
	c := newConn(r, opts)
	c.subprotocol = subprotocol
	if deflate {
		c.setDeflate(dp)
	}
	var err error
	if h2 {
		err = c.acceptHTTP2(w, r)
	} else {
		err = c.acceptHTTP1(w, r)
	}
	if err != nil {
		return nil, err
	}
	c.start()
	c.startKeepAlive(opts.KeepAlive)
	return c, nil
}

// checkHandshake checks everything but the origin.
func checkHandshake(r *http.Request, h2 bool) error {
	if h2 {
		if r.Method != http.MethodConnect || !strings.EqualFold(r.Header.Get(":protocol"), "websocket") {
			return &HandshakeError{http.StatusUpgradeRequired, "not a WebSocket extended CONNECT"}
		}
	} else {
		if !httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], "websocket") ||
			!httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade") {
			return &HandshakeError{http.StatusUpgradeRequired, "not a WebSocket upgrade"}
		}
		if r.Method != http.MethodGet {
			return &HandshakeError{http.StatusBadRequest, "WebSocket handshake method is not GET"}
		}
		if !r.ProtoAtLeast(1, 1) {
			return &HandshakeError{http.StatusBadRequest, "WebSocket handshake over HTTP/1.0"}
		}
		// After the hijack a body's bytes would be read as frames,
		// past whatever limited or inspected the body.
		if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			return &HandshakeError{http.StatusBadRequest, "WebSocket handshake with a request body"}
		}
	}
	if v := r.Header["Sec-Websocket-Version"]; len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return &HandshakeError{http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version"}
	}
	if !h2 {
		k := r.Header["Sec-Websocket-Key"]
		if len(k) != 1 {
			return &HandshakeError{http.StatusBadRequest, "missing or repeated Sec-WebSocket-Key"}
		}
		if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k[0])); err != nil || len(b) != 16 {
			return &HandshakeError{http.StatusBadRequest, "Sec-WebSocket-Key is not 16 bytes in base64"}
		}
	}
	return nil
}

// refuse answers a refused handshake and returns err.
func refuse(w http.ResponseWriter, h2 bool, err error) error {
	he := err.(*HandshakeError)
	hdr := w.Header()
	hdr.Del("Sec-WebSocket-Protocol")
	hdr.Del("Sec-WebSocket-Extensions")
	if he.Status == http.StatusUpgradeRequired {
		hdr.Set("Sec-WebSocket-Version", "13")
		if !h2 {
			hdr.Set("Upgrade", "websocket")
			hdr.Set("Connection", "Upgrade")
		}
	}
	http.Error(w, he.Reason, he.Status)
	return err
}

// originAllowed applies CheckOrigin, AllowAnyOrigin, the same-origin rule
// and OriginPatterns, in that order. A request without Origin comes from
// a client that is not a browser and is allowed.
func originAllowed(r *http.Request, o *Options) bool {
	if o.CheckOrigin != nil {
		return o.CheckOrigin(r)
	}
	if o.AllowAnyOrigin {
		return true
	}
	origins := r.Header["Origin"]
	if len(origins) == 0 {
		return true
	}
	u, err := url.Parse(origins[0])
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	host := strings.ToLower(u.Host)
	for _, p := range o.OriginPatterns {
		if ok, _ := path.Match(strings.ToLower(p), host); ok {
			return true
		}
	}
	return false
}

// selectSubprotocol returns the first of the server's subprotocols that
// the client offered, or "".
func selectSubprotocol(offered []string, supported []string) string {
	if len(offered) == 0 {
		return ""
	}
	for _, s := range supported {
		for _, v := range offered {
			for _, p := range strings.Split(v, ",") {
				if strings.TrimSpace(p) == s {
					return s
				}
			}
		}
	}
	return ""
}

// acceptHTTP1 hijacks the connection and writes the 101 response.
func (c *Conn) acceptHTTP1(w http.ResponseWriter, r *http.Request) error {
	rc := http.NewResponseController(w)
	nc, brw, err := rc.Hijack()
	if err != nil {
		http.Error(w, "WebSocket upgrade: cannot take over the connection", http.StatusInternalServerError)
		return errors.Join(errors.New("websocket: hijack failed"), err)
	}
	nc.SetDeadline(time.Time{})
	c.netConn = nc
	// Read from the connection itself, not through net/http's reader,
	// which would cancel the request's context on a read error; start
	// with what that reader had buffered (frames sent right after the
	// handshake).
	var src io.Reader = nc
	if brw.Reader != nil && brw.Reader.Buffered() > 0 {
		buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
		src = io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), nc)
	}
	c.br = bufio.NewReaderSize(src, 4096)
	c.bw = brw.Writer
	if c.bw == nil {
		c.bw = bufio.NewWriter(nc)
	}
	bw := c.bw
	bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	bw.WriteString(acceptKey(strings.TrimSpace(r.Header.Get("Sec-WebSocket-Key"))))
	bw.WriteString("\r\n")
	h := w.Header().Clone()
	for _, k := range []string{"Upgrade", "Connection", "Sec-Websocket-Accept", "Content-Length", "Content-Type", "Transfer-Encoding"} {
		h.Del(k)
	}
	h.Write(bw)
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		nc.Close()
		return err
	}
	return nil
}

// acceptHTTP2 answers the extended CONNECT with 200 and takes the stream.
func (c *Conn) acceptHTTP2(w http.ResponseWriter, r *http.Request) error {
	c.http2 = true
	c.h2 = newStream(w, r)
	// Clear the server's per-stream timeouts: the session outlives them.
	// From here on the Conn keeps its own deadlines (see stream).
	c.h2.rc.SetReadDeadline(time.Time{})
	c.h2.rc.SetWriteDeadline(time.Time{})
	w.Header().Del("Content-Length")
	router.AcceptExtendedConnect(r) // the GET route it came by may be guarded
	w.WriteHeader(http.StatusOK)
	if err := c.h2.flush(); err != nil {
		return err
	}
	c.br = bufio.NewReaderSize(c.h2, 4096)
	c.bw = bufio.NewWriterSize(c.h2, 4096)
	return nil
}

// Handler returns a handler that accepts each request with opts and
// calls fn with the connection and a context that ends when the
// connection closes (or the request's context ends). When fn returns, the
// connection is closed with 1000 (normal closure) unless it is already
// closed; if fn panics, with 1011 (internal error) before the panic goes
// on. Use it as a route: r.Get("/ws", websocket.Handler(fn, opts)) (an
// http.HandlerFunc, so the router's Get takes it).
func Handler(fn func(ctx context.Context, c *Conn), opts Options) http.HandlerFunc {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &opts)
		if err != nil {
			return
		}
		serve(c, r, false, func(ctx context.Context) { fn(ctx, c) })
	})
}

// serve runs f with a context that ends when c closes, then closes c.
// With wait, a normal return of f first waits until c is closed (by
// whoever f left it with), or the request's context ends.
func serve(c *Conn, r *http.Request, wait bool, f func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-c.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	normal := false
	defer func() {
		if normal {
			c.Close(StatusNormalClosure, "")
		} else {
			c.Close(StatusInternalError, "")
		}
		c.CloseNow()
	}()
	f(ctx)
	normal = true
	if wait {
		select {
		case <-c.closed:
		case <-r.Context().Done():
		}
	}
}

type connKey struct{}

// Upgrade returns middleware that accepts every request with opts (a
// request that is not a WebSocket handshake is answered as Accept
// answers it) and passes the connection to the next handler, which gets
// it with ConnFrom, in a request whose context ends when the connection
// closes.
//
// The next handler may keep the connection for as long as it runs, or
// hand it to goroutines and return, as with gorilla/websocket ("upgrade,
// go serve(conn), return"): Upgrade then holds the request, and so the
// HTTP/2 stream, until the connection is closed (by Close or CloseNow, by
// a read that sees the peer's close or fails, or by the server's
// shutdown), or until the request's context ends. Whoever has the
// connection must read from it or close it, or it stays open. If the next
// handler panics, the connection is closed with 1011 (internal error)
// before the panic goes on.
//
// The connection owns the response, so the next handler gets a
// ResponseWriter that refuses it: Write returns an error wrapping
// http.ErrHijacked, WriteHeader is ignored (and logged at debug level),
// Header returns a map that goes nowhere, and http.ResponseController's
// Flush, Hijack, deadlines and EnableFullDuplex return errors. It has no
// Unwrap method, on purpose: nothing can reach the real writer through it.
func Upgrade(opts Options) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := Accept(w, r, &opts)
			if err != nil {
				return
			}
			uw := &upgradedWriter{h: w.Header().Clone(), r: r}
			serve(c, r, true, func(ctx context.Context) {
				next.ServeHTTP(uw, r.WithContext(context.WithValue(ctx, connKey{}, c)))
			})
		})
	}
}

// errUpgraded is what upgradedWriter's methods return.
var errUpgraded = fmt.Errorf("websocket: response written after the WebSocket upgrade, which owns the connection: %w", http.ErrHijacked)

// upgradedWriter is the ResponseWriter the handler behind Upgrade gets:
// the response has been sent and the stream or connection belongs to the
// Conn, so it refuses to write. Over HTTP/1.1 net/http's own writer would
// refuse too (the connection is hijacked), but over HTTP/2 a write would
// go into the WebSocket stream as bytes the peer takes for frames.
//
// It breaks molt's rule that wrappers implement Unwrap on purpose: an
// Unwrap would let http.ResponseController reach the real writer and
// flush, hijack or set deadlines under the Conn. It implements the
// methods ResponseController looks for instead, each returning
// errUpgraded. It never touches the real writer, so it is safe to use
// after the handler has returned.
type upgradedWriter struct {
	h http.Header
	r *http.Request
}

var (
	_ http.ResponseWriter             = (*upgradedWriter)(nil)
	_ http.Flusher                    = (*upgradedWriter)(nil)
	_ interface{ FlushError() error } = (*upgradedWriter)(nil)
	_ http.Hijacker                   = (*upgradedWriter)(nil)
)

// Header returns a header map that is never sent.
func (w *upgradedWriter) Header() http.Header { return w.h }

// Write writes nothing and returns errUpgraded.
func (w *upgradedWriter) Write([]byte) (int, error) {
	w.logf("Write")
	return 0, errUpgraded
}

// WriteHeader is ignored.
func (w *upgradedWriter) WriteHeader(code int) { w.logf("WriteHeader(" + strconv.Itoa(code) + ")") }

// Flush does nothing; the Conn flushes its own frames.
func (w *upgradedWriter) Flush() {}

// FlushError returns errUpgraded.
func (w *upgradedWriter) FlushError() error { return errUpgraded }

// Hijack returns errUpgraded.
func (w *upgradedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) { return nil, nil, errUpgraded }

// SetReadDeadline returns errUpgraded: use Conn.SetReadDeadline.
func (w *upgradedWriter) SetReadDeadline(time.Time) error { return errUpgraded }

// SetWriteDeadline returns errUpgraded: use Conn.SetWriteDeadline.
func (w *upgradedWriter) SetWriteDeadline(time.Time) error { return errUpgraded }

// EnableFullDuplex returns errUpgraded.
func (w *upgradedWriter) EnableFullDuplex() error { return errUpgraded }

// logf logs a refused call at debug level, on the serving molt server's
// logger if there is one.
func (w *upgradedWriter) logf(call string) {
	log := slog.Default()
	if srv := server.FromRequest(w.r); srv != nil {
		if l := srv.Config().Logger; l != nil {
			log = l
		}
	}
	log.Debug("websocket: handler behind Upgrade wrote to its ResponseWriter; ignored", "call", call, "path", w.r.URL.Path)
}

// ConnFrom returns the connection that Upgrade accepted for r, or nil.
func ConnFrom(r *http.Request) *Conn {
	c, _ := r.Context().Value(connKey{}).(*Conn)
	return c
}
