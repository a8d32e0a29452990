package h2client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// ErrNoExtendedConnect is returned by ExtendedConnect when the server's
// SETTINGS did not carry SETTINGS_ENABLE_CONNECT_PROTOCOL=1 (RFC 8441 §3).
var ErrNoExtendedConnect = errors.New("h2client: server did not enable extended CONNECT")

// errStreamClosed is returned by a Stream's methods after Close.
var errStreamClosed = errors.New("h2client: stream closed")

// Stream is a bidirectional HTTP/2 stream opened with CONNECT: Write sends
// DATA frames, Read returns the DATA the server sends, CloseWrite ends the
// client's side with END_STREAM, and Close resets the stream.
type Stream struct {
	cs  *clientStream
	res *http.Response

	wmu        sync.Mutex // serialises Write and CloseWrite
	wroteClose bool       // END_STREAM sent; guarded by wmu
}

// ExtendedConnect opens a stream with an extended CONNECT request (RFC
// 8441): :method CONNECT, :protocol protocol, :scheme http, :path path and
// :authority taken from header's Host, or else the server's address. The
// other header fields are sent lowercased, less the hop-by-hop ones
// RoundTrip drops. It waits for the server's first SETTINGS frame and
// fails with ErrNoExtendedConnect unless they enabled extended CONNECT.
//
// It returns once the response headers arrive, whatever their status: the
// caller checks Response().StatusCode, and must Close the stream. ctx
// bounds the stream's whole life: when it is done the stream is reset and
// Read and Write fail.
func (cc *ClientConn) ExtendedConnect(ctx context.Context, path, protocol string, header http.Header) (*Stream, error) {
	if protocol == "" || !httpguts.ValidHeaderFieldValue(protocol) || strings.ContainsAny(protocol, " \t") {
		return nil, fmt.Errorf("h2client: invalid :protocol %q", protocol)
	}
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n") {
		return nil, fmt.Errorf("h2client: invalid :path %q", path)
	}
	authority := cc.authority(header)
	pseudo := []hpack.HeaderField{
		{Name: ":method", Value: http.MethodConnect},
		{Name: ":protocol", Value: protocol},
		{Name: ":scheme", Value: "http"},
		{Name: ":path", Value: path},
		{Name: ":authority", Value: authority},
	}
	u := &url.URL{Scheme: "http", Host: authority}
	if pu, err := url.ParseRequestURI(path); err == nil {
		u.Path, u.RawPath, u.RawQuery = pu.Path, pu.RawPath, pu.RawQuery
	}
	return cc.connect(ctx, u, pseudo, header, true)
}

// Connect opens a stream with a plain CONNECT request (RFC 9113 §8.5):
// only :method CONNECT and :authority, which names the tunnel's target
// (host:port). Otherwise it works like ExtendedConnect, without needing
// the server to enable extended CONNECT.
func (cc *ClientConn) Connect(ctx context.Context, authority string, header http.Header) (*Stream, error) {
	if authority == "" || !httpguts.ValidHostHeader(authority) {
		return nil, fmt.Errorf("h2client: invalid :authority %q", authority)
	}
	pseudo := []hpack.HeaderField{
		{Name: ":method", Value: http.MethodConnect},
		{Name: ":authority", Value: authority},
	}
	return cc.connect(ctx, &url.URL{Host: authority}, pseudo, header, false)
}

// authority returns header's Host or, without one, the server's address.
func (cc *ClientConn) authority(header http.Header) string {
	if h := header.Get("Host"); h != "" {
		return h
	}
	return cc.conn.RemoteAddr().String()
}

func (cc *ClientConn) connect(ctx context.Context, u *url.URL, pseudo []hpack.HeaderField, header http.Header, extended bool) (*Stream, error) {
	fields := pseudo
	for _, k := range sortedKeys(header) {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, fmt.Errorf("h2client: invalid header field name %q", k)
		}
		name := strings.ToLower(k)
		if hopByHop[name] || name == "te" {
			continue
		}
		for _, v := range header[k] {
			if err := validFieldValue(k, v); err != nil {
				return nil, err
			}
			fields = append(fields, hpack.HeaderField{Name: name, Value: v})
		}
	}
	var size uint64
	for _, f := range fields {
		size += uint64(f.Size())
	}
	req := (&http.Request{
		Method:     http.MethodConnect,
		URL:        u,
		Host:       u.Host,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     header,
	}).WithContext(ctx)
	cs, err := cc.openStream(req, fields, size, false, extended, true)
	if err != nil {
		return nil, err
	}
	res, err := cs.awaitResponse()
	if err != nil {
		cs.reset(http2.ErrCodeCancel, err)
		return nil, err
	}
	return &Stream{cs: cs, res: res}, nil
}

// Response returns the response to the CONNECT request. Its Body is the
// stream's read side; read it through the Stream.
func (s *Stream) Response() *http.Response { return s.res }

// ID returns the HTTP/2 stream identifier.
func (s *Stream) ID() uint32 { return s.cs.id }

// Read reads DATA received on the stream. It returns io.EOF once the
// server ended the stream, and an error if the stream was reset; data that
// arrived before the server's RST_STREAM is read first, as with x/net's
// transport, so a test can tell what came before the reset.
func (s *Stream) Read(p []byte) (int, error) { return s.res.Body.Read(p) }

// Write sends p in DATA frames, waiting for flow-control window as needed
// (each run the windows allow at once in one write). It returns the
// number of bytes sent.
func (s *Stream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.wroteClose {
		return 0, errors.New("h2client: write after CloseWrite")
	}
	return s.cs.writeData(p, false)
}

// CloseWrite ends the client's side of the stream with an empty DATA frame
// carrying END_STREAM. Reading goes on until the server ends its side.
func (s *Stream) CloseWrite() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.wroteClose {
		return nil
	}
	cs := s.cs
	err := cs.cc.write(cs.ctx, cs, func(fr *http2.Framer) error {
		return fr.WriteData(cs.id, true, nil)
	})
	if err != nil {
		return err
	}
	s.wroteClose = true
	cs.cc.mu.Lock()
	cs.localClosed = true
	if cs.remoteClosed {
		cs.cc.forgetLocked(cs)
	}
	cs.cc.mu.Unlock()
	return nil
}

// Close resets the stream with CANCEL unless both sides have already ended
// it, and discards unread data. It always returns nil.
func (s *Stream) Close() error {
	if s.res.Body != http.NoBody {
		s.res.Body.Close() // resets the stream if it is still open
	}
	s.cs.reset(http2.ErrCodeCancel, errStreamClosed)
	return nil
}

var _ io.ReadWriteCloser = (*Stream)(nil)

// failKeepingData ends a tunnel the server reset: like fail, except that
// data already received stays readable, followed by err.
func (cs *clientStream) failKeepingData(err error) {
	cc := cs.cc
	cc.mu.Lock()
	if cs.err == nil && cs.readErr == nil {
		cs.readErr = err
	}
	kept, off := cs.buf, cs.off
	cs.buf, cs.off = nil, 0 // abortLocked must not discard it
	_, connIncr := cs.abortLocked(err)
	cs.buf, cs.off = kept, off
	cc.mu.Unlock()
	cs.closeReqBody()
	cc.sendWindowUpdates(0, 0, connIncr)
}
