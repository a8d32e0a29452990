package router_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/molt-http/molt/internal/h2ctest"
	"github.com/molt-http/molt/router"
	"github.com/molt-http/molt/server"
)

// headerCalls records the WriteHeader calls that reach the writer.
type headerCalls struct {
	http.ResponseWriter
	calls []int
}

func (c *headerCalls) WriteHeader(code int) {
	c.calls = append(c.calls, code)
	c.ResponseWriter.WriteHeader(code)
}

// The guard's edges: a router mounted on another's GET route keeps one
// guard, so a tunnel its handler accepts is open, and guards again with
// the same claim when a middleware between them unwrapped the writer; a
// 101 (an HTTP/1.1 upgrade's answer) is refused like a 2xx, with one
// final status; a trailer declared after the refusal goes nowhere, even
// through a header map taken before it; a NotFound that answers 200 is
// refused; the writer keeps the optional methods of the engines' writers.
func TestTunnelGuardEdges(t *testing.T) {
	inner := router.New()
	inner.Get("/app/ws", func(w http.ResponseWriter, req *http.Request) {
		router.AcceptExtendedConnect(req)
		io.WriteString(w, "tunnel")
	})
	inner.Get("/app/page", func(w http.ResponseWriter, req *http.Request) { io.WriteString(w, "page") })
	outer := router.New()
	outer.Handle("GET /app/", inner)
	w := httptest.NewRecorder()
	outer.ServeHTTP(w, extendedConnect("/app/ws"))
	if w.Code != 200 || w.Body.String() != "tunnel" {
		t.Errorf("an accepted tunnel through a router on a GET route: %d %q, want 200", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	outer.ServeHTTP(w, extendedConnect("/app/page"))
	if w.Code != http.StatusNotImplemented {
		t.Errorf("a plain page through a router on a GET route: %d, want 501", w.Code)
	}

	// A middleware between the routers that unwraps the writer drops the
	// outer guard: the inner router guards again, with the same claim.
	peel := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for u, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok; u, ok = w.(interface{ Unwrap() http.ResponseWriter }) {
				w = u.Unwrap()
			}
			next.ServeHTTP(w, r)
		})
	}
	peeled := router.New()
	peeled.With(peel).Handle("GET /app/", inner)
	for path, want := range map[string]int{"/app/page": http.StatusNotImplemented, "/app/ws": http.StatusOK} {
		w = httptest.NewRecorder()
		peeled.ServeHTTP(w, extendedConnect(path))
		if w.Code != want {
			t.Errorf("%s through a router behind an unwrapping middleware: %d %q, want %d", path, w.Code, w.Body.String(), want)
		}
	}

	r := router.New()
	r.NotFound(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { io.WriteString(w, "<html>index") }))
	r.Get("/held", func(w http.ResponseWriter, req *http.Request) {
		h := w.Header()
		io.WriteString(w, "body")
		h.Set(http.TrailerPrefix+"X-Sum", "1")
	})
	r.Get("/up", func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(http.StatusSwitchingProtocols)
		io.WriteString(w, "x")
	})
	r.Get("/trailer", func(w http.ResponseWriter, req *http.Request) {
		io.WriteString(w, "body")
		w.Header().Set(http.TrailerPrefix+"X-Sum", "1")
	})
	var optional []string
	r.Get("/optional", func(w http.ResponseWriter, req *http.Request) {
		router.AcceptExtendedConnect(req)
		if _, ok := w.(http.CloseNotifier); !ok {
			optional = append(optional, "http.CloseNotifier")
		}
		if _, ok := w.(io.StringWriter); !ok {
			optional = append(optional, "io.StringWriter")
		}
		if _, ok := w.(interface{ FlushError() error }); !ok {
			optional = append(optional, "FlushError")
		}
	})
	calls := &headerCalls{ResponseWriter: httptest.NewRecorder()}
	r.ServeHTTP(calls, extendedConnect("/up"))
	if len(calls.calls) != 1 || calls.calls[0] != http.StatusNotImplemented {
		t.Errorf("a 101 to an extended CONNECT: WriteHeader calls %v, want one 501", calls.calls)
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, extendedConnect("/trailer"))
	if res := rec.Result(); res.StatusCode != 501 || len(res.Trailer) != 0 {
		t.Errorf("a trailer after the refusal: %d, trailers %v, want 501 and none", res.StatusCode, res.Trailer)
	}
	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, extendedConnect("/held"))
	if res := rec.Result(); res.StatusCode != 501 || len(res.Trailer) != 0 {
		t.Errorf("a trailer through a header map taken before the refusal: %d, trailers %v, want 501 and none", res.StatusCode, res.Trailer)
	}
	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, extendedConnect("/nowhere"))
	if rec.Code != http.StatusNotImplemented {
		t.Errorf("a NotFound that answers 200 (an SPA's index): %d %q, want 501", rec.Code, rec.Body.String())
	}
	r.ServeHTTP(httptest.NewRecorder(), extendedConnect("/optional"))
	if optional != nil {
		t.Errorf("the guarded writer lacks %v", optional)
	}
}

// TestTunnelGuardLive opens extended CONNECT streams on a live server
// (the engine h2ctest chooses): a plain GET route answers 501 with its
// explanation, and server.EarlyHints after it reports the final header
// written; a 101 is refused too; a route that accepts the tunnel echoes.
func TestTunnelGuardLive(t *testing.T) {
	hints := make(chan error, 1)
	r := router.New()
	r.Get("/page", func(w http.ResponseWriter, req *http.Request) {
		io.WriteString(w, "hello")
		hints <- server.EarlyHints(w, req, "</a.css>; rel=preload")
	})
	r.Get("/up", func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(http.StatusSwitchingProtocols)
		io.WriteString(w, "tunnel bytes")
	})
	r.Get("/echo", func(w http.ResponseWriter, req *http.Request) {
		router.AcceptExtendedConnect(req)
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		io.Copy(w, req.Body)
	})
	ts := h2ctest.NewServer(t, r)
	cc := ts.ClientConn(t, h2ctest.H2CPrior, h2ctest.ClientOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, path := range []string{"/page", "/up"} {
		s, err := cc.ExtendedConnect(ctx, path, "websocket", nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, _ := io.ReadAll(s)
		s.Close()
		if s.Response().StatusCode != http.StatusNotImplemented || string(body) != "501 not implemented: "+path+" does not accept an extended CONNECT\n" {
			t.Errorf("%s: %d %q, want 501 and the explanation", path, s.Response().StatusCode, body)
		}
	}
	if err := <-hints; !errors.Is(err, server.ErrFinalHeaderWritten) {
		t.Errorf("EarlyHints after the 501: %v, want ErrFinalHeaderWritten", err)
	}
	s, err := cc.ExtendedConnect(ctx, "/echo", "websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Response().StatusCode != 200 {
		t.Fatalf("/echo: %d, want 200", s.Response().StatusCode)
	}
	s.Write([]byte("ping"))
	s.CloseWrite()
	if body, _ := io.ReadAll(s); string(body) != "ping" {
		t.Errorf("/echo echoed %q, want \"ping\"", body)
	}
}
