// Package h2 is molt's own HTTP/2 server engine, built directly on
// golang.org/x/net/http2's Framer and hpack and on no other HTTP/2 code.
// A [Server] serves one established net.Conn with [Server.ServeConn], the
// way http2.Server.ServeConn does, so the package is usable without the
// rest of molt; molt's core plugs it in through server.NewH2Engine.
//
// Handlers see plain net/http: http.Request as net/http builds it
// (Proto "HTTP/2.0", URL, Host, RemoteAddr, ContentLength, Body, Trailer),
// and an http.ResponseWriter with 1xx responses, Flush, trailers (declared
// or with http.TrailerPrefix), Content-Length checked both ways, Date and
// Content-Type sniffing, and http.ResponseController's Flush, read and
// write deadlines and EnableFullDuplex (and the deprecated
// http.CloseNotifier). A request's context ends when its stream is
// reset, the connection is lost, or its handler returns. A
// panicking handler resets its stream with INTERNAL_ERROR
// (http.ErrAbortHandler without a log line). RFC 8441 extended CONNECT is
// on by default, per Server, with no GODEBUG: the :protocol value is in
// r.Header[":protocol"], as x/net and net/http expose it. Server push is
// never used.
//
// Defaults differ from x/net in a few places, all safe ones: a
// connection without a running handler closes after
// DefaultIdleTimeout (x/net: never), the peer has DefaultSettingsTimeout
// to acknowledge SETTINGS, SETTINGS_MAX_FRAME_SIZE is 16384, a stream
// keeps its MaxConcurrentStreams slot until its handler returns, even
// after a reset, and a peer that accepts no bytes while the read loop
// must answer it (PING and SETTINGS ACKs, RST_STREAM) is disconnected
// after DefaultPeerStallTimeout even with WriteByteTimeout off.
// docs/engine.md describes the design.
//
//	srv := &h2.Server{MaxConcurrentStreams: 100}
//	for {
//		c, err := ln.Accept()
//		if err != nil {
//			return err
//		}
//		go srv.ServeConn(c, &h2.ServeConnOpts{Handler: mux})
//	}
package h2
