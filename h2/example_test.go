package h2_test

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"

	"github.com/molt-http/molt/h2"
)

// ExampleServer_ServeConn serves HTTP/2 by prior knowledge on a loopback
// listener and fetches one response with net/http's client.
func ExampleServer_ServeConn() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	srv := &h2.Server{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello over %s", r.Proto)
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go srv.ServeConn(c, &h2.ServeConnOpts{Handler: handler})
		}
	}()

	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: hello over HTTP/2.0
}

// ExampleServer_CheckUpgradeSettings checks the decoded HTTP2-Settings of
// an h2c upgrade request before answering 101, as molt's core does.
func ExampleServer_CheckUpgradeSettings() {
	srv := &h2.Server{}
	for _, p := range [][]byte{
		{0, 3, 0, 0, 0, 100}, // SETTINGS_MAX_CONCURRENT_STREAMS 100
		{0, 2, 0, 0, 0, 2},   // SETTINGS_ENABLE_PUSH 2
	} {
		fmt.Println(srv.CheckUpgradeSettings(p) == nil)
	}
	// Output:
	// true
	// false
}
