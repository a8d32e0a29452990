// Package server is molt's core: one cleartext port that speaks HTTP/1.1,
// HTTP/2 reached through "Upgrade: h2c" (answered with 101 Switching
// Protocols), and HTTP/2 by prior knowledge.
//
// A Server accepts connections itself, sniffs the first bytes of each one in
// its own goroutine, and hands connections that open with the HTTP/2 preface
// to an HTTP/2 [Engine]; every other connection goes to a net/http server.
// An HTTP/1.1 request that asks for h2c, and passes every check the engine
// would make after the switch, is answered with 101 and continues as stream 1
// of an HTTP/2 connection. The same handler serves every request, however it
// arrived, and [ProtocolOf] tells which way that was: "h1", "h2c-upgrade" or
// "h2c-prior".
//
// The upgrade is declined, and the request served over HTTP/1.1 with its
// body intact, when the body is larger than [Config.MaxUpgradeBodyBytes]
// (64 KiB by default) or takes longer than [Config.UpgradeBodyTimeout] (1 s
// by default) to arrive, when another HTTP/1.1 request is pipelined behind
// it, or when the server is shutting down. Behind a reverse proxy that
// forwards Upgrade and Connection, set [Config.DisableH2CUpgrade], or
// clients can open HTTP/2 streams the proxy never inspects.
//
// Config.Engine chooses the HTTP/2 engine, built by [New] from the
// server's own configuration: by default [NewXNetEngine], on
// golang.org/x/net/http2, or molt's own (package h2) with
// cfg.Engine = server.NewH2Engine. [Engine] says what handlers may rely
// on whatever the engine: 1xx responses, trailers, ResponseController
// (Flush, deadlines, EnableFullDuplex; no Hijack on HTTP/2), :protocol
// of an extended CONNECT, and request contexts that end with the stream.
//
// The Server tracks every connection whatever became of it (HTTP/1.1,
// upgraded, prior knowledge, hijacked by a handler), so [Server.Shutdown]
// sends GOAWAY to every HTTP/2 connection, lets in-flight requests finish,
// runs the hooks of long-lived handlers, and waits for all of them.
//
// Every limit of [Config] is on by default. ReadHeaderTimeout is one
// budget from accept to the end of the first request's header, the sniff
// included. A connection whose first bytes are neither the HTTP/2 preface
// nor the start of an HTTP/1.x request line (method, target, "HTTP/1.") is
// closed without a byte written, as RFC 9113 section 3.4 asks of an
// invalid preface; a line that starts well but turns out malformed later
// is net/http's to answer with 400. MaxHeaderBytes cannot be turned off (net/http has no
// unlimited header size): [New] rejects a negative value rather than
// silently keep net/http's 1 MiB. Serve refuses a TLS listener with
// [ErrTLSListener]: molt serves cleartext only. [WriteInformational]
// returns [ErrFinalHeaderWritten] once the final response header is
// written, on every protocol.
//
//	srv, err := server.New(server.Config{
//		Addr: "127.0.0.1:8080",
//		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//			fmt.Fprintf(w, "hello over %s\n", server.ProtocolOf(r))
//		}),
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	log.Fatal(srv.ListenAndServe())
package server
