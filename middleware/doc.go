// Package middleware is molt's middleware set: each middleware is a
// func(http.Handler) http.Handler, configured by an options struct where
// it has options, and works on every protocol a molt server speaks
// (HTTP/1.1, HTTP/2 after an h2c upgrade, HTTP/2 by prior knowledge),
// with the router's Use and With or with any net/http handler.
//
//	r := router.New()
//	r.Use(
//		middleware.Recoverer(middleware.RecovererOptions{}),
//		middleware.RequestID(middleware.RequestIDOptions{}),
//		middleware.Logger(middleware.LoggerOptions{}),
//		middleware.Compress(middleware.CompressOptions{}),
//	)
//
// Every response writer that a middleware here puts in front of the next
// handler implements Unwrap, so http.ResponseController (Flush, Hijack,
// read and write deadlines, full duplex) reaches the server's own writer
// through any stack of them; and they implement http.Flusher and
// http.Hijacker for code that still asserts those. Timeout's writer is
// the one exception by design: it implements those operations itself, so
// that it can refuse them once the deadline has passed, and its Unwrap
// returns nil. ResponseWriter is that
// wrapper, shared by the middleware that only watch a response, and
// available to other middleware.
//
// Client addresses are not taken from the request's headers unless asked:
// ClientIP's client is the peer of the connection, and it reads a
// forwarding header only when its options name both the header and the
// proxies trusted to set it (TrustedProxies, which can also trust a proxy
// on a Unix socket). RateLimit, which counts requests against that
// address, forgets a client only once its bucket is full again, so that
// more clients than it tracks cannot win fresh allowances by rotating
// addresses. ProxyHeaders, with the same TrustedProxies, finds the client
// as ClientIP does and also takes the scheme and host the client used
// from Forwarded or X-Forwarded-Proto and X-Forwarded-Host, and only
// from a trusted proxy: r.Host becomes that host, SchemeFrom reports the
// scheme, and Secure sends Strict-Transport-Security by it.
//
// Secure sets security headers (nosniff, no framing, a strict referrer
// policy, a same-origin opener policy, and a Content-Security-Policy when
// given) on every response, and Strict-Transport-Security only on a
// request that came over HTTPS, never on cleartext. CrossOrigin guards
// against cross-site request forgery with net/http's
// CrossOriginProtection (Sec-Fetch-Site, else Origin against Host): no
// tokens, with trusted origins and bypass patterns for routes other sites
// post to.
//
// Long-lived requests are not ordinary requests: a WebSocket over
// HTTP/1.1 is an upgrade that hijacks the connection, and over HTTP/2 an
// extended CONNECT (RFC 8441) whose request body carries the session.
// What makes a request long-lived is what it is, not header fields a
// client can add: a CONNECT over HTTP/2, or on HTTP/1.1 a bodyless
// CONNECT or a bodyless GET with Upgrade and "Connection: upgrade" (see
// IsUpgrade). BodyLimit, Compress, ETag and Throttle pass such requests through
// untouched, and Timeout gives an HTTP/1.1 upgrade a deadline for its
// handshake only. Upgrade fields on a POST or on a request with a body,
// and an HTTP/1.1 CONNECT with a body, lift no limit and no deadline.
package middleware
