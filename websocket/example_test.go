package websocket_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/molt-http/molt/router"
	"github.com/molt-http/molt/websocket"
)

// An echo endpoint: every message goes back with its type. The client
// here speaks the protocol by hand, as a browser would.
func ExampleHandler() {
	echo := websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		var buf []byte
		for {
			typ, msg, err := c.AppendMessage(ctx, buf[:0])
			if err != nil {
				return
			}
			buf = msg
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	}, websocket.Options{})
	srv := httptest.NewServer(echo)
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))

	// A masked text frame "hello" (key 0 0 0 0), then the echo.
	conn.Write([]byte{0x81, 0x85, 0, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'})
	frame := make([]byte, 7)
	io.ReadFull(br, frame)
	fmt.Printf("opcode %d: %s\n", frame[0]&0x0F, frame[2:])

	// Close with 1000; the server answers with its own close frame.
	conn.Write([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8})
	io.ReadFull(br, frame[:4])
	fmt.Printf("close %d\n", int(frame[2])<<8|int(frame[3]))
	// Output:
	// 101 Switching Protocols s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
	// opcode 1: hello
	// close 1000
}

// Accept inside a handler lets it check the request first, here a token,
// and answer with an ordinary status if it does not like it.
func ExampleAccept() {
	http.HandleFunc("/live", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("token") != "secret" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		c, err := websocket.Accept(w, r, &websocket.Options{Subprotocols: []string{"v2.live"}})
		if err != nil {
			return // Accept has answered
		}
		defer c.CloseNow()
		ctx := r.Context()
		for i := range 3 {
			if err := c.Write(ctx, websocket.Text, fmt.Appendf(nil, "tick %d", i)); err != nil {
				return
			}
		}
		c.Close(websocket.StatusNormalClosure, "done")
	})
}

// Upgrade as route middleware: the handler after it takes the connection
// with ConnFrom, and closes it when done (it may also hand it to a
// goroutine and return; Upgrade keeps the connection until it is closed).
func ExampleUpgrade() {
	chat := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := websocket.ConnFrom(r)
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		c.Write(r.Context(), typ, []byte(strings.ToUpper(string(msg))))
		c.Close(websocket.StatusNormalClosure, "")
	})
	http.Handle("/chat", websocket.Upgrade(websocket.Options{
		OriginPatterns: []string{"*.example.com"},
		Compression:    websocket.CompressionNoContextTakeover,
	})(chat))
}

// Reader and Writer stream a message instead of holding it whole.
func ExampleConn_Writer() {
	_ = websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		typ, r, err := c.Reader(ctx)
		if err != nil {
			return
		}
		w, err := c.Writer(ctx, typ)
		if err != nil {
			return
		}
		io.Copy(w, r) // coalesced into frames of at least WriterFrameSize
		w.Close()
	}, websocket.Options{ReadLimit: 1 << 30})
}

// CloseStatus tells a clean close from a failure.
func ExampleCloseStatus() {
	err := fmt.Errorf("read: %w", &websocket.CloseError{Code: websocket.StatusGoingAway, Reason: "bye"})
	fmt.Println(int(websocket.CloseStatus(err)), int(websocket.CloseStatus(io.EOF)), websocket.CloseStatus(err))
	// Output: 1001 -1 going away
}

// A WebSocket route on molt's router: r.Get serves it over HTTP/1.1 (GET
// with Upgrade) and over HTTP/2 (extended CONNECT, which the router routes
// like GET).
func ExampleHandler_router() {
	r := router.New()
	r.Get("/ws", websocket.Handler(func(ctx context.Context, c *websocket.Conn) {
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil || c.Write(ctx, typ, msg) != nil {
				return
			}
		}
	}, websocket.Options{Subprotocols: []string{"chat.v1"}}))
	_ = r // serve it with molt.New, server.New or http.ListenAndServe
}
