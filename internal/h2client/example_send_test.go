package h2client_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/molt-http/molt/internal/h2client"
)

// ExampleClientConn_Send sends a prepared request three times on one
// connection, each from the previous one's done callback, as a load
// generator keeps a stream busy.
func ExampleClientConn_Send() {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()

	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	cc, err := h2client.NewClientConn(c, h2client.ClientOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cc.Close()
	if err := cc.Ping(context.Background()); err != nil { // the server's SETTINGS have arrived
		fmt.Println(err)
		return
	}
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	p, err := h2client.Prepare(req)
	if err != nil {
		fmt.Println(err)
		return
	}

	results := make(chan h2client.Result, 3)
	var done func(h2client.Result)
	sent := 1
	done = func(r h2client.Result) {
		results <- r
		if sent < 3 {
			sent++
			cc.Send(p, done)
		}
	}
	if _, err := cc.Send(p, done); err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		r := <-results
		fmt.Println(r.Status, r.BodyBytes, r.Err)
	}
	// Output:
	// 200 5 <nil>
	// 200 5 <nil>
	// 200 5 <nil>
}
