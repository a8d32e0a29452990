package server_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"

	"github.com/molt-http/molt/server"
)

// A server on one port answers HTTP/1.1 and HTTP/2 by prior knowledge
// (and HTTP/2 through "Upgrade: h2c", which Go's client cannot ask for).
func Example() {
	srv, err := server.New(server.Config{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello over %s", server.ProtocolOf(r))
		}),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetHTTP1(!h2)
		tr.Protocols.SetUnencryptedHTTP2(h2)
		resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		fmt.Printf("%s: %s\n", resp.Proto, body)
	}
	// Output:
	// HTTP/1.1: hello over h1
	// HTTP/2.0: hello over h2c-prior
}

// A handler sends 103 Early Hints so the client can fetch a stylesheet
// while the page is being prepared. HTTP/1.0 clients get nothing extra.
func ExampleEarlyHints() {
	handler := func(w http.ResponseWriter, r *http.Request) {
		server.EarlyHints(w, r, "</style.css>; rel=preload; as=style")
		// ... prepare the page ...
		io.WriteString(w, "<!doctype html><link rel=stylesheet href=/style.css>")
	}
	_ = http.HandlerFunc(handler)
}

// A handler that keeps a connection for itself registers a hook, so that a
// graceful shutdown can end the session cleanly; Shutdown waits for the
// hijacked connection to close.
func ExampleServer_RegisterOnShutdown() {
	handler := func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		done := make(chan struct{})
		unregister := server.FromRequest(r).RegisterOnShutdown(func() { close(done) })
		defer unregister()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: chat\r\n\r\n")
		brw.Flush()
		<-done // ... or the session's own end
		brw.WriteString("server going away\n")
		brw.Flush()
	}
	_ = http.HandlerFunc(handler)
}

// Config.Engine chooses the HTTP/2 engine: New builds it from the
// server's own configuration. Here molt's own engine (package h2) serves
// an HTTP/2 request by prior knowledge.
func ExampleNewH2Engine() {
	srv, err := server.New(server.Config{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello over %s", server.ProtocolOf(r))
		}),
		Engine: server.NewH2Engine,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s: %s\n", resp.Proto, body)
	// Output: HTTP/2.0: hello over h2c-prior
}
