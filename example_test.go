package molt_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/molt-http/molt"
	"github.com/molt-http/molt/server"
)

// The five-line app. app.Run(":8080") would serve it on every protocol
// until SIGINT or SIGTERM; here a test server serves app.Handler().
func Example() {
	app := molt.New()
	app.Get("/hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello, %s\n", r.PathValue("name"))
	})
	// if err := app.Run(":8080"); err != nil { log.Fatal(err) }

	ts := httptest.NewServer(app.Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/hello/gopher")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.Status, ": ", string(body))
	// Output: 200 OK: hello, gopher
}

// An App serves HTTP/1.1, h2c upgrade and h2c prior knowledge on one
// listener (Go's client cannot ask for the upgrade, so this shows the other
// two). When its context ends, Serve shuts down gracefully and returns nil.
func ExampleApp_Serve() {
	app := molt.New(molt.WithLogger(slog.New(slog.DiscardHandler)))
	app.Get("/hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello, %s over %s", r.PathValue("name"), server.ProtocolOf(r))
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, ln) }()

	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetHTTP1(!h2)
		tr.Protocols.SetUnencryptedHTTP2(h2)
		resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/hello/gopher")
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		fmt.Printf("%s: %s\n", resp.Proto, body)
	}

	stop()
	fmt.Println("Serve returned", <-done)
	// Output:
	// HTTP/1.1: hello, gopher over h1
	// HTTP/2.0: hello, gopher over h2c-prior
	// Serve returned <nil>
}

// Middleware added with Use wraps every request the App answers, those
// that match no route included, whichever protocol they came by.
func ExampleApp_Use() {
	app := molt.New()
	app.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Server", "molt")
			next.ServeHTTP(w, r)
		})
	})
	app.Get("/{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "home")
	})

	for _, path := range []string{"/", "/missing"} {
		w := httptest.NewRecorder()
		app.Handler().ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, w.Code, w.Header().Get("Server"))
	}
	// Output:
	// / 200 molt
	// /missing 404 molt
}
