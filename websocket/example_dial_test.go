package websocket_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/molt-http/molt/server"
	"github.com/molt-http/molt/websocket"
)

// Dial opens the client side of a WebSocket: here to an echo endpoint,
// with permessage-deflate offered and a subprotocol asked for.
func ExampleDial() {
	echo := websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	}, websocket.Options{Subprotocols: []string{"echo.v1"}, Compression: websocket.CompressionContextTakeover})
	srv := httptest.NewServer(echo)
	defer srv.Close()

	ctx := context.Background()
	c, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{
		Subprotocols: []string{"echo.v1"},
		Compression:  websocket.CompressionContextTakeover,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	fmt.Println(c.Response().Status, c.Subprotocol(), c.Response().Header.Get("Sec-WebSocket-Extensions"))

	if err := c.Write(ctx, websocket.Text, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	typ, msg, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(typ, string(msg))
	fmt.Println(c.Close(websocket.StatusNormalClosure, "bye"))
	// Output:
	// 101 Switching Protocols echo.v1 permessage-deflate
	// text hello
	// <nil>
}

// Over HTTP/2, Dial opens the WebSocket as an extended CONNECT stream
// (RFC 8441) on an h2c connection: here by prior knowledge, to a molt
// server. JSON helpers read and write one value per text message.
func ExampleDial_http2() {
	ts := newExampleServer(websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		var v map[string]int
		for websocket.ReadJSON(ctx, c, &v) == nil {
			v["n"]++
			websocket.WriteJSON(ctx, c, v)
		}
	}, websocket.Options{}))
	defer ts.Close()

	ctx := context.Background()
	c, err := websocket.Dial(ctx, "ws://"+ts.Addr()+"/count", &websocket.DialOptions{Protocol: websocket.DialH2CPrior})
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	fmt.Println(c.HTTP2(), c.Response().StatusCode)
	websocket.WriteJSON(ctx, c, map[string]int{"n": 41})
	var got map[string]int
	if err := websocket.ReadJSON(ctx, c, &got); err != nil {
		log.Fatal(err)
	}
	fmt.Println(got["n"])
	fmt.Println(c.Close(websocket.StatusNormalClosure, ""))
	// Output:
	// true 200
	// 42
	// <nil>
}

// exampleServer is a molt server on a loopback port, for the examples.
type exampleServer struct {
	srv *server.Server
	ln  net.Listener
}

func newExampleServer(h http.Handler) *exampleServer {
	srv, err := server.New(server.Config{Handler: h, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	return &exampleServer{srv, ln}
}

func (s *exampleServer) Addr() string { return s.ln.Addr().String() }

func (s *exampleServer) Close() { s.srv.Close() }

// NetConn turns a Conn into a byte stream, for code that wants a
// net.Conn: each Write is one message, and Read runs the messages'
// payloads together until the peer's close 1000, which reads as io.EOF.
func ExampleNetConn() {
	greeter := websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		for _, s := range []string{"hel", "lo, ", "world"} {
			c.Write(ctx, websocket.Binary, []byte(s))
		}
		c.Close(websocket.StatusNormalClosure, "")
	}, websocket.Options{})
	srv := httptest.NewServer(greeter)
	defer srv.Close()

	ctx := context.Background()
	c, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	nc := websocket.NetConn(ctx, c, websocket.Binary)
	defer nc.Close()
	b, err := io.ReadAll(nc)
	fmt.Printf("%q %v\n", b, err)
	// Output:
	// "hello, world" <nil>
}
